-- [HR-5] The generation of the provider's settings a pending upstream login began with (NULL: recorded before
-- generations existed; the one in force is used).
ALTER TABLE upstream_logins ADD COLUMN provider_generation TEXT;
