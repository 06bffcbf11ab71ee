//! Authorization codes: stored hashed, single use, short lived, bound to client, redirect URI, PKCE and nonce.

use diesel::prelude::*;

use super::grants::Grant;
use super::schema::{auth_codes, grants, users};
use super::users::User;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = auth_codes)]
pub struct AuthCode {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_hash: Option<String>,
    /// The redirect_uri sent in the authorization request, if one was sent.
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// [DP-4] The DPoP key thumbprint the authorization request bound the code to (`dpop_jkt`).
    pub dpop_jkt: Option<String>,
}

/// [AZ-23] A code with the grant it starts ([RI-2]: made for `resources`), in one transaction: neither is stored
/// without the other.
pub fn insert_with_grant(
    conn: &mut DbConn,
    grant: &super::grants::Grant,
    resources: &[String],
    code: &AuthCode,
) -> StoreResult<()> {
    if let DbConn::Postgres(c) = conn {
        return insert_with_grant_pg(c, grant, resources, code);
    }
    conn.transaction(|conn| {
        super::grants::insert_with_resources(conn, grant, resources)?;
        insert(conn, code)
    })
}

/// [DB-5] PostgreSQL: the grant and its code as one statement (a data-modifying CTE, atomic in autocommit): one
/// round trip where the transaction takes four (`BEGIN`, two inserts, `COMMIT`).
fn insert_with_grant_pg(
    c: &mut diesel::PgConnection,
    g: &super::grants::Grant,
    resources: &[String],
    code: &AuthCode,
) -> StoreResult<()> {
    use diesel::sql_types::{BigInt, Nullable, Text};
    let joined = (!resources.is_empty()).then(|| resources.join(" "));
    let inserted = super::prepared::prepared(PG_GRANT_AND_CODE)
        .bind::<Text, _>(&g.id)
        .bind::<Text, _>(&g.client_id)
        .bind::<Nullable<Text>, _>(&g.user_id)
        .bind::<Nullable<Text>, _>(&g.session_hash)
        .bind::<Text, _>(&g.scope)
        .bind::<Nullable<BigInt>, _>(g.auth_time)
        .bind::<BigInt, _>(g.created_at)
        .bind::<BigInt, _>(g.expires_at)
        .bind::<Nullable<BigInt>, _>(g.revoked_at)
        .bind::<Nullable<Text>, _>(joined)
        .bind::<Text, _>(&code.code_hash)
        .bind::<Text, _>(&code.client_id)
        .bind::<Text, _>(&code.user_id)
        .bind::<Nullable<Text>, _>(&code.session_hash)
        .bind::<Nullable<Text>, _>(&code.redirect_uri)
        .bind::<Text, _>(&code.scope)
        .bind::<Nullable<Text>, _>(&code.nonce)
        .bind::<Nullable<Text>, _>(&code.code_challenge)
        .bind::<BigInt, _>(code.auth_time)
        .bind::<BigInt, _>(code.created_at)
        .bind::<BigInt, _>(code.expires_at)
        .bind::<Nullable<BigInt>, _>(code.used_at)
        .bind::<Nullable<Text>, _>(&code.dpop_jkt)
        .execute(c)?;
    debug_assert_eq!(inserted, 1, "the code's grant id is the grant's: the insert cannot select nothing");
    Ok(())
}

/// The code's `grant_id` is the id the grant's insert returns: the two rows cannot disagree.
pub(super) const PG_GRANT_AND_CODE: &str = "WITH g AS (
    INSERT INTO grants
      (id, client_id, user_id, session_hash, scope, auth_time, created_at, expires_at, revoked_at, resources)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    RETURNING id)
  INSERT INTO auth_codes
    (code_hash, grant_id, client_id, user_id, session_hash, redirect_uri, scope, nonce, code_challenge, auth_time,
     created_at, expires_at, used_at, dpop_jkt)
  SELECT $11, g.id, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23 FROM g";

pub fn insert(conn: &mut DbConn, code: &AuthCode) -> StoreResult<()> {
    diesel::insert_into(auth_codes::table).values(code).execute(conn)?;
    Ok(())
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the code is now spent.
    Fresh(AuthCode),
    /// Already spent before: the caller must revoke what the first use produced.
    Replayed(AuthCode),
    /// Unknown, or issued to another client (left untouched).
    Unknown,
}

