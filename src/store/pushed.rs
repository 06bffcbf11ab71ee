//! [PAR-2] Pushed authorization requests (RFC 9126): validated requests waiting for the browser to bring their
//! `request_uri` to `/authorize`. Keyed by the SHA-256 of the random part of the URI; claimed by the first browser
//! that brings it (only for the client that pushed it, before it expires), usable again by that browser only
//! (a reload, shared security.md [PA-5]), and spent when the authorization completes.

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
    /// SHA-256 of the `bk_flow` cookie of the browser that first brought the `request_uri`; `None` until then.
    pub browser_hash: Option<String>,
}

pub fn insert(conn: &mut DbConn, p: &PushedRequest) -> StoreResult<()> {
    diesel::insert_into(pushed_requests::table).values(p).execute(conn)?;
    Ok(())
}

/// Claims the request for this browser: it is returned only to its own client, unexpired, and only if no other
/// browser claimed it first (a conditional update: two browsers racing, even at two instances, one wins). The
/// browser that claimed it gets it again (a reload). A request of another client is left alone.
pub fn claim(
    conn: &mut DbConn,
    uri_hash: &str,
    client_id: &str,
    browser_hash: &str,
    now: i64,
) -> StoreResult<Option<PushedRequest>> {
    let mine = pushed_requests::table
        .find(uri_hash)
        .filter(pushed_requests::client_id.eq(client_id))
        .filter(pushed_requests::expires_at.gt(now))
        .filter(pushed_requests::browser_hash.is_null().or(pushed_requests::browser_hash.eq(browser_hash)));
    let claimed = diesel::update(mine).set(pushed_requests::browser_hash.eq(browser_hash)).execute(conn)?;
    if claimed != 1 {
        return Ok(None);
    }
    Ok(mine.select(PushedRequest::as_select()).first(conn).optional()?)
}

/// Spends the request: the authorization it started completed (a code or an error was sent).
pub fn spend(conn: &mut DbConn, uri_hash: &str) -> StoreResult<()> {
    diesel::delete(pushed_requests::table.find(uri_hash)).execute(conn)?;
    Ok(())
}
