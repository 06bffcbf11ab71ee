//! Remembered consent: which scopes a user granted to a client.

use diesel::prelude::*;

use super::schema::consents;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = consents)]
pub struct Consent {
    pub user_id: String,
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    pub granted_at: i64,
}

pub fn find(conn: &mut DbConn, user_id: &str, client_id: &str) -> StoreResult<Option<Consent>> {
    Ok(consents::table.find((user_id, client_id)).select(Consent::as_select()).first(conn).optional()?)
}

/// Records consent, replacing any earlier consent of this user for this client.
pub fn save(conn: &mut DbConn, consent: &Consent) -> StoreResult<()> {
    conn.transaction(|conn| {
        diesel::delete(consents::table.find((&consent.user_id, &consent.client_id))).execute(conn)?;
        diesel::insert_into(consents::table).values(consent).execute(conn)?;
        Ok(())
    })
}

pub fn list_for_user(conn: &mut DbConn, user_id: &str) -> StoreResult<Vec<Consent>> {
    Ok(consents::table
        .filter(consents::user_id.eq(user_id))
        .order(consents::client_id.asc())
        .select(Consent::as_select())
        .load(conn)?)
}

pub fn delete(conn: &mut DbConn, user_id: &str, client_id: &str) -> StoreResult<bool> {
    Ok(diesel::delete(consents::table.find((user_id, client_id))).execute(conn)? == 1)
}
