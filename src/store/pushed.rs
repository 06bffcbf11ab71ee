//! [PAR-2] Pushed authorization requests (RFC 9126): validated requests waiting for the browser to bring their
//! `request_uri` to `/authorize`. Keyed by the SHA-256 of the random part of the URI; taken once, by the client
//! that pushed it, before it expires.

use diesel::prelude::*;

use super::schema::pushed_requests;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = pushed_requests)]
pub struct PushedRequest {
    pub uri_hash: String,
    pub client_id: String,
    /// The validated `AuthorizationRequest`, serialised.
    pub params_json: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut DbConn, p: &PushedRequest) -> StoreResult<()> {
    diesel::insert_into(pushed_requests::table).values(p).execute(conn)?;
    Ok(())
}

/// Takes the request once: it is returned only to its own client, unexpired, and only by the call whose delete
/// removed it (two instances racing with one URI: one wins). A request of another client is left alone.
pub fn take(conn: &mut DbConn, uri_hash: &str, client_id: &str, now: i64) -> StoreResult<Option<PushedRequest>> {
    let mine = pushed_requests::table
        .find(uri_hash)
        .filter(pushed_requests::client_id.eq(client_id))
        .filter(pushed_requests::expires_at.gt(now));
    let Some(row) = mine.select(PushedRequest::as_select()).first(conn).optional()? else {
        return Ok(None);
    };
    let deleted = diesel::delete(mine).execute(conn)?;
    Ok((deleted == 1).then_some(row))
}
