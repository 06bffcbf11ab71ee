ALTER TABLE upstream_logouts DROP COLUMN frames_json;
ALTER TABLE clients DROP COLUMN frontchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;
