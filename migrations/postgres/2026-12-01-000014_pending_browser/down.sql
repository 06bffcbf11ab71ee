ALTER TABLE auth_requests DROP COLUMN browser_hash;
