//! [TX-1] The upstream token vault: per identity of a `store_tokens = true` provider, the upstream access token
//! (with its expiry, type and scopes) and refresh token, both sealed by the caller. The refresh lease
//! (`lease_until`, `lease_id`) makes upstream refreshes single-flight across instances: every statement here that
//! takes, spends or releases it is one conditional `UPDATE`, the same on both backends.
//! Also the exchange consents ([TX-3]): "app X may act for you at provider P".

use diesel::prelude::*;

use super::schema::{exchange_consents, upstream_tokens};
use super::{DbConn, StoreResult};

/// One identity's upstream tokens as stored (token values sealed).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = upstream_tokens)]
pub struct VaultRow {
    pub identity_id: String,
    pub user_id: String,
    pub provider: String,
    pub access_token: Option<String>,
    pub token_type: String,
    pub access_expires_at: Option<i64>,
    pub scope: String,
    pub refresh_token: Option<String>,
    pub generation: i64,
    pub lease_until: i64,
    pub lease_id: Option<String>,
    pub needs_sign_in: bool,
    pub updated_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

/// A new token set (sealed values) for one identity.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    pub access_token: &'a str,
    pub token_type: &'a str,
    pub access_expires_at: Option<i64>,
    pub scope: &'a str,
    pub refresh_token: Option<&'a str>,
}

/// Replaces the identity's row (a sign-in): any lease another request holds is void, so its commit stores
/// nothing (the tokens of this sign-in are newer).
pub fn replace(conn: &mut DbConn, row: &VaultRow) -> StoreResult<()> {
    conn.transaction(|conn| {
        // The generation keeps moving, so that a `keys reseal` that read the old row writes nothing.
        let before = find(conn, &row.identity_id)?.map_or(0, |r| r.generation + 1);
        diesel::delete(upstream_tokens::table.find(&row.identity_id)).execute(conn)?;
        let row = VaultRow { generation: before.max(row.generation), ..row.clone() };
        diesel::insert_into(upstream_tokens::table).values(&row).execute(conn)?;
        Ok(())
    })
}

pub fn find(conn: &mut DbConn, identity_id: &str) -> StoreResult<Option<VaultRow>> {
    Ok(upstream_tokens::table.find(identity_id).select(VaultRow::as_select()).first(conn).optional()?)
}

