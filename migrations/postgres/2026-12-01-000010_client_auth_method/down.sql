ALTER TABLE clients DROP COLUMN client_credentials_allowed;
ALTER TABLE clients DROP COLUMN token_endpoint_auth_method;
