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
}

pub fn insert(conn: &mut DbConn, identity: &Identity) -> StoreResult<()> {
    diesel::insert_into(identities::table).values(identity).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, provider: &str, subject: &str) -> StoreResult<Option<Identity>> {
    Ok(identities::table
        .filter(identities::provider.eq(provider))
        .filter(identities::subject.eq(subject))
        .select(Identity::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_for_user(conn: &mut DbConn, user_id: &str, provider: &str) -> StoreResult<Option<Identity>> {
    Ok(identities::table
        .filter(identities::user_id.eq(user_id))
        .filter(identities::provider.eq(provider))
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
    verified: bool,
    now: i64,
) -> StoreResult<()> {
    diesel::update(identities::table.find(id))
        .set((
            identities::last_used_at.eq(now),
            identities::claims_json.eq(claims_json),
            identities::email.eq(email),
            identities::email_verified.eq(verified),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes one identity of `user_id`; returns whether a row went.
pub fn delete(conn: &mut DbConn, user_id: &str, identity_id: &str) -> StoreResult<bool> {
    let n = diesel::delete(
        identities::table.filter(identities::id.eq(identity_id)).filter(identities::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
