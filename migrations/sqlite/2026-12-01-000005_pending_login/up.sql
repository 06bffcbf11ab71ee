-- [TB-5b] The session that signed in for a pending request (only it counts as the fresh login asked for).
ALTER TABLE auth_requests ADD COLUMN login_session_hash TEXT;
