DROP INDEX identities_email;
DROP INDEX identities_issuer_subject;
ALTER TABLE identities DROP CONSTRAINT identities_provider_issuer_subject_key;
ALTER TABLE identities ADD CONSTRAINT identities_provider_subject_key UNIQUE (provider, subject);
ALTER TABLE identities DROP COLUMN email_trusted;
