//! Secrets the broker makes for itself and every instance shares (the CSRF token key), as stored: the value is
//! sealed by the caller (`accounts::server_secrets`) when `encryption_keys` is set.

use diesel::prelude::*;

use super::schema::server_secrets;
use super::{DbConn, StoreError, StoreResult};

pub fn find(conn: &mut DbConn, name: &str) -> StoreResult<Option<String>> {
    Ok(server_secrets::table.find(name).select(server_secrets::value).first(conn).optional()?)
}

/// Stores `value` unless `name` exists already; returns whether this call stored it (instances starting together:
/// the first insert wins).
pub fn insert_if_absent(conn: &mut DbConn, name: &str, value: &str, now: i64) -> StoreResult<bool> {
    let inserted = diesel::insert_into(server_secrets::table)
        .values((server_secrets::name.eq(name), server_secrets::value.eq(value), server_secrets::created_at.eq(now)))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn set(conn: &mut DbConn, name: &str, value: &str) -> StoreResult<()> {
    diesel::update(server_secrets::table.find(name)).set(server_secrets::value.eq(value)).execute(conn)?;
    Ok(())
}

/// Every (name, stored value).
pub fn list(conn: &mut DbConn) -> StoreResult<Vec<(String, String)>> {
    Ok(server_secrets::table.select((server_secrets::name, server_secrets::value)).load(conn)?)
}
