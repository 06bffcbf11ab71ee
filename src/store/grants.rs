//! Grants: one authorization of a client by a user (or by itself, for client_credentials). Codes, access
//! tokens and the refresh-token family all point at their grant; revoking the grant ends all of them.

use diesel::prelude::*;

use super::schema::{grants, refresh_tokens};
use super::{DbConn, StoreResult, Write};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = grants)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub session_hash: Option<String>,
    pub scope: String,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    /// Absolute end of the grant (the refresh family's absolute lifetime).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, grant: &Grant) -> StoreResult<()> {
    diesel::insert_into(grants::table).values(grant).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<Grant>> {
    Ok(grants::table.find(id).select(Grant::as_select()).first(conn).optional()?)
}

/// [RI-2] A grant with the resources it was made for (sorted; empty: none).
pub fn find_with_resources(conn: &mut DbConn, id: &str) -> StoreResult<Option<(Grant, Vec<String>)>> {
    let row: Option<(Grant, Option<String>)> =
        grants::table.find(id).select((Grant::as_select(), grants::resources)).first(conn).optional()?;
    Ok(row.map(|(g, r)| (g, resources_of(r))))
}

/// [RI-2] The stored `resources` column as a list (space-separated identifiers; `NULL`: none).
pub fn resources_of(stored: Option<String>) -> Vec<String> {
    stored.map(|r| r.split(' ').filter(|s| !s.is_empty()).map(String::from).collect()).unwrap_or_default()
}

/// [RI-2] Inserts a grant made for `resources` (identifiers of `[[apis]]`, which hold no spaces): one statement.
pub fn insert_with_resources(conn: &mut DbConn, grant: &Grant, resources: &[String]) -> StoreResult<()> {
    let joined = (!resources.is_empty()).then(|| resources.join(" "));
    diesel::insert_into(grants::table).values((grant, grants::resources.eq(joined))).execute(conn)?;
    Ok(())
}

/// Is this grant live (not revoked, not past its absolute end)?
pub fn is_active(conn: &mut DbConn, id: &str, now: i64) -> StoreResult<bool> {
    let n: i64 = grants::table
        .filter(grants::id.eq(id))
        .filter(grants::revoked_at.is_null())
        .filter(grants::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

/// Revokes a grant and every refresh token of its family. Returns whether the grant was live.
pub fn revoke(w: &mut Write<'_>, id: &str, now: i64) -> StoreResult<bool> {
    revoke_one(w.invalidating(), id, now)
}

fn revoke_one(conn: &mut DbConn, id: &str, now: i64) -> StoreResult<bool> {
    conn.transaction(|conn| {
        let n = diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
            .set(grants::revoked_at.eq(now))
            .execute(conn)?;
        diesel::update(
            refresh_tokens::table.filter(refresh_tokens::grant_id.eq(id)).filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
        Ok(n == 1)
    })
}

/// Revokes every grant of a user for a client (consent withdrawn).
pub fn revoke_for_user_client(w: &mut Write<'_>, user_id: &str, client_id: &str, now: i64) -> StoreResult<usize> {
    let conn = w.invalidating();
    let ids: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::client_id.eq(client_id))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    revoke_many(conn, &ids, now)
}

/// Revokes every grant of a user (account disabled).
pub fn revoke_for_user(w: &mut Write<'_>, user_id: &str, now: i64) -> StoreResult<usize> {
    let conn = w.invalidating();
    let ids: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    revoke_many(conn, &ids, now)
}

/// Revokes the grants tied to a browser session whose scope lacks `offline_access` (logout).
pub fn revoke_online_for_session(w: &mut Write<'_>, session_hash: &str, now: i64) -> StoreResult<usize> {
    let conn = w.invalidating();
    let ids: Vec<(String, String)> = grants::table
        .filter(grants::session_hash.eq(session_hash))
        .filter(grants::revoked_at.is_null())
        .select((grants::id, grants::scope))
        .load(conn)?;
    let online: Vec<String> = ids
        .into_iter()
        .filter(|(_, scope)| !scope.split(' ').any(|s| s == "offline_access"))
        .map(|(id, _)| id)
        .collect();
    revoke_many(conn, &online, now)
}

/// Revokes every grant tied to a browser session, `offline_access` ones included (the sign-in it came from is no
/// longer the user's).
pub fn revoke_all_for_session(w: &mut Write<'_>, session_hash: &str, now: i64) -> StoreResult<usize> {
    let conn = w.invalidating();
    let ids: Vec<String> = grants::table
        .filter(grants::session_hash.eq(session_hash))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    revoke_many(conn, &ids, now)
}

fn revoke_many(conn: &mut DbConn, ids: &[String], now: i64) -> StoreResult<usize> {
    let mut n = 0;
    for id in ids {
        if revoke_one(conn, id, now)? {
            n += 1;
        }
    }
    Ok(n)
}
