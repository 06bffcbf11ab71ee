-- Secrets the broker generates for itself and every instance shares (the CSRF token key), sealed like signing
-- keys when encryption_keys is set.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
