//! [RL-6] The failure budgets every instance counts together (`rate_limits.shared`, PostgreSQL; the table exists
//! on both backends and these functions run on both, but settings refuse `shared` with SQLite). A failure is one
//! statement on PostgreSQL: an upsert that returns the count the database holds, so that concurrent failures at
//! several instances each see the others'. Keys come hashed (HMACs) from `ratelimit::shared`.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::failure_counts;
use super::{DbConn, StoreResult};

/// The fixed windows of the per-minute budgets.
pub const WINDOW_SECS: i64 = 60;

/// The row of `key`'s window starting at `start`.
pub fn window_id(key: &str, start: i64) -> String {
    format!("{key}:{start}")
}

fn account_id(key: &str) -> String {
    format!("{key}:account")
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = BigInt)]
    previous: i64,
}

/// PostgreSQL: both keys charged and both previous windows read in one statement (the data-modifying CTE; the
/// outer query reads the previous windows, which this statement does not touch).
const PG_WINDOWS: &str = "WITH up AS (
    INSERT INTO failure_counts (id, count, last_at, expires_at) VALUES ($1, 1, $5, $6), ($2, 1, $5, $6)
    ON CONFLICT (id) DO UPDATE SET count = failure_counts.count + 1, last_at = excluded.last_at
    RETURNING id, count)
  SELECT up.id, up.count, COALESCE(p.count, 0) AS previous FROM up
  LEFT JOIN failure_counts p ON p.id = CASE WHEN up.id = $1 THEN $3 ELSE $4 END";

/// SQLite (one key at a time, in a transaction with the read of its previous window).
const SQLITE_WINDOW: &str = "INSERT INTO failure_counts (id, count, last_at, expires_at) VALUES (?1, 1, ?2, ?3)
    ON CONFLICT (id) DO UPDATE SET count = failure_counts.count + 1, last_at = excluded.last_at
    RETURNING id, count, 0 AS previous";

/// One failure charged to each of `keys` (two distinct keys) in the window starting at `start`: for each key, in
/// order, (this window's count with this failure, the previous window's count).
pub fn charge_windows(conn: &mut DbConn, keys: [&str; 2], start: i64, now: i64) -> StoreResult<[(i64, i64); 2]> {
    let ids = keys.map(|k| window_id(k, start));
    let prev = keys.map(|k| window_id(k, start - WINDOW_SECS));
    // Kept while the next window reads it as its previous one.
    let expires = start + 2 * WINDOW_SECS;
    let rows: Vec<Counted> = match conn {
        DbConn::Postgres(c) => diesel::sql_query(PG_WINDOWS)
            .bind::<Text, _>(&ids[0])
            .bind::<Text, _>(&ids[1])
            .bind::<Text, _>(&prev[0])
            .bind::<Text, _>(&prev[1])
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(expires)
            .load(c)?,
        DbConn::Sqlite(c) => c.transaction(|c| {
            let mut rows = Vec::with_capacity(2);
            for (id, prev) in ids.iter().zip(&prev) {
                let row: Counted = diesel::sql_query(SQLITE_WINDOW)
                    .bind::<Text, _>(id)
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(expires)
                    .get_result(c)?;
                let previous = failure_counts::table
                    .find(prev)
                    .select(failure_counts::count)
                    .first::<i64>(c)
                    .optional()?
                    .unwrap_or(0);
                rows.push(Counted { previous, ..row });
            }
            Ok::<_, diesel::result::Error>(rows)
        })?,
    };
    let of = |id: &str| rows.iter().find(|r| r.id == id).map_or((0, 0), |r| (r.count, r.previous));
    Ok([of(&ids[0]), of(&ids[1])])
}

#[derive(QueryableByName)]
struct Account {
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = BigInt)]
    last_at: i64,
}

/// The account rule of `core::password_budget` in one upsert: a count older than the window of quiet starts again
/// at 1; a charge while the count is below `max` counts and moves `last_at`; a charge past it is counted but moves
/// nothing (a refused attempt never lengthens the owner's wait, as a spent budget charges nothing locally).
const ACCOUNT: &str = "INSERT INTO failure_counts (id, count, last_at, expires_at) VALUES ($1, 1, $2, $2 + $3)
    ON CONFLICT (id) DO UPDATE SET
      count = CASE WHEN failure_counts.last_at <= $2 - $3 THEN 1 ELSE failure_counts.count + 1 END,
      last_at = CASE WHEN failure_counts.last_at <= $2 - $3 OR failure_counts.count < $4 THEN $2
                ELSE failure_counts.last_at END,
      expires_at = CASE WHEN failure_counts.last_at <= $2 - $3 OR failure_counts.count < $4 THEN $2 + $3
                   ELSE failure_counts.expires_at END
    RETURNING count, last_at";

/// [LD-7] One failure charged to an account's cluster-wide budget (`window` seconds of quiet, at most `max`
/// failures): (the count with this charge, the last counted failure). A count over `max` means this charge was
/// refused: the budget was spent at some instance already.
pub fn charge_account(conn: &mut DbConn, key: &str, now: i64, window: i64, max: i64) -> StoreResult<(i64, i64)> {
    let id = account_id(key);
    let row: Account = match conn {
        DbConn::Postgres(c) => diesel::sql_query(ACCOUNT)
            .bind::<Text, _>(&id)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(window)
            .bind::<BigInt, _>(max)
            .get_result(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(ACCOUNT.replace('$', "?"))
            .bind::<Text, _>(&id)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(window)
            .bind::<BigInt, _>(max)
            .get_result(c)?,
    };
    Ok((row.count, row.last_at))
}

/// [LD-7] The directory accepted the account's password: its count starts again at every instance.
pub fn clear_account(conn: &mut DbConn, key: &str) -> StoreResult<()> {
    diesel::delete(failure_counts::table.find(account_id(key))).execute(conn)?;
    Ok(())
}
