//! Secrets the broker makes for itself and every instance shares (the CSRF token key): created once by whichever
//! instance starts first, sealed at rest when `encryption_keys` is set.

use diesel::prelude::*;

use super::schema::server_secrets;
use super::{DbConn, StoreError, StoreResult};
use crate::crypto::Sealer;

/// The name of the key under which CSRF form tokens are computed.
pub const CSRF_KEY: &str = "csrf_hmac_key";

fn context(name: &str) -> String {
    format!("server_secrets:{name}")
}

/// The secret `name` (32 random bytes), created on first use. Safe against instances starting together: the
/// first insert wins and everyone reads the winner. A value sealed under a key that is gone is replaced (a new
/// CSRF key only invalidates forms that are open at that moment).
pub fn get_or_create(conn: &mut DbConn, sealer: &Sealer, name: &str, now: i64) -> StoreResult<Vec<u8>> {
    if let Some(v) = read(conn, sealer, name)? {
        return Ok(v);
    }
    let fresh = crate::secret::random_token();
    let stored = seal(sealer, name, &fresh)?;
    let inserted = diesel::insert_into(server_secrets::table)
        .values((server_secrets::name.eq(name), server_secrets::value.eq(&stored), server_secrets::created_at.eq(now)))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e),
    }
    match read(conn, sealer, name)? {
        Some(v) => Ok(v),
        None => {
            diesel::update(server_secrets::table.find(name))
                .set((server_secrets::value.eq(&stored), server_secrets::created_at.eq(now)))
                .execute(conn)?;
            Ok(fresh.into_bytes())
        }
    }
}

fn seal(sealer: &Sealer, name: &str, value: &str) -> StoreResult<String> {
    if !sealer.is_enabled() {
        return Ok(value.to_string());
    }
    sealer.seal(value.as_bytes(), &context(name)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The stored value, or `None` when absent or sealed under a key this instance no longer has.
fn read(conn: &mut DbConn, sealer: &Sealer, name: &str) -> StoreResult<Option<Vec<u8>>> {
    let stored: Option<String> =
        server_secrets::table.find(name).select(server_secrets::value).first(conn).optional()?;
    Ok(stored.and_then(
        |v| {
            if Sealer::is_sealed(&v) { sealer.open(&v, &context(name)).ok() } else { Some(v.into_bytes()) }
        },
    ))
}
