-- [TX-1] The upstream token vault (`store_tokens = true` providers): one row per identity, the access and refresh
-- tokens sealed (AES-256-GCM, bound to the row and the field). `lease_until` / `lease_id` make the upstream refresh
-- single-flight across instances: only the holder of an unexpired lease refreshes, and its commit is conditional on
-- still holding it. `generation` moves with every stored token set; `expires_at` is the last use plus the
-- provider's `token_retention_secs` (then swept).
CREATE TABLE upstream_tokens (
    identity_id TEXT PRIMARY KEY NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    access_token TEXT,
    token_type TEXT NOT NULL,
    access_expires_at BIGINT,
    scope TEXT NOT NULL,
    refresh_token TEXT,
    generation BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT NOT NULL DEFAULT 0,
    lease_id TEXT,
    needs_sign_in BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upstream_tokens_user ON upstream_tokens (user_id);
CREATE INDEX upstream_tokens_expires ON upstream_tokens (expires_at);
-- [TX-3] "App X may act for you at <provider>": the person's consent to token exchange for upstream tokens.
CREATE TABLE exchange_consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, provider)
);
