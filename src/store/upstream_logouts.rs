//! [UL-5] Sign-outs the broker sent on to an upstream's end-session endpoint: the single-use `state` (hashed
//! together with the browser's binding value, [UL-8], so `state_hash` is that combined hash) and
//! where the browser continues when the upstream sends it back (an already validated app address, or nothing),
//! with the front-channel frames the return page shows first ([FL-5]).

use diesel::prelude::*;

use super::schema::upstream_logouts;
use super::{DbConn, StoreResult};

pub fn insert(
    conn: &mut DbConn,
    state_hash: &str,
    provider: &str,
    continue_to: Option<&str>,
    frames: &[String],
    now: i64,
    ttl_secs: i64,
) -> StoreResult<()> {
    let frames_json = serde_json::to_string(frames).unwrap_or_else(|_| "[]".into());
    diesel::insert_into(upstream_logouts::table)
        .values((
            upstream_logouts::state_hash.eq(state_hash),
            upstream_logouts::provider.eq(provider),
            upstream_logouts::continue_to.eq(continue_to),
            upstream_logouts::frames_json.eq(frames_json),
            upstream_logouts::created_at.eq(now),
            upstream_logouts::expires_at.eq(now + ttl_secs),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the browser does once the upstream sent it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The app's validated address, or `None` for the signed-out page.
    pub continue_to: Option<String>,
    /// [FL-5] The front-channel frames to show first.
    pub frames: Vec<String>,
}

/// Takes the pending sign-out once: `Some` the first time, `None` for an unknown, used, expired or other
/// provider's state. No transaction: an unknown state is one read (no write lock, [DB-6]); of two takes of one
/// state the one whose delete removes the row (written once, never changed) gets it.
pub fn take(conn: &mut DbConn, state_hash: &str, provider: &str, now: i64) -> StoreResult<Option<Resume>> {
    let pending = upstream_logouts::table
        .find(state_hash)
        .filter(upstream_logouts::provider.eq(provider))
        .filter(upstream_logouts::expires_at.gt(now));
    let row: Option<(Option<String>, String)> =
        pending.select((upstream_logouts::continue_to, upstream_logouts::frames_json)).first(conn).optional()?;
    let Some((continue_to, frames_json)) = row else { return Ok(None) };
    let n = diesel::delete(pending).execute(conn)?;
    let frames = serde_json::from_str(&frames_json).unwrap_or_default();
    Ok((n == 1).then_some(Resume { continue_to, frames }))
}
