-- Email trust per identity ([TB-1a]) and identities keyed by issuer as well as provider ([TB-1c]).
ALTER TABLE identities ADD COLUMN email_trusted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE identities DROP CONSTRAINT identities_provider_subject_key;
ALTER TABLE identities ADD CONSTRAINT identities_provider_issuer_subject_key UNIQUE (provider, issuer, subject);
CREATE INDEX identities_issuer_subject ON identities (issuer, subject);
CREATE INDEX identities_email ON identities (email);
