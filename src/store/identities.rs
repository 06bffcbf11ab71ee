//! Federated identities: (provider, upstream subject) -> exactly one local user.

use diesel::prelude::*;

use super::schema::identities;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub claims_json: String,
    pub upstream_refresh_token: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    /// [TB-1a] The email was verified upstream and the provider is trusted for emails.
    pub email_trusted: bool,
}

/// [TB-1c] What identifies an upstream person: the issuer and subject for OpenID Connect upstreams (so that a
/// provider file re-pointed at another issuer never maps that issuer's subjects onto the old users), the provider
/// id and subject for OAuth2 ones (they have no issuer).
#[derive(Debug, Clone, Copy)]
pub enum IdentityKey<'a> {
    Issuer { issuer: &'a str, subject: &'a str },
    Provider { provider: &'a str, subject: &'a str },
}

pub fn find_by_key(conn: &mut DbConn, key: IdentityKey<'_>) -> StoreResult<Option<Identity>> {
    let q = identities::table.select(Identity::as_select()).order(identities::created_at.asc());
    Ok(match key {
        IdentityKey::Issuer { issuer, subject } => {
            q.filter(identities::issuer.eq(issuer)).filter(identities::subject.eq(subject)).first(conn).optional()?
        }
        IdentityKey::Provider { provider, subject } => q
            .filter(identities::provider.eq(provider))
            .filter(identities::subject.eq(subject))
            .first(conn)
            .optional()?,
    })
}

/// [TB-1] The users holding `email` through an identity whose email was trusted.
pub fn trusted_holders(conn: &mut DbConn, email: &str) -> StoreResult<Vec<String>> {
    let mut ids: Vec<String> = identities::table
        .filter(identities::email.eq(email))
        .filter(identities::email_trusted.eq(true))
        .select(identities::user_id)
        .load(conn)?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Does any identity carry `email` (trusted or not)?
pub fn email_in_use(conn: &mut DbConn, email: &str) -> StoreResult<bool> {
    let n: i64 = identities::table.filter(identities::email.eq(email)).count().get_result(conn)?;
    Ok(n > 0)
}

pub fn insert(conn: &mut DbConn, identity: &Identity) -> StoreResult<()> {
    diesel::insert_into(identities::table).values(identity).execute(conn)?;
    Ok(())
}

/// The identity of `provider` with upstream `subject`.
pub fn find(conn: &mut DbConn, provider: &str, subject: &str) -> StoreResult<Option<Identity>> {
    find_by_key(conn, IdentityKey::Provider { provider, subject })
}

pub fn find_for_user(conn: &mut DbConn, user_id: &str, provider: &str) -> StoreResult<Option<Identity>> {
    Ok(identities::table
        .filter(identities::user_id.eq(user_id))
        .filter(identities::provider.eq(provider))
        .order(identities::created_at.asc())
        .select(Identity::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_for_user(conn: &mut DbConn, user_id: &str) -> StoreResult<Vec<Identity>> {
    Ok(identities::table
        .filter(identities::user_id.eq(user_id))
        .order(identities::created_at.asc())
        .select(Identity::as_select())
        .load(conn)?)
}

/// Records a sign-in with this identity and the claims the upstream sent.
pub fn touch(
    conn: &mut DbConn,
    id: &str,
    claims_json: &str,
    email: Option<&str>,
    (verified, trusted): (bool, bool),
    now: i64,
) -> StoreResult<()> {
    diesel::update(identities::table.find(id))
        .set((
            identities::last_used_at.eq(now),
            identities::claims_json.eq(claims_json),
            identities::email.eq(email),
            identities::email_verified.eq(verified),
            identities::email_trusted.eq(trusted),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes one identity of `user_id`; returns whether a row went.
/// Deletes one of the user's identities; [TX-3] the user's exchange consents for its provider end with the last
/// identity there ("may act for you at P" was given for that identity's grant).
pub fn delete(conn: &mut DbConn, user_id: &str, identity_id: &str) -> StoreResult<bool> {
    conn.transaction(|conn| {
        let provider: Option<String> =
            identities::table.find(identity_id).select(identities::provider).first(conn).optional()?;
        let n = diesel::delete(
            identities::table.filter(identities::id.eq(identity_id)).filter(identities::user_id.eq(user_id)),
        )
        .execute(conn)?;
        if n == 1
            && let Some(p) = provider
            && find_for_user(conn, user_id, &p)?.is_none()
        {
            super::vault::revoke_exchanges_at(conn, user_id, &p)?;
        }
        Ok(n == 1)
    })
}

/// Stores an identity's sealed upstream refresh token.
pub fn set_sealed_upstream_token(conn: &mut DbConn, identity_id: &str, sealed: &str) -> StoreResult<()> {
    diesel::update(identities::table.find(identity_id))
        .set(identities::upstream_refresh_token.eq(sealed))
        .execute(conn)?;
    Ok(())
}

/// [TX-11] The identity's upstream refresh token is gone (it moved into the upstream token vault).
pub fn clear_upstream_token(conn: &mut DbConn, identity_id: &str) -> StoreResult<()> {
    diesel::update(identities::table.find(identity_id))
        .set(identities::upstream_refresh_token.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}

/// An identity's sealed upstream refresh token, if any.
pub fn sealed_upstream_token(conn: &mut DbConn, identity_id: &str) -> StoreResult<Option<String>> {
    let sealed: Option<Option<String>> =
        identities::table.find(identity_id).select(identities::upstream_refresh_token).first(conn).optional()?;
    Ok(sealed.flatten())
}

/// Every (identity id, sealed upstream refresh token).
pub fn sealed_upstream_tokens(conn: &mut DbConn) -> StoreResult<Vec<(String, String)>> {
    let rows: Vec<(String, Option<String>)> = identities::table
        .filter(identities::upstream_refresh_token.is_not_null())
        .select((identities::id, identities::upstream_refresh_token))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, v)| v.map(|v| (id, v))).collect())
}

/// Records that the upstream vouched for this identity at `now` (an upstream refresh).
pub fn mark_used(conn: &mut DbConn, identity_id: &str, now: i64) -> StoreResult<()> {
    diesel::update(identities::table.find(identity_id)).set(identities::last_used_at.eq(now)).execute(conn)?;
    Ok(())
}

/// [TB-1a] Withdraws email trust from identities of providers not in `trusted`; returns the users concerned.
pub fn withdraw_email_trust(conn: &mut DbConn, trusted: &[String]) -> StoreResult<Vec<String>> {
    let stale =
        identities::table.filter(identities::email_trusted.eq(true)).filter(identities::provider.ne_all(trusted));
    let mut users: Vec<String> = stale.clone().select(identities::user_id).load(conn)?;
    diesel::update(stale).set(identities::email_trusted.eq(false)).execute(conn)?;
    users.sort();
    users.dedup();
    Ok(users)
}

/// [TB-1c] Renames the recorded issuer of `provider`'s identities (OAuth2 providers record a name of their own).
pub fn set_issuer_for_provider(conn: &mut DbConn, provider: &str, issuer: &str) -> StoreResult<usize> {
    Ok(diesel::update(
        identities::table.filter(identities::provider.eq(provider)).filter(identities::issuer.ne(issuer)),
    )
    .set(identities::issuer.eq(issuer))
    .execute(conn)?)
}

/// Every user holding `email` through any identity (trusted or not).
pub fn holders(conn: &mut DbConn, email: &str) -> StoreResult<Vec<String>> {
    let mut ids: Vec<String> =
        identities::table.filter(identities::email.eq(email)).select(identities::user_id).load(conn)?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}
