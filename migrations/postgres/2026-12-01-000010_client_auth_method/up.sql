-- What a client registered is what it must use (OIDC Dynamic Registration §2; security.md [CA-4]).
-- token_endpoint_auth_method: client_secret_basic | client_secret_post | none, or client_secret_basic_or_post
-- for clients registered before the method was recorded (they could use either, and keep that until an admin
-- narrows it). Dynamically registered clients get what they registered; public clients get none.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
UPDATE clients SET token_endpoint_auth_method = CASE
    WHEN secret_hash IS NULL THEN 'none'
    WHEN source = 'dynamic' AND (metadata_json::json ->> 'token_endpoint_auth_method') IN ('client_secret_basic', 'client_secret_post')
        THEN (metadata_json::json ->> 'token_endpoint_auth_method')
    WHEN source = 'dynamic' THEN 'client_secret_basic'
    ELSE 'client_secret_basic_or_post'
END;
-- client_credentials for portal and dynamically registered clients only when an admin allowed it.
ALTER TABLE clients ADD COLUMN client_credentials_allowed BOOLEAN NOT NULL DEFAULT FALSE;
