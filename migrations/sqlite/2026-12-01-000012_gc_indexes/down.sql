DROP INDEX grants_revoked;
DROP INDEX revoked_jtis_expires;
DROP INDEX grants_expires;
DROP INDEX sessions_expires;
DROP INDEX upstream_logins_expires;
DROP INDEX auth_requests_expires;
DROP INDEX auth_codes_expires;
