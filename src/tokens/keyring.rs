//! The set of keys one instance uses: the current signer, the published JWKS (pre-serialised), and the public
//! keys it verifies its own tokens with. Rebuilt from the database, so every instance converges on the same set.

use std::collections::HashMap;

use super::keys::{self, Alg, KeyError, SigningKey};
use crate::crypto::{CryptoError, Sealer};
use crate::store::keys::{self as repo, KeyState, SigningKeyRow};
use crate::store::{DbConn, StoreError, StoreResult};

pub struct KeyRing {
    /// The oldest `current` key (the signer when only one algorithm is in use).
    pub current: SigningKey,
    /// The signer of each algorithm that has a `current` key.
    signers: HashMap<&'static str, SigningKey>,
    /// `{"keys": [...]}`, serialised once.
    pub jwks_json: std::sync::Arc<[u8]>,
    verifiers: HashMap<String, (jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm)>,
    pub algs: Vec<&'static str>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing(current={:?}, published={})", self.current, self.verifiers.len())
    }
}

impl From<CryptoError> for StoreError {
    fn from(e: CryptoError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// Encrypts the private part before it is stored (when an encryption key is configured).
fn sealed(mut row: SigningKeyRow, sealer: &Sealer) -> StoreResult<SigningKeyRow> {
    if sealer.is_enabled() {
        row.private_der = sealer.seal(row.private_der.as_bytes(), &context(&row.kid))?;
    }
    Ok(row)
}

/// The row with its private part decrypted (rows stored before encryption was configured pass through).
fn opened(row: &SigningKeyRow, sealer: &Sealer) -> StoreResult<SigningKeyRow> {
    let mut row = row.clone();
    if Sealer::is_sealed(&row.private_der) {
        let plain = sealer.open(&row.private_der, &context(&row.kid))?;
        row.private_der = String::from_utf8(plain).map_err(|_| StoreError::Corrupt("signing key".into()))?;
    }
    Ok(row)
}

/// Re-encrypts every signing key not sealed with the current encryption key; returns how many.
pub fn reseal(conn: &mut DbConn, sealer: &Sealer) -> StoreResult<usize> {
    if !sealer.is_enabled() {
        return Ok(0);
    }
    let mut n = 0;
    for row in repo::list(conn)? {
        if sealer.is_stale(&row.private_der) {
            let fresh = sealed(opened(&row, sealer)?, sealer)?;
            repo::set_private(conn, &row.kid, &fresh.private_der)?;
            n += 1;
        }
    }
    Ok(n)
}

impl From<KeyError> for StoreError {
    fn from(e: KeyError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl KeyRing {
    /// Builds the ring from stored rows. The signer is the oldest `current` key, so that two instances that
    /// raced at first start still agree.
    pub fn from_rows(rows: &[SigningKeyRow], sealer: &Sealer) -> StoreResult<Self> {
        let current_row = rows
            .iter()
            .filter(|r| r.is(KeyState::Current))
            .min_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
            .ok_or_else(|| StoreError::Corrupt("no current signing key".into()))?;
        let current = SigningKey::from_row(&opened(current_row, sealer)?)?;
        let mut signers = HashMap::new();
        let mut currents: Vec<&SigningKeyRow> = rows.iter().filter(|r| r.is(KeyState::Current)).collect();
        currents.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        for row in currents {
            if let Some(alg) = Alg::parse(&row.alg)
                && !signers.contains_key(alg.as_str())
            {
                signers.insert(alg.as_str(), SigningKey::from_row(&opened(row, sealer)?)?);
            }
        }
        let mut published = Vec::new();
        let mut verifiers = HashMap::new();
        let mut algs = Vec::new();
        for row in rows {
            let jwk_value: serde_json::Value = serde_json::from_str(&row.public_jwk)?;
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk_value.clone())?;
            let alg = Alg::parse(&row.alg).ok_or_else(|| StoreError::Corrupt(format!("key {} alg", row.kid)))?;
            let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            verifiers.insert(row.kid.clone(), (dk, alg.jwt_algorithm()));
            if !algs.contains(&alg.as_str()) {
                algs.push(alg.as_str());
            }
            published.push(jwk_value);
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))?;
        Ok(KeyRing { current, signers, jwks_json: jwks.into(), verifiers, algs })
    }

    pub fn load(conn: &mut DbConn, sealer: &Sealer) -> StoreResult<Self> {
        Self::from_rows(&repo::list(conn)?, sealer)
    }

    /// The key that signs with `alg` (the oldest current key when that algorithm has none).
    pub fn signer(&self, alg: Alg) -> &SigningKey {
        self.signers.get(alg.as_str()).unwrap_or(&self.current)
    }

    /// The public key for `kid`, if we publish it.
    pub fn verifier(&self, kid: &str) -> Option<&(jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm)> {
        self.verifiers.get(kid)
    }
}

/// At first start (for each algorithm in use): a `current` key to sign with and a `next` key already published
/// for the first rotation.
pub fn ensure_keys(conn: &mut DbConn, alg: Alg, now: i64, sealer: &Sealer) -> StoreResult<bool> {
    crate::store::transaction(conn, |conn| {
        let rows: Vec<SigningKeyRow> = repo::list(conn)?.into_iter().filter(|r| r.alg == alg.as_str()).collect();
        if rows.iter().any(|r| r.is(KeyState::Current)) {
            return Ok(false);
        }
        repo::insert(conn, &sealed(keys::generate(alg, now, KeyState::Current)?, sealer)?)?;
        if !rows.iter().any(|r| r.is(KeyState::Next)) {
            repo::insert(conn, &sealed(keys::generate(alg, now, KeyState::Next)?, sealer)?)?;
        }
        Ok(true)
    })
}

/// Rotation: `current` -> `retired`, `next` (published since the previous rotation) -> `current`, and a new
/// `next` is published. Retired keys older than `keep_retired_secs` (the longest token lifetime) are deleted.
/// Returns the kid that now signs.
pub fn rotate(conn: &mut DbConn, alg: Alg, now: i64, keep_retired_secs: i64, sealer: &Sealer) -> StoreResult<String> {
    crate::store::transaction(conn, |conn| {
        let rows: Vec<SigningKeyRow> = repo::list(conn)?.into_iter().filter(|r| r.alg == alg.as_str()).collect();
        for r in rows.iter().filter(|r| r.is(KeyState::Current)) {
            repo::set_state(conn, &r.kid, KeyState::Retired, now)?;
        }
        let signing = match rows.iter().filter(|r| r.is(KeyState::Next)).min_by_key(|r| r.created_at) {
            Some(next) => {
                repo::set_state(conn, &next.kid, KeyState::Current, now)?;
                next.kid.clone()
            }
            None => {
                let k = sealed(keys::generate(alg, now, KeyState::Current)?, sealer)?;
                repo::insert(conn, &k)?;
                k.kid
            }
        };
        repo::insert(conn, &sealed(keys::generate(alg, now, KeyState::Next)?, sealer)?)?;
        repo::delete_retired_before(conn, now - keep_retired_secs)?;
        Ok(signing)
    })
}

/// Makes sure every algorithm in use has keys.
pub fn ensure_all(conn: &mut DbConn, algs: &[Alg], now: i64, sealer: &Sealer) -> StoreResult<()> {
    for alg in algs {
        ensure_keys(conn, *alg, now, sealer)?;
    }
    Ok(())
}

/// Rotates the keys of every algorithm in use (the first one's new signing kid is returned) and retires the keys
/// of algorithms no longer in use.
pub fn rotate_all(
    conn: &mut DbConn,
    algs: &[Alg],
    now: i64,
    keep_retired_secs: i64,
    sealer: &Sealer,
) -> StoreResult<String> {
    crate::store::transaction(conn, |conn| {
        ensure_all(conn, algs, now, sealer)?;
        for row in repo::list(conn)? {
            let in_use = algs.iter().any(|a| a.as_str() == row.alg);
            if !in_use && !row.is(KeyState::Retired) {
                repo::set_state(conn, &row.kid, KeyState::Retired, now)?;
            }
        }
        let mut first = String::new();
        for (i, alg) in algs.iter().enumerate() {
            let kid = rotate(conn, *alg, now, keep_retired_secs, sealer)?;
            if i == 0 {
                first = kid;
            }
        }
        Ok(first)
    })
}
