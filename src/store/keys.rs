//! Signing keys, in the database so every instance publishes the same JWKS.
//! States: `next` (published, not yet signing), `current` (signing), `retired` (published until its tokens expire).

use diesel::prelude::*;

use super::schema::signing_keys;
use super::{DbConn, StoreResult};

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing (so verifiers have it before its first token).
    Next,
    /// Signing.
    Current,
    /// Published until the tokens it signed have expired.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
        }
    }
}

#[derive(Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    /// PKCS#8 DER, base64; sealed (`enc1:…`) when an encryption key is configured.
    pub private_der: String,
    pub public_jwk: String,
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

impl SigningKeyRow {
    pub fn is(&self, state: KeyState) -> bool {
        self.state == state.as_str()
    }
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("private_der", &"[redacted]")
            .finish()
    }
}

pub fn insert(conn: &mut DbConn, key: &SigningKeyRow) -> StoreResult<()> {
    diesel::insert_into(signing_keys::table).values(key).execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<SigningKeyRow>> {
    Ok(signing_keys::table
        .order(signing_keys::created_at.asc())
        .then_order_by(signing_keys::kid.asc())
        .select(SigningKeyRow::as_select())
        .load(conn)?)
}

pub fn set_state(conn: &mut DbConn, kid: &str, state: KeyState, now: i64) -> StoreResult<()> {
    let q = diesel::update(signing_keys::table.find(kid));
    let name = state.as_str();
    match state {
        KeyState::Current => q.set((signing_keys::state.eq(name), signing_keys::activated_at.eq(now))).execute(conn)?,
        KeyState::Retired => q.set((signing_keys::state.eq(name), signing_keys::retired_at.eq(now))).execute(conn)?,
        KeyState::Next => q.set(signing_keys::state.eq(name)).execute(conn)?,
    };
    Ok(())
}

pub fn set_private(conn: &mut DbConn, kid: &str, private_der: &str) -> StoreResult<()> {
    diesel::update(signing_keys::table.find(kid)).set(signing_keys::private_der.eq(private_der)).execute(conn)?;
    Ok(())
}

/// Deletes retired keys retired before `cutoff` (no token they signed can still be valid).
pub fn delete_retired_before(conn: &mut DbConn, cutoff: i64) -> StoreResult<usize> {
    Ok(diesel::delete(
        signing_keys::table
            .filter(signing_keys::state.eq(KeyState::Retired.as_str()))
            .filter(signing_keys::retired_at.lt(cutoff)),
    )
    .execute(conn)?)
}
