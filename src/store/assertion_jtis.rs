//! [PJ-4] `jti`s of client assertions (private_key_jwt) already accepted: the SHA-256 of (client id, `jti`), kept
//! until the assertion's `exp` plus the clock-skew window (the caller passes that time), then swept.

use diesel::prelude::*;

use super::schema::client_assertion_jtis;
use super::{DbConn, StoreError, StoreResult};

/// Remembers a `jti`; `false` when it was used before (a replay), on any instance: the primary key decides, so two
/// requests racing with one assertion cannot both pass.
pub fn remember(conn: &mut DbConn, jti_hash: &str, client_id: &str, expires_at: i64) -> StoreResult<bool> {
    let inserted = diesel::insert_into(client_assertion_jtis::table)
        .values((
            client_assertion_jtis::jti_hash.eq(jti_hash),
            client_assertion_jtis::client_id.eq(client_id),
            client_assertion_jtis::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict => Ok(false),
            other => Err(other),
        },
    }
}