/// Marks the code used in one conditional update, so that of two racing redemptions exactly one wins.
/// A code presented by another client than the one it was issued to counts as unknown and is not spent.
pub fn redeem(conn: &mut DbConn, code_hash: &str, client_id: &str, now: i64) -> StoreResult<Redemption> {
    let won = diesel::update(
        auth_codes::table
            .find(code_hash)
            .filter(auth_codes::used_at.is_null())
            .filter(auth_codes::client_id.eq(client_id)),
    )
    .set(auth_codes::used_at.eq(now))
    .execute(conn)?;
    let row = auth_codes::table.find(code_hash).select(AuthCode::as_select()).first(conn).optional()?;
    Ok(match (won, row) {
        (_, None) => Redemption::Unknown,
        (_, Some(code)) if code.client_id != client_id => Redemption::Unknown,
        (1, Some(code)) => Redemption::Fresh(code),
        (_, Some(code)) => Redemption::Replayed(code),
    })
}

/// A code with its grant (and the grant's resources, [RI-2]) and user.
pub type WithGrant = (AuthCode, Option<(Grant, Vec<String>)>, Option<User>);

/// [DB-5] The code with its grant and user, in one statement (primary-key lookups joined), taking no lock.
pub fn find_with_grant(conn: &mut DbConn, code_hash: &str) -> StoreResult<Option<WithGrant>> {
    type Row = (AuthCode, Option<Grant>, Option<String>, Option<User>);
    let row: Option<Row> = auth_codes::table
        .left_join(grants::table.on(grants::id.eq(auth_codes::grant_id)))
        .left_join(users::table.on(users::id.eq(auth_codes::user_id)))
        .filter(auth_codes::code_hash.eq(code_hash))
        .select((
            AuthCode::as_select(),
            Option::<Grant>::as_select(),
            grants::resources.nullable(),
            Option::<User>::as_select(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(c, g, r, u)| (c, g.map(|g| (g, super::grants::resources_of(r))), u)))
}

/// [DB-5] Spends an unused code in one conditional update: of two racing redemptions exactly one gets `true`.
pub fn spend(conn: &mut DbConn, code_hash: &str, now: i64) -> StoreResult<bool> {
    let won = diesel::update(auth_codes::table.find(code_hash).filter(auth_codes::used_at.is_null()))
        .set(auth_codes::used_at.eq(now))
        .execute(conn)?;
    Ok(won == 1)
}

/// [DB-5] PostgreSQL, with no transaction open: spends the unused code and stores the refresh token it yields as
/// one statement (a data-modifying CTE, atomic in autocommit), one round trip where a transaction takes four. Of
/// racing redemptions the one whose update wins inserts; a loser's update finds the code spent (it waits for the
/// winner's row lock, then re-reads it) and inserts nothing: `Some(false)`. `None` on SQLite (no DML in `WITH`):
/// the caller spends and inserts in a transaction.
pub fn spend_and_store(
    conn: &mut DbConn,
    code_hash: &str,
    now: i64,
    t: &super::refresh::RefreshToken,
) -> StoreResult<Option<bool>> {
    let DbConn::Postgres(c) = conn else { return Ok(None) };
    let inserted = super::refresh::spend_then_insert_pg(c, PG_SPEND_AND_STORE, now, code_hash, t)?;
    Ok(Some(inserted == 1))
}

pub(super) const PG_SPEND_AND_STORE: &str = "WITH spent AS (
    UPDATE auth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL RETURNING code_hash)
  INSERT INTO refresh_tokens
    (token_hash, grant_id, client_id, user_id, scope, created_at, expires_at, used_at, revoked_at, dpop_jkt)
  SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM spent";

/// Deletes codes whose expiry passed more than `keep_secs` ago (tombstones are kept that long).
pub fn purge_expired(conn: &mut DbConn, now: i64, keep_secs: i64) -> StoreResult<usize> {
    Ok(diesel::delete(auth_codes::table.filter(auth_codes::expires_at.lt(now - keep_secs))).execute(conn)?)
}
