//! [TB-1g] Identities waiting to be linked (`link_by_email = "confirm"`): keyed by the hash of a random value in
//! the browser's cookie, short lived, single use.

use diesel::prelude::*;

use super::schema::pending_links;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = pending_links)]
pub struct PendingLink {
    pub id_hash: String,
    /// The user the identity would be linked to.
    pub user_id: String,
    pub provider: String,
    /// The verified identity, serialised (no tokens).
    pub identity_json: String,
    pub auth_request_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut DbConn, p: &PendingLink) -> StoreResult<()> {
    diesel::insert_into(pending_links::table).values(p).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id_hash: &str, now: i64) -> StoreResult<Option<PendingLink>> {
    Ok(pending_links::table
        .find(id_hash)
        .filter(pending_links::expires_at.gt(now))
        .select(PendingLink::as_select())
        .first(conn)
        .optional()?)
}

/// Removes it; `true` when this call did (single use under races).
pub fn take(conn: &mut DbConn, id_hash: &str) -> StoreResult<bool> {
    Ok(diesel::delete(pending_links::table.find(id_hash)).execute(conn)? == 1)
}
