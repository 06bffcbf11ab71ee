DROP INDEX grants_client_created;
DROP INDEX clients_owner;
ALTER TABLE clients DROP COLUMN metadata_json;
ALTER TABLE clients DROP COLUMN registration_token_hash;
ALTER TABLE clients DROP COLUMN pending_scopes_json;
ALTER TABLE clients DROP COLUMN previous_secret_expires_at;
ALTER TABLE clients DROP COLUMN previous_secret_hash;
ALTER TABLE clients DROP COLUMN logo_uri;
ALTER TABLE clients DROP COLUMN owner_id;
