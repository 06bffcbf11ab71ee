//! Secrets the broker makes for itself and every instance shares (the CSRF token key): created once by whichever
//! instance starts first, sealed at rest when `encryption_keys` is set, re-sealed by `keys reseal`.

use crate::crypto::Sealer;
use crate::store::server_secrets as repo;
use crate::store::{DbConn, StoreError, StoreResult};

/// The name of the key under which CSRF form tokens are computed.
pub const CSRF_KEY: &str = "csrf_hmac_key";

fn context(name: &str) -> String {
    format!("server_secrets:{name}")
}

/// The secret `name` (256 random bits), created on first use. Safe against instances starting together: the first
/// insert wins and everyone reads the winner. A value sealed under a key that is gone is replaced (a new CSRF key
/// only invalidates forms that are open at that moment).
pub fn get_or_create(conn: &mut DbConn, sealer: &Sealer, name: &str, now: i64) -> StoreResult<Vec<u8>> {
    if let Some(v) = read(conn, sealer, name)? {
        return Ok(v);
    }
    let fresh = crate::secret::random_token();
    let stored = seal(sealer, name, &fresh)?;
    if !repo::insert_if_absent(conn, name, &stored, now)? {
        match read(conn, sealer, name)? {
            Some(v) => return Ok(v),
            None => repo::set(conn, name, &stored)?,
        }
    }
    Ok(fresh.into_bytes())
}

fn seal(sealer: &Sealer, name: &str, value: &str) -> StoreResult<String> {
    if !sealer.is_enabled() {
        return Ok(value.to_string());
    }
    sealer.seal(value.as_bytes(), &context(name)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The stored value, or `None` when absent or sealed under a key this instance no longer has.
fn read(conn: &mut DbConn, sealer: &Sealer, name: &str) -> StoreResult<Option<Vec<u8>>> {
    Ok(repo::find(conn, name)?
        .and_then(|v| if Sealer::is_sealed(&v) { sealer.open(&v, &context(name)).ok() } else { Some(v.into_bytes()) }))
}

/// Re-encrypts every server secret not sealed with the current encryption key (`keys reseal`); returns how many.
/// A value no configured key opens is left alone (it is replaced at the next start).
pub fn reseal(conn: &mut DbConn, sealer: &Sealer) -> StoreResult<usize> {
    if !sealer.is_enabled() {
        return Ok(0);
    }
    let mut n = 0;
    for (name, value) in repo::list(conn)? {
        if !sealer.is_stale(&value) {
            continue;
        }
        let Some(plain) = read(conn, sealer, &name)? else { continue };
        let text = String::from_utf8(plain).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        repo::set(conn, &name, &seal(sealer, &name, &text)?)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    const B: &str = "b:CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=";

    #[test]
    fn the_secret_is_created_once_sealed_and_resealed() {
        let dir = std::env::temp_dir().join(format!("bk-secrets-{}", crate::secret::random_token_bytes(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/s.db", dir.display());
        let db = crate::store::Db::open(&url, 2, std::time::Duration::from_secs(5)).unwrap();
        db.migrate().unwrap();
        let mut c = db.conn().unwrap();
        let old = Sealer::from_spec(A).unwrap();
        let first = get_or_create(&mut c, &old, CSRF_KEY, 1).unwrap();
        assert_eq!(get_or_create(&mut c, &old, CSRF_KEY, 2).unwrap(), first, "created once");
        assert!(Sealer::is_sealed(&repo::find(&mut c, CSRF_KEY).unwrap().unwrap()), "sealed at rest");
        assert_eq!(reseal(&mut c, &Sealer::from_spec(&format!("{B},{A}")).unwrap()).unwrap(), 1);
        let new_only = Sealer::from_spec(B).unwrap();
        assert_eq!(get_or_create(&mut c, &new_only, CSRF_KEY, 3).unwrap(), first, "opens with the new key alone");
        std::fs::remove_dir_all(&dir).ok();
    }
}
