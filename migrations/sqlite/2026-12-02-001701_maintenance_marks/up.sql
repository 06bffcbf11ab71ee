-- [TB-1h] What a start-up maintenance last ran for (the trusted-provider set of the email reconciliation), so that
-- a start with the same set skips a scan of every user.
CREATE TABLE maintenance_marks (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
