DROP TABLE upstream_logins;
