//! Pending upstream logins: `state` (hashed), nonce and PKCE verifier of one redirect to an upstream,
//! bound to the browser that started it, usable once.

use diesel::prelude::*;

use super::schema::upstream_logins;
use super::{DbConn, StoreResult};

#[derive(Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = upstream_logins)]
pub struct UpstreamLogin {
    pub state_hash: String,
    pub provider: String,
    /// SHA-256 of the random value in the browser's `bk_login` cookie.
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// The downstream authorization request to resume afterwards, if any.
    pub auth_request_id: Option<String>,
    /// Set when a signed-in user started "link another account".
    pub link_user_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// [HR-5] The generation of the provider's settings this login began with (`None`: recorded before there
    /// were generations).
    pub provider_generation: Option<String>,
}

impl std::fmt::Debug for UpstreamLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamLogin").field("provider", &self.provider).field("expires_at", &self.expires_at).finish()
    }
}

pub fn insert(conn: &mut DbConn, login: &UpstreamLogin) -> StoreResult<()> {
    diesel::insert_into(upstream_logins::table).values(login).execute(conn)?;
    Ok(())
}

/// Spends the pending login for `state_hash` if it is unused, unexpired and from `provider` (exactly one callback
/// can win it); whether it did. [HR-6] A callback for a provider no longer configured only spends it.
pub fn spend(conn: &mut DbConn, state_hash: &str, provider: &str, now: i64) -> StoreResult<bool> {
    let won = diesel::update(
        upstream_logins::table
            .find(state_hash)
            .filter(upstream_logins::used_at.is_null())
            .filter(upstream_logins::provider.eq(provider))
            .filter(upstream_logins::expires_at.gt(now)),
    )
    .set(upstream_logins::used_at.eq(now))
    .execute(conn)?;
    Ok(won == 1)
}

/// Spends the pending login for `state_hash` (as `spend`) and returns it.
pub fn take(conn: &mut DbConn, state_hash: &str, provider: &str, now: i64) -> StoreResult<Option<UpstreamLogin>> {
    if !spend(conn, state_hash, provider, now)? {
        return Ok(None);
    }
    Ok(upstream_logins::table.find(state_hash).select(UpstreamLogin::as_select()).first(conn).optional()?)
}
