ALTER TABLE auth_requests DROP COLUMN login_session_hash;
