-- [RL-6] Failure budgets counted by every instance together (`rate_limits.shared`, PostgreSQL). One row per key and
-- fixed window of the per-minute budgets (`id` = key ':' window start), or per account of the password sign-ins'
-- budgets (`id` = key ':account'). Keys are HMACs under the instances' shared server key: no address or name is
-- stored. Swept once `expires_at` passed (the next window has read it as its previous one, or the account's
-- window of quiet passed).
CREATE TABLE failure_counts (
    id TEXT PRIMARY KEY NOT NULL,
    count BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX failure_counts_expires ON failure_counts (expires_at);
