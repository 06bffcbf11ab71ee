//! [UL-3] Logout tokens an upstream sent that were already believed: the SHA-256 of (provider, `jti`), kept until
//! the token could no longer pass the `iat` window anyway (then the sweeper removes it).

use diesel::prelude::*;

use super::schema::upstream_logout_jtis;
use super::{DbConn, StoreResult};

/// Remembers a `jti`; `false` when it was seen before (a replay). Two requests racing with one `jti` both pass
/// the look-up, and the second insert fails with `StoreError::Conflict` (its transaction rolls back).
pub fn remember(conn: &mut DbConn, jti_hash: &str, provider: &str, expires_at: i64) -> StoreResult<bool> {
    let seen: i64 =
        upstream_logout_jtis::table.filter(upstream_logout_jtis::jti_hash.eq(jti_hash)).count().get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    diesel::insert_into(upstream_logout_jtis::table)
        .values((
            upstream_logout_jtis::jti_hash.eq(jti_hash),
            upstream_logout_jtis::provider.eq(provider),
            upstream_logout_jtis::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(true)
}
