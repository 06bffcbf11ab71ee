-- [RI-2] The resources (RFC 8707 resource indicators, APIs of [[apis]]) a grant was made for, space-separated
-- and sorted; NULL: none (its access tokens are for the issuer, as before). Every code and refresh token of the
-- grant's family may be redeemed for one of them.
ALTER TABLE grants ADD COLUMN resources TEXT;
