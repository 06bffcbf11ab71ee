ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE auth_codes DROP COLUMN dpop_jkt;
DROP TABLE dpop_proof_jtis;
