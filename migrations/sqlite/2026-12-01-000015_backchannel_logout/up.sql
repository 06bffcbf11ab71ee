-- [BL-1] OpenID Connect Back-Channel Logout 1.0: where a client wants its logout tokens, and whether it needs `sid`.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
-- [BL-5] The outbox: one row per logout token to deliver, written in the transaction that ends the session.
-- A worker claims rows (claimed_until), delivers, and deletes them; failures wait until next_attempt_at; a row
-- older than the give-up window is dropped with an audit event.
CREATE TABLE logout_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    sub TEXT NOT NULL,
    sid TEXT,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at);
