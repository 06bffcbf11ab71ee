-- [PAR-2] A pushed request is bound, at its first use at /authorize, to the browser that brought it (SHA-256 of
-- its bk_flow cookie): that browser may reload /authorize with it until the authorization completes (shared
-- security.md [PA-5]); it is deleted when the code (or the error) is sent.
ALTER TABLE pushed_requests ADD COLUMN browser_hash TEXT;
