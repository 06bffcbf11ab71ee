ALTER TABLE upstream_logins DROP COLUMN provider_generation;
