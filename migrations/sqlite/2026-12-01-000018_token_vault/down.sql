DROP TABLE exchange_consents;
DROP TABLE upstream_tokens;
