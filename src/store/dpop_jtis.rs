//! [DP-2] `jti`s of DPoP proofs already accepted: the SHA-256 of (key thumbprint, `jti`), kept until the proof's
//! `iat` window has passed on every instance (the caller passes that time), then swept.

use diesel::prelude::*;

use super::schema::dpop_proof_jtis;
use super::{DbConn, StoreError, StoreResult};

/// Remembers a proof; `false` when it was seen before (a replay), on any instance: the primary key decides, so two
/// requests racing with one proof cannot both pass.
pub fn remember(conn: &mut DbConn, jti_hash: &str, expires_at: i64) -> StoreResult<bool> {
    let inserted = diesel::insert_into(dpop_proof_jtis::table)
        .values((dpop_proof_jtis::jti_hash.eq(jti_hash), dpop_proof_jtis::expires_at.eq(expires_at)))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict => Ok(false),
            other => Err(other),
        },
    }
}
