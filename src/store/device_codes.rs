//! [DV-1] [DV-2] [DV-4] Device authorization requests (RFC 8628) and the wrong user codes entered at `/device`.
//! Every change of a code's status is one conditional update, so that two instances (or two tabs) never both
//! approve, deny or redeem one code.

use diesel::prelude::*;

use super::schema::{device_codes, device_guesses};
use super::{DbConn, StoreResult};
use bridgekeeper_core::device::Status;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = device_codes)]
pub struct DeviceCode {
    pub device_code_hash: String,
    /// SHA-256 of the normalised user code (upper case, no dash).
    pub user_code_hash: String,
    pub client_id: String,
    /// Space-separated, as narrowed at the request.
    pub scope: String,
    /// SHA-256 of the address that asked (the per-address cap on live codes).
    pub requester_hash: String,
    pub status: String,
    pub interval_secs: i64,
    pub last_poll_at: Option<i64>,
    pub user_id: Option<String>,
    pub grant_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl DeviceCode {
    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status)
    }
}

pub fn insert(conn: &mut DbConn, row: &DeviceCode) -> StoreResult<()> {
    diesel::insert_into(device_codes::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, device_code_hash: &str) -> StoreResult<Option<DeviceCode>> {
    Ok(device_codes::table.find(device_code_hash).select(DeviceCode::as_select()).first(conn).optional()?)
}

/// Removes one code (a request over the cap, [DV-6]).
pub fn delete(conn: &mut DbConn, device_code_hash: &str) -> StoreResult<()> {
    diesel::delete(device_codes::table.find(device_code_hash)).execute(conn)?;
    Ok(())
}

/// The live, still pending code a person's user code names.
pub fn find_pending(conn: &mut DbConn, user_code_hash: &str, now: i64) -> StoreResult<Option<DeviceCode>> {
    Ok(device_codes::table
        .filter(device_codes::user_code_hash.eq(user_code_hash))
        .filter(device_codes::expires_at.gt(now))
        .filter(device_codes::status.eq(Status::Pending.as_str()))
        .select(DeviceCode::as_select())
        .first(conn)
        .optional()?)
}

/// [DV-8] Stores `row` under the first of `user_codes` (normalised) that no stored code holds, and returns it;
/// `None` when every one was taken. The unique index on `user_code_hash` decides, so that two instances storing
/// at once can never share a user code. Not inside a transaction: on PostgreSQL a refused insert would abort it.
pub fn insert_with_fresh_user_code(
    conn: &mut DbConn,
    row: &mut DeviceCode,
    user_codes: impl IntoIterator<Item = String>,
) -> StoreResult<Option<String>> {
    for user_code in user_codes {
        row.user_code_hash = crate::secret::hash_token(&user_code);
        match insert(conn, row) {
            Ok(()) => return Ok(Some(user_code)),
            Err(super::StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// [DV-6] Live pending codes of a client, in all and from one address.
pub fn live_for_client(conn: &mut DbConn, client_id: &str, requester_hash: &str, now: i64) -> StoreResult<(i64, i64)> {
    let live = || {
        device_codes::table
            .filter(device_codes::client_id.eq(client_id))
            .filter(device_codes::expires_at.gt(now))
            .filter(device_codes::status.eq(Status::Pending.as_str()))
    };
    let all: i64 = live().count().get_result(conn)?;
    let here: i64 = live().filter(device_codes::requester_hash.eq(requester_hash)).count().get_result(conn)?;
    Ok((all, here))
}

/// [DV-2] [DV-9] Records a poll of a pending code at `now`; `true` when it was on time. The interval check and the
/// record are one conditional update (`last_poll_at` moves only when it is NULL or at least `interval_secs` in
/// the past), so of polls racing, on any instance, at most one is on time; each other one (too soon) moves
/// `last_poll_at` too and grows the stored interval by `slow_down_step` (RFC 8628 §3.5: for this and every later
/// request).
pub fn record_poll(conn: &mut DbConn, device_code_hash: &str, now: i64, slow_down_step: i64) -> StoreResult<bool> {
    let pending =
        || device_codes::table.find(device_code_hash).filter(device_codes::status.eq(Status::Pending.as_str()));
    let due = device_codes::last_poll_at
        .is_null()
        .or((device_codes::last_poll_at.assume_not_null() + device_codes::interval_secs).le(now));
    let on_time = diesel::update(pending().filter(due)).set(device_codes::last_poll_at.eq(now)).execute(conn)? == 1;
    if !on_time {
        diesel::update(pending())
            .set((
                device_codes::last_poll_at.eq(now),
                device_codes::interval_secs.eq(device_codes::interval_secs + slow_down_step),
            ))
            .execute(conn)?;
    }
    Ok(on_time)
}

/// The person's answer to a live pending code: approved (with the grant made for it) or denied. `false` when
/// the code was answered, or expired, first.
pub fn answer(
    conn: &mut DbConn,
    device_code_hash: &str,
    approved: Option<(&str, &str)>,
    now: i64,
) -> StoreResult<bool> {
    let target = device_codes::table
        .find(device_code_hash)
        .filter(device_codes::status.eq(Status::Pending.as_str()))
        .filter(device_codes::expires_at.gt(now));
    let n = match approved {
        Some((user_id, grant_id)) => diesel::update(target)
            .set((
                device_codes::status.eq(Status::Approved.as_str()),
                device_codes::user_id.eq(user_id),
                device_codes::grant_id.eq(grant_id),
            ))
            .execute(conn)?,
        None => diesel::update(target).set(device_codes::status.eq(Status::Denied.as_str())).execute(conn)?,
    };
    Ok(n == 1)
}

/// [DV-2] Spends an approved code of `client_id`: of two racing polls exactly one gets `true`.
pub fn redeem(conn: &mut DbConn, device_code_hash: &str, client_id: &str) -> StoreResult<bool> {
    let n = diesel::update(
        device_codes::table
            .find(device_code_hash)
            .filter(device_codes::client_id.eq(client_id))
            .filter(device_codes::status.eq(Status::Approved.as_str())),
    )
    .set(device_codes::status.eq(Status::Redeemed.as_str()))
    .execute(conn)?;
    Ok(n == 1)
}

/// [DV-4] One try, charged to every key before it is looked at: the rows are written first and then counted
/// (this try included), so that of tries arriving at once at most the budget see room. Returns the row ids and
/// the count per key. Never run this inside one transaction: each insert must be committed before the counts,
/// or concurrent tries (PostgreSQL READ COMMITTED) would not see each other and the limit would be lost.
pub fn charge_guess(
    conn: &mut DbConn,
    keys: &[String],
    now: i64,
    expires_at: i64,
) -> StoreResult<(Vec<String>, Vec<i64>)> {
    let mut ids = Vec::with_capacity(keys.len());
    for k in keys {
        let id = super::new_id();
        diesel::insert_into(device_guesses::table)
            .values((
                device_guesses::id.eq(&id),
                device_guesses::key_hash.eq(k.as_str()),
                device_guesses::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        ids.push(id);
    }
    let mut counts = Vec::with_capacity(keys.len());
    for k in keys {
        let n: i64 = device_guesses::table
            .filter(device_guesses::key_hash.eq(k.as_str()))
            .filter(device_guesses::expires_at.gt(now))
            .count()
            .get_result(conn)?;
        counts.push(n);
    }
    Ok((ids, counts))
}

/// [DV-4] Takes back a charged try (it was refused before any lookup, or named a real code).
pub fn refund_guess(conn: &mut DbConn, ids: &[String]) -> StoreResult<()> {
    diesel::delete(device_guesses::table.filter(device_guesses::id.eq_any(ids))).execute(conn)?;
    Ok(())
}
