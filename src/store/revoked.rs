//! Deny-list of revoked JWT access tokens, by `jti`, kept until the token would have expired anyway.

use diesel::prelude::*;

use super::schema::revoked_jtis;
use super::{DbConn, StoreError, StoreResult, Write};

/// Denies `jti`. Only a first revocation ends a cached validity: revoking a token again moves no epoch and
/// sends no invalidation to the other instances ([CI-1]: a client looping `/revoke` cannot flush every cache).
pub fn insert(w: &mut Write<'_>, jti: &str, expires_at: i64) -> StoreResult<()> {
    match diesel::insert_into(revoked_jtis::table)
        .values((revoked_jtis::jti.eq(jti), revoked_jtis::expires_at.eq(expires_at)))
        .execute(&mut **w)
    {
        Ok(_) => {
            w.invalidating();
            Ok(())
        }
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict => Ok(()),
            other => Err(other),
        },
    }
}

pub fn is_revoked(conn: &mut DbConn, jti: &str) -> StoreResult<bool> {
    let n: i64 = revoked_jtis::table.filter(revoked_jtis::jti.eq(jti)).count().get_result(conn)?;
    Ok(n > 0)
}

pub fn purge_expired(conn: &mut DbConn, now: i64) -> StoreResult<usize> {
    Ok(diesel::delete(revoked_jtis::table.filter(revoked_jtis::expires_at.lt(now))).execute(conn)?)
}
