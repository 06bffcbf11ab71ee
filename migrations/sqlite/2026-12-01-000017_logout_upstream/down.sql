DROP TABLE upstream_logouts;
ALTER TABLE sessions DROP COLUMN upstream_id_token;
