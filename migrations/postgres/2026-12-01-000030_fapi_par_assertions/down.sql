DROP TABLE client_assertion_jtis;
DROP TABLE pushed_requests;
