ALTER TABLE pushed_requests DROP COLUMN browser_hash;
