-- [UL-5] The upstream ID token of a sign-in (sealed, bound to its session row), kept only for providers with
-- logout_upstream = "always", to send as id_token_hint when the person signs out at the upstream too.
ALTER TABLE sessions ADD COLUMN upstream_id_token TEXT;
-- [UL-5] A sign-out sent on to an upstream: single-use state (hashed) and where to continue afterwards.
CREATE TABLE upstream_logouts (
    state_hash TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    continue_to TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upstream_logouts_expires ON upstream_logouts (expires_at);
