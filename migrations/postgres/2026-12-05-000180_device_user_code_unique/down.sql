DROP INDEX device_codes_user_code;
CREATE INDEX device_codes_user_code ON device_codes (user_code_hash, expires_at);
