//! [SA-7] SAML assertions already believed: the SHA-256 of (provider id, assertion ID), kept until the assertion's
//! NotOnOrAfter plus the skew (the caller passes that time), then swept.

use diesel::prelude::*;

use super::schema::saml_assertions;
use super::{DbConn, StoreError, StoreResult};

/// Remembers an assertion; `false` when it was believed before (a replay), on any instance: the primary key
/// decides, so two posts racing with one assertion cannot both pass.
pub fn remember(conn: &mut DbConn, id_hash: &str, provider: &str, expires_at: i64) -> StoreResult<bool> {
    let inserted = diesel::insert_into(saml_assertions::table)
        .values((
            saml_assertions::id_hash.eq(id_hash),
            saml_assertions::provider.eq(provider),
            saml_assertions::expires_at.eq(expires_at),
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
