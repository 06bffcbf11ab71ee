-- [PAR-2] Pushed authorization requests (RFC 9126): the validated request, keyed by the SHA-256 of the random
-- part of its request_uri, bound to the client that pushed it, single use, swept after expires_at.
CREATE TABLE pushed_requests (
    uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    params_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);
-- [PJ-4] private_key_jwt client assertions already used: SHA-256 of (client id, jti), kept until the assertion
-- expires (it cannot pass the exp check after that), then swept.
CREATE TABLE client_assertion_jtis (
    jti_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX client_assertion_jtis_expires ON client_assertion_jtis (expires_at);
