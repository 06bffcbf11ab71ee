-- [TB-1g] An identity waiting to be linked once the person proves they own the user holding its email.
CREATE TABLE pending_links (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    identity_json TEXT NOT NULL,
    auth_request_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_links_expires ON pending_links (expires_at);
