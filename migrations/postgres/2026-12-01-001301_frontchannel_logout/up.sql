-- [FL-1] OpenID Connect Front-Channel Logout 1.0: the address the signed-out page loads in an iframe for this
-- client, and whether that address gets `iss` and `sid`.
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
