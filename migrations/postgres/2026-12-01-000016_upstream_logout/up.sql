-- [UL-4] Which upstream session (OIDC `sid`) and subject each broker session came from, so that an upstream's
-- back-channel logout ends exactly those sessions.
ALTER TABLE sessions ADD COLUMN upstream_sid TEXT;
ALTER TABLE sessions ADD COLUMN upstream_sub TEXT;
CREATE INDEX sessions_upstream_sid ON sessions (provider, upstream_sid);
CREATE INDEX sessions_upstream_sub ON sessions (provider, upstream_sub);
-- [UL-3] Logout tokens already believed (SHA-256 of provider and jti), kept until the token could no longer be
-- accepted anyway; the sweeper removes them after that.
CREATE TABLE upstream_logout_jtis (
    jti_hash TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upstream_logout_jtis_expires ON upstream_logout_jtis (expires_at);
