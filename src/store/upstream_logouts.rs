//! [UL-5] Sign-outs the broker sent on to an upstream's end-session endpoint: the single-use `state` (hashed
//! together with the browser's binding value, [UL-8], so `state_hash` is that combined hash) and
//! where the browser continues when the upstream sends it back (an already validated app address, or nothing).

use diesel::prelude::*;

use super::schema::upstream_logouts;
use super::{DbConn, StoreResult};

pub fn insert(
    conn: &mut DbConn,
    state_hash: &str,
    provider: &str,
    continue_to: Option<&str>,
    now: i64,
    ttl_secs: i64,
) -> StoreResult<()> {
    diesel::insert_into(upstream_logouts::table)
        .values((
            upstream_logouts::state_hash.eq(state_hash),
            upstream_logouts::provider.eq(provider),
            upstream_logouts::continue_to.eq(continue_to),
            upstream_logouts::created_at.eq(now),
            upstream_logouts::expires_at.eq(now + ttl_secs),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the pending sign-out once: `Some(continue_to)` the first time, `None` for an unknown, used, expired or
/// other provider's state.
pub fn take(conn: &mut DbConn, state_hash: &str, provider: &str, now: i64) -> StoreResult<Option<Option<String>>> {
    conn.transaction(|c| {
        let row: Option<Option<String>> = upstream_logouts::table
            .find(state_hash)
            .filter(upstream_logouts::provider.eq(provider))
            .filter(upstream_logouts::expires_at.gt(now))
            .select(upstream_logouts::continue_to)
            .first(c)
            .optional()?;
        if row.is_none() {
            return Ok(None);
        }
        let n = diesel::delete(upstream_logouts::table.find(state_hash)).execute(c)?;
        Ok(row.filter(|_| n == 1))
    })
}
