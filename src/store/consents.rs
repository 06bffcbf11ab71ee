//! Remembered consent: which scopes a user granted to a client.

use diesel::prelude::*;

use super::schema::consents;
use super::{DbConn, MultiBackend, StoreResult};

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

fn filtered(user_id: Option<&str>, client_id: Option<&str>) -> consents::BoxedQuery<'static, MultiBackend> {
    let mut q = consents::table.into_boxed::<MultiBackend>();
    if let Some(u) = user_id {
        q = q.filter(consents::user_id.eq(u.to_string()));
    }
    if let Some(c) = client_id {
        q = q.filter(consents::client_id.eq(c.to_string()));
    }
    q
}

/// One page of consents, optionally for one user and/or one client, and the total matching.
pub fn page(
    conn: &mut DbConn,
    user_id: Option<&str>,
    client_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Consent>, i64)> {
    let total: i64 = filtered(user_id, client_id).count().get_result(conn)?;
    let items = filtered(user_id, client_id)
        .order((consents::user_id.asc(), consents::client_id.asc()))
        .limit(limit)
        .offset(offset)
        .select(Consent::as_select())
        .load(conn)?;
    Ok((items, total))
}
