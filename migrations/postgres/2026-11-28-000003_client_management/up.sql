-- Self-service and dynamic client registration: owner, logo, secret rotation grace, scopes awaiting approval,
-- the RFC 7592 registration access token (SHA-256), and the registered metadata to echo (RFC 7591).
ALTER TABLE clients ADD COLUMN owner_id TEXT;
ALTER TABLE clients ADD COLUMN logo_uri TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE clients ADD COLUMN pending_scopes_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
ALTER TABLE clients ADD COLUMN metadata_json TEXT NOT NULL DEFAULT '{}';
CREATE INDEX clients_owner ON clients (owner_id);
CREATE INDEX grants_client_created ON grants (client_id, created_at);
