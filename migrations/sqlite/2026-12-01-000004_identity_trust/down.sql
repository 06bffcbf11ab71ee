CREATE TABLE identities_old (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    claims_json TEXT NOT NULL DEFAULT '{}',
    upstream_refresh_token TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    UNIQUE (provider, subject)
);
INSERT INTO identities_old (id, user_id, provider, issuer, subject, email, email_verified, claims_json, upstream_refresh_token, created_at, last_used_at) SELECT id, user_id, provider, issuer, subject, email, email_verified, claims_json, upstream_refresh_token, created_at, last_used_at FROM identities;
DROP TABLE identities;
ALTER TABLE identities_old RENAME TO identities;
CREATE INDEX identities_user ON identities (user_id);
