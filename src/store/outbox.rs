//! The back-channel logout outbox ([BL-5]): one row per Logout Token still to deliver. Rows are written in the
//! transaction that ends a session, claimed by one instance at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! on SQLite, whose writers are serialised, the conditional `UPDATE … WHERE claimed_until < now` alone), and
//! deleted once delivered or given up. A claim lapses after its lease, so a crashed instance loses nothing.

use diesel::prelude::*;

use super::schema::{clients, grants, logout_outbox};
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = logout_outbox)]
pub struct Outgoing {
    /// Also the token's `jti`.
    pub id: String,
    pub client_id: String,
    /// The client's `backchannel_logout_uri` when the session ended.
    pub uri: String,
    pub sub: String,
    pub sid: Option<String>,
    pub created_at: i64,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub claimed_until: i64,
    pub last_error: Option<String>,
}

/// The clients that got an ID token in the session (a grant of it with `openid`) and registered a
/// `backchannel_logout_uri`: (client id, uri). Revoked grants count too (the app still holds its ID token).
pub fn receivers_for_session(conn: &mut DbConn, session_hash: &str) -> StoreResult<Vec<(String, String)>> {
    let ids = id_token_clients(conn, session_hash)?;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let found: Vec<(String, Option<String>)> = clients::table
        .filter(clients::client_id.eq_any(&ids))
        .filter(clients::disabled.eq(false))
        .select((clients::client_id, clients::backchannel_logout_uri))
        .load(conn)?;
    Ok(found.into_iter().filter_map(|(id, uri)| uri.map(|u| (id, u))).collect())
}

/// The ids of the clients that got an ID token in the session (a grant of it with `openid`, revoked or not),
/// sorted, each once.
pub fn id_token_clients(conn: &mut DbConn, session_hash: &str) -> StoreResult<Vec<String>> {
    let granted: Vec<(String, String)> = grants::table
        .filter(grants::session_hash.eq(session_hash))
        .select((grants::client_id, grants::scope))
        .load(conn)?;
    let mut ids: Vec<String> = granted
        .into_iter()
        .filter(|(_, scope)| scope.split(' ').any(|s| s == "openid"))
        .map(|(client, _)| client)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// [FL-3] The clients that got an ID token in the session and registered a `frontchannel_logout_uri`, enabled
/// ones only: (client id, uri, session required).
pub fn frontchannel_receivers(conn: &mut DbConn, session_hash: &str) -> StoreResult<Vec<(String, String, bool)>> {
    let ids = id_token_clients(conn, session_hash)?;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let found: Vec<(String, Option<String>, bool)> = clients::table
        .filter(clients::client_id.eq_any(&ids))
        .filter(clients::disabled.eq(false))
        .order(clients::client_id.asc())
        .select((clients::client_id, clients::frontchannel_logout_uri, clients::frontchannel_logout_session_required))
        .load(conn)?;
    Ok(found.into_iter().filter_map(|(id, uri, req)| uri.map(|u| (id, u, req))).collect())
}

/// [BL-7] The ids of `rows` whose client is gone or disabled, or whose current `backchannel_logout_uri` is not
/// the one the row was queued with: such a row must not be sent.
pub fn unwanted(conn: &mut DbConn, rows: &[Outgoing]) -> StoreResult<Vec<String>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.client_id.as_str()).collect();
    let current: std::collections::HashMap<String, Option<String>> = clients::table
        .filter(clients::client_id.eq_any(&ids))
        .filter(clients::disabled.eq(false))
        .select((clients::client_id, clients::backchannel_logout_uri))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .iter()
        .filter(|r| current.get(&r.client_id).and_then(|u| u.as_deref()) != Some(r.uri.as_str()))
        .map(|r| r.id.clone())
        .collect())
}

/// [BL-10] Which of the rows' clients registered themselves (source `portal` or `dynamic`).
pub fn self_registered(conn: &mut DbConn, rows: &[Outgoing]) -> StoreResult<Vec<String>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.client_id.as_str()).collect();
    Ok(clients::table
        .filter(clients::client_id.eq_any(&ids))
        .filter(clients::source.eq_any(["portal", "dynamic"]))
        .select(clients::client_id)
        .load(conn)?)
}

pub fn insert(conn: &mut DbConn, rows: &[Outgoing]) -> StoreResult<usize> {
    let mut n = 0;
    for row in rows {
        n += diesel::insert_into(logout_outbox::table).values(row).execute(conn)?;
    }
    Ok(n)
}

/// Claims up to `batch` due, unclaimed rows until `now + lease_secs`; returns them. Two instances never get the
/// same row while its claim lasts. Only integers are formatted into the SQL.
pub fn claim(conn: &mut DbConn, now: i64, lease_secs: i64, batch: i64) -> StoreResult<Vec<Outgoing>> {
    let lock = match conn {
        DbConn::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let until = now.saturating_add(lease_secs.max(1));
    let sql = format!(
        "UPDATE logout_outbox SET claimed_until = {until} \
         WHERE claimed_until < {now} AND id IN (SELECT o.id FROM logout_outbox o \
           WHERE o.next_attempt_at <= {now} AND o.claimed_until < {now} \
           ORDER BY o.next_attempt_at LIMIT {batch} {lock}) \
         RETURNING id, client_id, uri, sub, sid, created_at, attempts, next_attempt_at, claimed_until, last_error",
        batch = batch.max(1)
    );
    Ok(diesel::sql_query(sql).load::<Outgoing>(conn)?)
}

/// Delivered (or given up): the row goes.
pub fn remove(conn: &mut DbConn, id: &str) -> StoreResult<bool> {
    Ok(diesel::delete(logout_outbox::table.find(id)).execute(conn)? == 1)
}

/// A failed attempt: counted, released, and due again at `next_attempt_at`.
pub fn reschedule(conn: &mut DbConn, id: &str, attempts: i32, next_attempt_at: i64, error: &str) -> StoreResult<()> {
    diesel::update(logout_outbox::table.find(id))
        .set((
            logout_outbox::attempts.eq(attempts),
            logout_outbox::next_attempt_at.eq(next_attempt_at),
            logout_outbox::claimed_until.eq(0i64),
            logout_outbox::last_error.eq(error.chars().take(200).collect::<String>()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every row (tests, the CLI).
pub fn list(conn: &mut DbConn) -> StoreResult<Vec<Outgoing>> {
    Ok(logout_outbox::table.order(logout_outbox::created_at.asc()).select(Outgoing::as_select()).load(conn)?)
}
