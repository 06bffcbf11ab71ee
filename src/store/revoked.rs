//! Deny-list of revoked JWT access tokens, by `jti`, kept until the token would have expired anyway.

use diesel::prelude::*;

use super::schema::revoked_jtis;
use super::{DbConn, StoreError, StoreResult, Write};

pub fn insert(w: &mut Write<'_>, jti: &str, expires_at: i64) -> StoreResult<()> {
    let conn = w.invalidating();
    match diesel::insert_into(revoked_jtis::table)
        .values((revoked_jtis::jti.eq(jti), revoked_jtis::expires_at.eq(expires_at)))
        .execute(conn)
    {
        Ok(_) => Ok(()),
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
