-- [TB-4b] The browser that started a pending authorization request (hash of its bk_flow cookie).
ALTER TABLE auth_requests ADD COLUMN browser_hash TEXT;
