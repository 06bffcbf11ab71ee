-- [DV-8] A user code names one device code: the database refuses a second row under a stored user-code hash (a
-- new code retries with another user code), so two instances racing can never hand out one code twice. Rows kept
-- after expiry (for `expired_token`) hold their user code until they are swept, so uniqueness covers every stored
-- row, not only live ones. Earlier rows that share a user code keep theirs only on the newest (the live one, if
-- any); the others get a value no typed code hashes to, and still answer their device's polls.
UPDATE device_codes SET user_code_hash = 'retired:' || device_code_hash
WHERE EXISTS (
    SELECT 1 FROM device_codes newer
    WHERE newer.user_code_hash = device_codes.user_code_hash
      AND (newer.expires_at > device_codes.expires_at
           OR (newer.expires_at = device_codes.expires_at AND newer.device_code_hash > device_codes.device_code_hash))
);
DROP INDEX device_codes_user_code;
CREATE UNIQUE INDEX device_codes_user_code ON device_codes (user_code_hash);
