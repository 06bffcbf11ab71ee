//! Browser sessions at the broker, stored by the SHA-256 of the cookie value.

use diesel::prelude::*;

use super::schema::sessions;
use super::{DbConn, StoreResult, Write};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    /// Provider the user signed in with.
    pub provider: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, session: &Session) -> StoreResult<()> {
    diesel::insert_into(sessions::table).values(session).execute(conn)?;
    Ok(())
}

/// The session if it is neither expired nor revoked.
pub fn find_active(conn: &mut DbConn, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
    Ok(sessions::table
        .find(id_hash)
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select(Session::as_select())
        .first(conn)
        .optional()?)
}

/// The session whatever its state (to know which provider a grant's sign-in used).
pub fn find_any(conn: &mut DbConn, id_hash: &str) -> StoreResult<Option<Session>> {
    Ok(sessions::table.find(id_hash).select(Session::as_select()).first(conn).optional()?)
}

pub fn revoke(w: &mut Write<'_>, id_hash: &str, now: i64) -> StoreResult<bool> {
    let conn = w.invalidating();
    let n = diesel::update(sessions::table.find(id_hash).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}

/// Ends a user's live sessions that began with a sign-in at `provider`; returns their id hashes.
pub fn revoke_for_user_provider(
    w: &mut Write<'_>,
    user_id: &str,
    provider: &str,
    now: i64,
) -> StoreResult<Vec<String>> {
    let conn = w.invalidating();
    let live = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::provider.eq(provider))
        .filter(sessions::revoked_at.is_null());
    let hashes: Vec<String> = live.select(sessions::id_hash).load(conn)?;
    diesel::update(live).set(sessions::revoked_at.eq(now)).execute(conn)?;
    Ok(hashes)
}

pub fn revoke_all_for_user(w: &mut Write<'_>, user_id: &str, now: i64) -> StoreResult<usize> {
    let conn = w.invalidating();
    Ok(diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?)
}
