-- EXPLAIN (ANALYZE, BUFFERS) of the hot statements, with the broker's joins and filters (docs/performance.md, "Plans at
-- 1M rows"). On a database seeded by bench/seed.sh and then bench/explain-seed.sql:
--   psql -X -v ON_ERROR_STOP=1 -f bench/explain.sql postgres://…/bk_explain
-- Writes run inside BEGIN … ROLLBACK: the database is left as it was.
\set QUIET on
\pset pager off
-- sample rows (one grant with a session, consent and a code; one refresh token)
SELECT t.token_hash AS rt, t.grant_id AS gid, t.user_id AS uid FROM refresh_tokens t
  JOIN grants g ON g.id = t.grant_id WHERE g.session_hash IS NOT NULL AND t.used_at IS NULL
  OFFSET 500000 LIMIT 1 \gset
SELECT g.session_hash AS sh FROM grants g WHERE g.id = :'gid' \gset
SELECT code_hash AS ch FROM auth_codes WHERE grant_id = :'gid' LIMIT 1 \gset
\echo
\echo '### refresh: the joined read (prepared)'
PREPARE rt_read(text) AS
SELECT t.token_hash, t.grant_id, t.client_id, t.user_id, t.scope, t.created_at, t.expires_at, t.used_at, t.revoked_at,
       t.dpop_jkt, g.id, g.client_id, g.user_id, g.session_hash, g.scope, g.auth_time, g.created_at, g.expires_at,
       g.revoked_at, g.resources, u.id, u.email, u.email_verified, u.name, u.preferred_username, u.picture,
       u.groups_json, u.disabled, u.created_at, u.updated_at, s.provider
FROM refresh_tokens t
  LEFT OUTER JOIN grants g ON g.id = t.grant_id
  LEFT OUTER JOIN users u ON u.id = t.user_id
  LEFT OUTER JOIN sessions s ON g.session_hash = s.id_hash
WHERE t.token_hash = $1 LIMIT 1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE rt_read(:'rt');
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE rt_read(:'rt');
\echo '### refresh: the rotation (one statement; first call plans it, second uses the prepared plan)'
PREPARE rotate(bigint, text, text, text, text, text, text, bigint, bigint, bigint, bigint, text) AS
WITH spent AS (
    UPDATE refresh_tokens SET used_at = $1
    WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL
    RETURNING token_hash)
  INSERT INTO refresh_tokens
    (token_hash, grant_id, client_id, user_id, scope, created_at, expires_at, used_at, revoked_at, dpop_jkt)
  SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM spent;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE rotate(1, :'rt', 'explain-next-1', :'gid', 'seed-app', :'uid', 'openid', 1, 2, NULL, NULL, NULL);
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE rotate(1, :'rt', 'explain-next-1', :'gid', 'seed-app', :'uid', 'openid', 1, 2, NULL, NULL, NULL);
ROLLBACK;
\echo '### reuse: revoke the family'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) UPDATE refresh_tokens SET revoked_at = 1 WHERE grant_id = :'gid' AND revoked_at IS NULL;
ROLLBACK;
\echo '### authorize: the session with its user and consent'
PREPARE sess(text, text, bigint) AS
SELECT s.id_hash, s.user_id, s.provider, s.auth_time, s.created_at, s.expires_at, s.revoked_at, u.disabled, c.scope
FROM sessions s
  INNER JOIN users u ON u.id = s.user_id
  LEFT OUTER JOIN consents c ON c.user_id = s.user_id AND c.client_id = $2
WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $3 LIMIT 1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE sess(:'sh', 'seed-app', 0);
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE sess(:'sh', 'seed-app', 0);
\echo '### authorize: the client row'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM clients WHERE client_id = 'seed-app' LIMIT 1;
\echo '### authorize: the grant and its code (one statement)'
PREPARE grant_code(text, text, text, text, text, bigint, bigint, bigint, bigint, text,
                   text, text, text, text, text, text, text, text, bigint, bigint, bigint, bigint, text) AS
WITH g AS (
    INSERT INTO grants
      (id, client_id, user_id, session_hash, scope, auth_time, created_at, expires_at, revoked_at, resources)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    RETURNING id)
  INSERT INTO auth_codes
    (code_hash, grant_id, client_id, user_id, session_hash, redirect_uri, scope, nonce, code_challenge, auth_time,
     created_at, expires_at, used_at, dpop_jkt)
  SELECT $11, g.id, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23 FROM g;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE grant_code('explain-g', 'seed-app', :'uid', :'sh', 'openid', 1, 1, 9, NULL, NULL,
  'explain-c', 'seed-app', :'uid', :'sh', 'http://127.0.0.1:9/seed', 'openid', NULL, NULL, 1, 1, 9, NULL, NULL);
ROLLBACK;
\echo '### token: the code with its grant and user'
PREPARE code_read(text) AS
SELECT a.*, g.*, u.* FROM auth_codes a
  LEFT OUTER JOIN grants g ON g.id = a.grant_id
  LEFT OUTER JOIN users u ON u.id = a.user_id
WHERE a.code_hash = $1 LIMIT 1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE code_read(:'ch');
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE code_read(:'ch');
\echo '### token: the code spend and its refresh token (one statement)'
PREPARE spend_store(bigint, text, text, text, text, text, text, bigint, bigint, bigint, bigint, text) AS
WITH spent AS (
    UPDATE auth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL RETURNING code_hash)
  INSERT INTO refresh_tokens
    (token_hash, grant_id, client_id, user_id, scope, created_at, expires_at, used_at, revoked_at, dpop_jkt)
  SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM spent;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE spend_store(1, :'ch', 'explain-rt', :'gid', 'seed-app', :'uid', 'openid', 1, 2, NULL, NULL, NULL);
ROLLBACK;
\echo '### introspection: the grant is live'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT COUNT(*) FROM grants WHERE id = :'gid' AND revoked_at IS NULL AND expires_at > 0;
\echo '### introspection: the jti is not revoked'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT COUNT(*) FROM revoked_jtis WHERE jti = 'explain-jti';
\echo '### userinfo: the user'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM users WHERE id = :'uid' LIMIT 1;
