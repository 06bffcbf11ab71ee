-- After bench/seed.sh (PostgreSQL): every seeded grant gets a sign-in session, a consent and an unused authorization
-- code, so that bench/explain.sql finds the authorize and code paths' rows at the same scale.
-- Like bench/seed.sh, for a throwaway benchmark database only (it writes 3N rows outside any transaction).
INSERT INTO sessions (id_hash, user_id, provider, auth_time, created_at, expires_at, revoked_at)
  SELECT 'sess-' || id, user_id, 'seed', created_at, created_at, expires_at, NULL FROM grants WHERE client_id = 'seed-app';
UPDATE grants SET session_hash = 'sess-' || id WHERE client_id = 'seed-app';
INSERT INTO consents (user_id, client_id, scope, granted_at)
  SELECT user_id, client_id, scope, created_at FROM grants WHERE client_id = 'seed-app' ON CONFLICT DO NOTHING;
INSERT INTO auth_codes (code_hash, grant_id, client_id, user_id, session_hash, redirect_uri, scope, auth_time, created_at, expires_at)
  SELECT md5('code-' || id) || md5(id), id, client_id, user_id, session_hash, 'http://127.0.0.1:9/seed', scope, created_at, created_at, expires_at FROM grants WHERE client_id = 'seed-app';
VACUUM (ANALYZE);
CHECKPOINT;
