DROP TABLE device_guesses;
DROP TABLE device_codes;