#[derive(QueryableByName)]
struct Epoch {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The database's clock (Unix seconds): the one clock every instance shares, so that a lease means the same to
/// all of them whatever their own clocks say.
pub fn db_now(conn: &mut DbConn) -> StoreResult<i64> {
    let sql = match conn {
        DbConn::Sqlite(_) => "SELECT CAST(strftime('%s', 'now') AS BIGINT) AS n",
        DbConn::Postgres(_) => "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT) AS n",
    };
    Ok(diesel::sql_query(sql).get_result::<Epoch>(conn)?.n)
}

/// [TX-1] The identity whose tokens an exchange for `user_id` at `provider` uses: of several identities there, the
/// one not needing a sign-in whose tokens are newest.
pub fn identity_for(conn: &mut DbConn, user_id: &str, provider: &str) -> StoreResult<Option<String>> {
    Ok(upstream_tokens::table
        .filter(upstream_tokens::user_id.eq(user_id))
        .filter(upstream_tokens::provider.eq(provider))
        .order((upstream_tokens::needs_sign_in.asc(), upstream_tokens::updated_at.desc()))
        .select(upstream_tokens::identity_id)
        .first(conn)
        .optional()?)
}

/// Takes the refresh lease for `lease_secs` of database time ([`db_now`]) if nobody holds an unexpired one and
/// the identity does not need a new sign-in. Of racing callers (on any instance) at most one gets `true`.
pub fn take_lease(conn: &mut DbConn, identity_id: &str, lease_id: &str, lease_secs: i64) -> StoreResult<bool> {
    let now = db_now(conn)?;
    let n = diesel::update(
        upstream_tokens::table
            .find(identity_id)
            .filter(upstream_tokens::lease_until.le(now))
            .filter(upstream_tokens::needs_sign_in.eq(false)),
    )
    .set((upstream_tokens::lease_until.eq(now.saturating_add(lease_secs)), upstream_tokens::lease_id.eq(lease_id)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Stores the refreshed tokens and releases the lease, only while `lease_id` still holds it. `false`: the lease
/// was lost (the row was replaced by a sign-in, or deleted) and nothing was written.
pub fn commit(conn: &mut DbConn, identity_id: &str, lease_id: &str, t: &Tokens<'_>, now: i64) -> StoreResult<bool> {
    conn.transaction(|conn| {
        let held = upstream_tokens::table.find(identity_id).filter(upstream_tokens::lease_id.eq(lease_id));
        let n = diesel::update(held)
            .set((
                upstream_tokens::access_token.eq(t.access_token),
                upstream_tokens::token_type.eq(t.token_type),
                upstream_tokens::access_expires_at.eq(t.access_expires_at),
                upstream_tokens::scope.eq(t.scope),
                upstream_tokens::generation.eq(upstream_tokens::generation + 1),
                upstream_tokens::lease_until.eq(0),
                upstream_tokens::lease_id.eq(None::<String>),
                upstream_tokens::updated_at.eq(now),
            ))
            .execute(conn)?;
        // A refresh response without a refresh token keeps the one we have (RFC 6749 §6).
        if n == 1
            && let Some(rt) = t.refresh_token
        {
            diesel::update(upstream_tokens::table.find(identity_id))
                .set(upstream_tokens::refresh_token.eq(rt))
                .execute(conn)?;
        }
        Ok(n == 1)
    })
}

/// Releases the lease without changing the tokens (the upstream could not be asked).
pub fn release(conn: &mut DbConn, identity_id: &str, lease_id: &str) -> StoreResult<()> {
    diesel::update(upstream_tokens::table.find(identity_id).filter(upstream_tokens::lease_id.eq(lease_id)))
        .set((upstream_tokens::lease_until.eq(0), upstream_tokens::lease_id.eq(None::<String>)))
        .execute(conn)?;
    Ok(())
}

/// [TX-2] The upstream refused the refresh token: the tokens go, the identity needs a new sign-in. `true` if the
/// lease was still held (so the caller records the audit event once).
pub fn mark_needs_sign_in(conn: &mut DbConn, identity_id: &str, lease_id: &str, now: i64) -> StoreResult<bool> {
    let n = diesel::update(upstream_tokens::table.find(identity_id).filter(upstream_tokens::lease_id.eq(lease_id)))
        .set((
            upstream_tokens::needs_sign_in.eq(true),
            upstream_tokens::access_token.eq(None::<String>),
            upstream_tokens::refresh_token.eq(None::<String>),
            upstream_tokens::generation.eq(upstream_tokens::generation + 1),
            upstream_tokens::lease_until.eq(0),
            upstream_tokens::lease_id.eq(None::<String>),
            upstream_tokens::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records a use: the row lives `retention_secs` from now.
pub fn touch(conn: &mut DbConn, identity_id: &str, now: i64, retention_secs: i64) -> StoreResult<()> {
    diesel::update(upstream_tokens::table.find(identity_id))
        .set((
            upstream_tokens::last_used_at.eq(now),
            upstream_tokens::expires_at.eq(now.saturating_add(retention_secs)),
        ))
        .execute(conn)?;
    Ok(())
}

/// [TX-11] The rows of providers not in `stored` (those in force with `store_tokens`).
pub fn rows_not_of(conn: &mut DbConn, stored: &[String]) -> StoreResult<Vec<VaultRow>> {
    Ok(upstream_tokens::table
        .filter(upstream_tokens::provider.ne_all(stored))
        .select(VaultRow::as_select())
        .load(conn)?)
}

/// [TX-11] Deletes one row as it was read (`generation`): a row a sign-in or refresh has replaced since stays.
pub fn delete_read(conn: &mut DbConn, identity_id: &str, generation: i64) -> StoreResult<usize> {
    Ok(diesel::delete(upstream_tokens::table.find(identity_id).filter(upstream_tokens::generation.eq(generation)))
        .execute(conn)?)
}

/// Every user's rows go (the user was disabled).
pub fn delete_for_user(conn: &mut DbConn, user_id: &str) -> StoreResult<usize> {
    Ok(diesel::delete(upstream_tokens::table.filter(upstream_tokens::user_id.eq(user_id))).execute(conn)?)
}

/// A row's sealed values as `keys reseal` reads them.
pub type Sealed = (String, i64, Option<String>, Option<String>);

/// Every (identity id, generation, sealed access token, sealed refresh token), for `keys reseal`.
pub fn sealed(conn: &mut DbConn) -> StoreResult<Vec<Sealed>> {
    Ok(upstream_tokens::table
        .select((
            upstream_tokens::identity_id,
            upstream_tokens::generation,
            upstream_tokens::access_token,
            upstream_tokens::refresh_token,
        ))
        .load(conn)?)
}

/// Writes resealed values (same plaintext, the current key), unless a refresh or sign-in stored a newer set
/// since they were read (`generation` moved, or the row was replaced).
pub fn set_sealed(
    conn: &mut DbConn,
    (identity_id, generation): (&str, i64),
    access: Option<&str>,
    refresh: Option<&str>,
) -> StoreResult<()> {
    diesel::update(upstream_tokens::table.find(identity_id).filter(upstream_tokens::generation.eq(generation)))
        .set((upstream_tokens::access_token.eq(access), upstream_tokens::refresh_token.eq(refresh)))
        .execute(conn)?;
    Ok(())
}

/// [TX-3] Records that `user_id` lets `client_id` act for them at `provider`.
pub fn allow_exchange(conn: &mut DbConn, user_id: &str, client_id: &str, provider: &str, now: i64) -> StoreResult<()> {
    let row = (
        exchange_consents::user_id.eq(user_id),
        exchange_consents::client_id.eq(client_id),
        exchange_consents::provider.eq(provider),
        exchange_consents::granted_at.eq(now),
    );
    conn.transaction(|conn| {
        diesel::delete(exchange_consents::table.find((user_id, client_id, provider))).execute(conn)?;
        diesel::insert_into(exchange_consents::table).values(row).execute(conn)?;
        Ok(())
    })
}

pub fn exchange_allowed(conn: &mut DbConn, user_id: &str, client_id: &str, provider: &str) -> StoreResult<bool> {
    let n: i64 = exchange_consents::table.find((user_id, client_id, provider)).count().get_result(conn)?;
    Ok(n > 0)
}

/// (client id, provider) pairs the user allowed.
pub fn exchange_consents_of(conn: &mut DbConn, user_id: &str) -> StoreResult<Vec<(String, String)>> {
    Ok(exchange_consents::table
        .filter(exchange_consents::user_id.eq(user_id))
        .order((exchange_consents::client_id.asc(), exchange_consents::provider.asc()))
        .select((exchange_consents::client_id, exchange_consents::provider))
        .load(conn)?)
}

/// Withdraws one exchange consent (`provider = None`: every one of that client).
pub fn revoke_exchange(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    provider: Option<&str>,
) -> StoreResult<usize> {
    let q = exchange_consents::table
        .filter(exchange_consents::user_id.eq(user_id))
        .filter(exchange_consents::client_id.eq(client_id));
    Ok(match provider {
        Some(p) => diesel::delete(q.filter(exchange_consents::provider.eq(p))).execute(conn)?,
        None => diesel::delete(q).execute(conn)?,
    })
}

/// [TX-3] Every exchange consent of the user at `provider` ends (their last identity there was unlinked).
pub fn revoke_exchanges_at(conn: &mut DbConn, user_id: &str, provider: &str) -> StoreResult<usize> {
    Ok(diesel::delete(
        exchange_consents::table
            .filter(exchange_consents::user_id.eq(user_id))
            .filter(exchange_consents::provider.eq(provider)),
    )
    .execute(conn)?)
}
