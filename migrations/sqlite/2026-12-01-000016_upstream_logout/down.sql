DROP TABLE upstream_logout_jtis;
DROP INDEX sessions_upstream_sub;
DROP INDEX sessions_upstream_sid;
ALTER TABLE sessions DROP COLUMN upstream_sub;
ALTER TABLE sessions DROP COLUMN upstream_sid;
