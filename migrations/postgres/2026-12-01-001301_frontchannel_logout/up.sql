-- [FL-1] OpenID Connect Front-Channel Logout 1.0: the address the signed-out page loads in an iframe for this
-- client, and whether that address gets `iss` and `sid`.
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
-- [FL-5] A sign-out sent on to the upstream first: the front-channel frames (JSON array of addresses) the
-- return page shows once the upstream sends the browser back.
ALTER TABLE upstream_logouts ADD COLUMN frames_json TEXT NOT NULL DEFAULT '[]';
