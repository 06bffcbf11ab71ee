-- The sweeper (bridgekeeper gc) finds expired rows by these columns without scanning whole tables.
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);
CREATE INDEX upstream_logins_expires ON upstream_logins (expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX grants_expires ON grants (expires_at);
CREATE INDEX revoked_jtis_expires ON revoked_jtis (expires_at);
CREATE INDEX grants_revoked ON grants (revoked_at);
