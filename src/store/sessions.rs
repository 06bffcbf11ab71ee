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

/// The live session with its person's `disabled` flag and the scope that person consented to for `client_id`
/// (`None`: no consent remembered): one statement, primary-key lookups joined. `None` when the session is not live
/// or its user is gone.
pub fn find_active_with_consent(
    conn: &mut DbConn,
    id_hash: &str,
    client_id: &str,
    now: i64,
) -> StoreResult<Option<(Session, bool, Option<String>)>> {
    use super::schema::{consents, users};
    Ok(sessions::table
        .inner_join(users::table.on(users::id.eq(sessions::user_id)))
        .left_join(consents::table.on(consents::user_id.eq(sessions::user_id).and(consents::client_id.eq(client_id))))
        .filter(sessions::id_hash.eq(id_hash))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select((Session::as_select(), users::disabled, consents::scope.nullable()))
        .first(conn)
        .optional()?)
}

/// The session whatever its state (to know which provider a grant's sign-in used).
pub fn find_any(conn: &mut DbConn, id_hash: &str) -> StoreResult<Option<Session>> {
    Ok(sessions::table.find(id_hash).select(Session::as_select()).first(conn).optional()?)
}

/// Ends a live session; `false` when something else ended it first. [UL-5] Its sealed upstream ID token goes
/// with it (as on every path that ends a session).
pub fn revoke(w: &mut Write<'_>, id_hash: &str, now: i64) -> StoreResult<bool> {
    let conn = w.invalidating();
    let n = diesel::update(sessions::table.find(id_hash).filter(sessions::revoked_at.is_null()))
        .set((sessions::revoked_at.eq(now), sessions::upstream_id_token.eq(None::<String>)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Ends each of `hashes` still live, one conditional update each; returns those this call ended ([BL-4]: a
/// session another path ended at the same time is not told twice).
fn revoke_each(w: &mut Write<'_>, hashes: Vec<String>, now: i64) -> StoreResult<Vec<String>> {
    let mut ended = Vec::with_capacity(hashes.len());
    for hash in hashes {
        if revoke(w, &hash, now)? {
            ended.push(hash);
        }
    }
    Ok(ended)
}

/// Ends a user's live sessions that began with a sign-in at `provider`; returns the id hashes of those it ended.
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
    revoke_each(w, hashes, now)
}

/// Ends every live session of a user; returns the id hashes of those it ended.
pub fn revoke_all_for_user(w: &mut Write<'_>, user_id: &str, now: i64) -> StoreResult<Vec<String>> {
    let conn = w.invalidating();
    let live = sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null());
    let hashes: Vec<String> = live.select(sessions::id_hash).load(conn)?;
    revoke_each(w, hashes, now)
}

/// Up to `batch` sessions past their expiry that nothing has ended yet: (id hash, user id).
pub fn expired_unended(conn: &mut DbConn, now: i64, batch: i64) -> StoreResult<Vec<(String, String, i64)>> {
    Ok(sessions::table
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.le(now))
        .order(sessions::expires_at.asc())
        .limit(batch.max(1))
        .select((sessions::id_hash, sessions::user_id, sessions::expires_at))
        .load(conn)?)
}

/// Marks an expired session ended at its expiry; `false` when another instance (or a logout) got there first.
pub fn end_expired(w: &mut Write<'_>, id_hash: &str, now: i64) -> StoreResult<bool> {
    let conn = w.invalidating();
    let n = diesel::update(
        sessions::table.find(id_hash).filter(sessions::revoked_at.is_null()).filter(sessions::expires_at.le(now)),
    )
    .set((sessions::revoked_at.eq(sessions::expires_at.nullable()), sessions::upstream_id_token.eq(None::<String>)))
    .execute(conn)?;
    Ok(n == 1)
}

/// [UL-4] Records the upstream subject and session (`sid`) the sign-in came from, and ([UL-5]) its sealed
/// upstream ID token when it is kept.
pub fn set_upstream(
    conn: &mut DbConn,
    id_hash: &str,
    sub: &str,
    sid: Option<&str>,
    sealed_id_token: Option<&str>,
) -> StoreResult<()> {
    diesel::update(sessions::table.find(id_hash))
        .set((
            sessions::upstream_sub.eq(sub),
            sessions::upstream_sid.eq(sid),
            sessions::upstream_id_token.eq(sealed_id_token),
        ))
        .execute(conn)?;
    Ok(())
}

/// [UL-5] The sealed upstream ID token of a session, if one was kept.
pub fn sealed_upstream_id_token(conn: &mut DbConn, id_hash: &str) -> StoreResult<Option<String>> {
    let v: Option<Option<String>> =
        sessions::table.find(id_hash).select(sessions::upstream_id_token).first(conn).optional()?;
    Ok(v.flatten())
}

/// [UL-4] Ends the live sessions that came from `provider`'s upstream session `sid` (when given; with `sub` too,
/// those of that subject, and its sessions whose sign-in named no `sid`) or, with only a subject, every live
/// session of that upstream subject; returns (id hash, user id) of each this call ended.
pub fn revoke_for_upstream(
    w: &mut Write<'_>,
    provider: &str,
    sid: Option<&str>,
    sub: Option<&str>,
    now: i64,
) -> StoreResult<Vec<(String, String)>> {
    let mut q = sessions::table
        .filter(sessions::provider.eq(provider))
        .filter(sessions::revoked_at.is_null())
        .into_boxed::<super::MultiBackend>();
    match (sid, sub) {
        // A sign-in whose ID token carried no sid cannot be told apart: the subject decides for it.
        (Some(sid), Some(sub)) => {
            q = q
                .filter(sessions::upstream_sid.eq(sid).or(sessions::upstream_sid.is_null()))
                .filter(sessions::upstream_sub.eq(sub))
        }
        (Some(sid), None) => q = q.filter(sessions::upstream_sid.eq(sid)),
        (None, Some(sub)) => q = q.filter(sessions::upstream_sub.eq(sub)),
        (None, None) => return Ok(vec![]),
    }
    let found: Vec<(String, String)> = q.select((sessions::id_hash, sessions::user_id)).load(w.invalidating())?;
    let mut ended = Vec::with_capacity(found.len());
    for (hash, user_id) in found {
        if revoke(w, &hash, now)? {
            ended.push((hash, user_id));
        }
    }
    Ok(ended)
}

/// [UL-5] Every kept upstream ID token: (session id hash, sealed value).
pub fn sealed_upstream_id_tokens(conn: &mut DbConn) -> StoreResult<Vec<(String, String)>> {
    let rows: Vec<(String, Option<String>)> = sessions::table
        .filter(sessions::upstream_id_token.is_not_null())
        .select((sessions::id_hash, sessions::upstream_id_token))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(h, v)| v.map(|v| (h, v))).collect())
}

/// Replaces a session's sealed upstream ID token (key rotation).
pub fn set_sealed_upstream_id_token(conn: &mut DbConn, id_hash: &str, sealed: &str) -> StoreResult<()> {
    diesel::update(sessions::table.find(id_hash)).set(sessions::upstream_id_token.eq(sealed)).execute(conn)?;
    Ok(())
}
