//! Validated authorization requests waiting for the user to sign in (or consent).

use diesel::prelude::*;

use super::schema::auth_requests;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = auth_requests)]
pub struct PendingRequest {
    pub id: String,
    pub client_id: String,
    pub params_json: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// [TB-5b] The session started by signing in for this request.
    pub login_session_hash: Option<String>,
    /// [TB-4b] SHA-256 of the `bk_flow` cookie of the browser that started the request.
    pub browser_hash: Option<String>,
}

pub fn insert(conn: &mut DbConn, req: &PendingRequest) -> StoreResult<()> {
    diesel::insert_into(auth_requests::table).values(req).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str, now: i64) -> StoreResult<Option<PendingRequest>> {
    Ok(auth_requests::table
        .find(id)
        .filter(auth_requests::expires_at.gt(now))
        .select(PendingRequest::as_select())
        .first(conn)
        .optional()?)
}

pub fn delete(conn: &mut DbConn, id: &str) -> StoreResult<()> {
    diesel::delete(auth_requests::table.find(id)).execute(conn)?;
    Ok(())
}

/// [TB-5b] Records the session that signed in for this request.
pub fn set_login_session(conn: &mut DbConn, id: &str, session_hash: &str) -> StoreResult<()> {
    diesel::update(auth_requests::table.find(id))
        .set(auth_requests::login_session_hash.eq(session_hash))
        .execute(conn)?;
    Ok(())
}
