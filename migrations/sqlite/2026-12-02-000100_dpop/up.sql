-- [DP-2] DPoP proofs already accepted (RFC 9449 §11.1): SHA-256 of (key thumbprint, jti), kept until the proof's
-- iat window has passed on every instance, then swept. The primary key refuses a replay on any instance.
CREATE TABLE dpop_proof_jtis (
    jti_hash TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proof_jtis_expires ON dpop_proof_jtis (expires_at);
-- [DP-4] The key a code was bound to at /authorize or /par (`dpop_jkt`), and the key a public client's refresh
-- token is bound to (RFC 9449 §5, §10).
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
