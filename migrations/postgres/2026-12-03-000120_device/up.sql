-- [DV-1] Device authorization requests (RFC 8628): the device code and the user code stored as SHA-256 only
-- (the user code normalised: upper case, no dash), bound to the client that asked, swept after expires_at.
-- status: pending | approved | denied | redeemed. The grant is made when the person approves.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    requester_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_poll_at BIGINT,
    user_id TEXT,
    grant_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX device_codes_user_code ON device_codes (user_code_hash, expires_at);
CREATE INDEX device_codes_client ON device_codes (client_id, expires_at);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
-- [DV-4] Wrong user codes entered at /device, one row each, keyed by the hash of the session or the address,
-- counted while expires_at is ahead and swept after it.
CREATE TABLE device_guesses (
    id TEXT PRIMARY KEY NOT NULL,
    key_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX device_guesses_key ON device_guesses (key_hash, expires_at);
CREATE INDEX device_guesses_expires ON device_guesses (expires_at);
