-- [SA-7] SAML assertions already believed: SHA-256 of (provider id, assertion ID), kept until the assertion
-- expires (NotOnOrAfter plus the skew: it cannot pass the time checks after that), then swept. The primary key
-- refuses a replay on every instance that shares the database.
CREATE TABLE saml_assertions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX saml_assertions_expires ON saml_assertions (expires_at);
