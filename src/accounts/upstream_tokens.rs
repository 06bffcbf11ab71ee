//! Upstream refresh tokens kept for `refresh_upstream = true` providers: sealed at rest, bound to their row.

use diesel::prelude::*;

use crate::crypto::Sealer;
use crate::store::schema::identities;
use crate::store::{DbConn, StoreError, StoreResult};

fn context(identity_id: &str) -> String {
    format!("upstream_refresh:{identity_id}")
}

/// Stores (sealed) the upstream refresh token of an identity.
pub fn store(conn: &mut DbConn, sealer: &Sealer, identity_id: &str, token: &str) -> StoreResult<()> {
    let sealed = sealer.seal(token.as_bytes(), &context(identity_id))?;
    diesel::update(identities::table.find(identity_id))
        .set(identities::upstream_refresh_token.eq(sealed))
        .execute(conn)?;
    Ok(())
}

/// The upstream refresh token of an identity, decrypted.
pub fn load(conn: &mut DbConn, sealer: &Sealer, identity_id: &str) -> StoreResult<Option<String>> {
    let sealed: Option<Option<String>> =
        identities::table.find(identity_id).select(identities::upstream_refresh_token).first(conn).optional()?;
    match sealed.flatten() {
        None => Ok(None),
        Some(s) => {
            let plain = sealer.open(&s, &context(identity_id))?;
            Ok(Some(String::from_utf8(plain).map_err(|_| StoreError::Corrupt("upstream token".into()))?))
        }
    }
}

/// Re-encrypts upstream refresh tokens not sealed with the current key; returns how many.
pub fn reseal(conn: &mut DbConn, sealer: &Sealer) -> StoreResult<usize> {
    let rows: Vec<(String, Option<String>)> = identities::table
        .filter(identities::upstream_refresh_token.is_not_null())
        .select((identities::id, identities::upstream_refresh_token))
        .load(conn)?;
    let mut n = 0;
    for (id, value) in rows {
        let Some(value) = value else { continue };
        if sealer.is_stale(&value) {
            let plain = sealer.open(&value, &context(&id))?;
            let token = String::from_utf8(plain).map_err(|_| StoreError::Corrupt("upstream token".into()))?;
            store(conn, sealer, &id, &token)?;
            n += 1;
        }
    }
    Ok(n)
}
