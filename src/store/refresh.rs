//! Refresh tokens: hashed, rotated on every use; a rotated token presented again betrays theft.

use diesel::prelude::*;

use super::grants::Grant;
use super::schema::{grants, refresh_tokens, sessions, users};
use super::users::User;
use super::{DbConn, StoreResult, Write};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub created_at: i64,
    /// Idle expiry of this token.
    pub expires_at: i64,
    /// Set when the token was rotated (used).
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// [DP-4] The DPoP key thumbprint a public client's token is bound to.
    pub dpop_jkt: Option<String>,
}

pub fn insert(conn: &mut DbConn, token: &RefreshToken) -> StoreResult<()> {
    diesel::insert_into(refresh_tokens::table).values(token).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
    Ok(refresh_tokens::table.find(token_hash).select(RefreshToken::as_select()).first(conn).optional()?)
}

/// A refresh token with its grant, its user and the provider of the grant's sign-in (`None` for a grant without
/// one, `Some(None)` when that sign-in is gone).
pub type WithGrant = (RefreshToken, Option<(Grant, Vec<String>)>, Option<User>, Option<Option<String>>);

/// [DB-5] The refresh token by hash with its grant, user and the grant's sign-in provider: one statement (primary
/// key lookups joined), prepared once per connection.
pub fn find_with_grant(conn: &mut DbConn, token_hash: &str) -> StoreResult<Option<WithGrant>> {
    type Row = (RefreshToken, Option<Grant>, Option<String>, Option<User>, Option<String>);
    let row: Option<Row> = refresh_tokens::table
        .left_join(grants::table.on(grants::id.eq(refresh_tokens::grant_id)))
        .left_join(users::table.on(users::id.eq(refresh_tokens::user_id)))
        .left_join(sessions::table.on(grants::session_hash.eq(sessions::id_hash.nullable())))
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            RefreshToken::as_select(),
            Option::<Grant>::as_select(),
            grants::resources.nullable(),
            Option::<User>::as_select(),
            sessions::provider.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(t, g, r, u, provider)| {
        let signed_in = g.as_ref().and_then(|g| g.session_hash.as_ref()).map(|_| provider);
        (t, g.map(|g| (g, super::grants::resources_of(r))), u, signed_in)
    }))
}

/// [DB-5] Spends `old_hash` in one conditional update and stores `successor`, inside the caller's transaction (no
/// savepoint): of racing rotations exactly one wins; the loser reads what won.
pub fn rotate_in(conn: &mut DbConn, old_hash: &str, successor: &RefreshToken, now: i64) -> StoreResult<Rotation> {
    let won = diesel::update(
        refresh_tokens::table
            .find(old_hash)
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;
    if won == 1 {
        insert(conn, successor)?;
        return Ok(Rotation::Rotated);
    }
    lost_or_dead(conn, old_hash)
}

/// [DB-5] PostgreSQL, with no transaction open: the spend of `old_hash` and the insert of `successor` as one
/// statement (a data-modifying CTE; one statement in autocommit is atomic), one round trip where
/// [`rotate_in`] in a transaction takes four (`BEGIN`, the spend, the insert, `COMMIT`). Of racing rotations the
/// one whose update wins inserts; a loser's update finds the row spent (it waits for the winner's row lock, then
/// re-reads it), inserts nothing and reads what won. `None` on SQLite, which has no DML in `WITH`: the caller
/// uses [`rotate_in`] (there a round trip is a function call).
pub fn rotate_alone(
    conn: &mut DbConn,
    old_hash: &str,
    successor: &RefreshToken,
    now: i64,
) -> StoreResult<Option<Rotation>> {
    let DbConn::Postgres(c) = conn else { return Ok(None) };
    let inserted = spend_then_insert_pg(c, PG_ROTATE, now, old_hash, successor)?;
    if inserted == 1 {
        return Ok(Some(Rotation::Rotated));
    }
    Ok(Some(lost_or_dead(conn, old_hash)?))
}

pub(super) const PG_ROTATE: &str = "WITH spent AS (
    UPDATE refresh_tokens SET used_at = $1
    WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL
    RETURNING token_hash)
  INSERT INTO refresh_tokens
    (token_hash, grant_id, client_id, user_id, scope, created_at, expires_at, used_at, revoked_at, dpop_jkt)
  SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM spent";

/// Runs one of the PostgreSQL "spend, then insert the refresh token from the spent row" statements (`$1` the time,
/// `$2` the spent key, `$3..$12` the refresh token's columns); the count is 1 when this call spent the key.
pub(super) fn spend_then_insert_pg(
    c: &mut diesel::PgConnection,
    sql: &'static str,
    now: i64,
    spent_key: &str,
    t: &RefreshToken,
) -> diesel::QueryResult<usize> {
    use diesel::sql_types::{BigInt, Nullable, Text};
    super::prepared::prepared(sql)
        .bind::<BigInt, _>(now)
        .bind::<Text, _>(spent_key)
        .bind::<Text, _>(&t.token_hash)
        .bind::<Text, _>(&t.grant_id)
        .bind::<Text, _>(&t.client_id)
        .bind::<Text, _>(&t.user_id)
        .bind::<Text, _>(&t.scope)
        .bind::<BigInt, _>(t.created_at)
        .bind::<BigInt, _>(t.expires_at)
        .bind::<Nullable<BigInt>, _>(t.used_at)
        .bind::<Nullable<BigInt>, _>(t.revoked_at)
        .bind::<Nullable<Text>, _>(&t.dpop_jkt)
        .execute(c)
}

/// What a rotation that did not spend `old_hash` met: spent by another request (the caller's reuse rules decide),
/// or revoked or gone.
fn lost_or_dead(conn: &mut DbConn, old_hash: &str) -> StoreResult<Rotation> {
    Ok(match find(conn, old_hash)? {
        Some(t) if t.revoked_at.is_none() && t.used_at.is_some() => Rotation::Lost(t),
        _ => Rotation::Dead,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// This call spent the token; the caller issues its successor.
    Rotated(RefreshToken),
    /// The token had been spent already: reuse, the family must be revoked.
    Reused(RefreshToken),
    /// Revoked or unknown.
    Dead(Option<RefreshToken>),
}

/// Spends a refresh token in one conditional update: of two racing uses exactly one rotates.
pub fn spend(conn: &mut DbConn, token_hash: &str, now: i64) -> StoreResult<Use> {
    let won = diesel::update(
        refresh_tokens::table
            .find(token_hash)
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;
    let row = find(conn, token_hash)?;
    Ok(match (won, row) {
        (1, Some(t)) => Use::Rotated(t),
        (_, Some(t)) if t.revoked_at.is_none() && t.used_at.is_some() => Use::Reused(t),
        (_, other) => Use::Dead(other),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// Another request spent it first.
    Lost(RefreshToken),
    Dead,
}

/// Spends `old_hash` and stores `successor` in one transaction; of racing rotations exactly one wins.
pub fn rotate(conn: &mut DbConn, old_hash: &str, successor: &RefreshToken, now: i64) -> StoreResult<Rotation> {
    conn.transaction(|conn| match spend(conn, old_hash, now)? {
        Use::Rotated(_) => {
            insert(conn, successor)?;
            Ok(Rotation::Rotated)
        }
        Use::Reused(t) => Ok(Rotation::Lost(t)),
        Use::Dead(_) => Ok(Rotation::Dead),
    })
}

pub fn revoke(w: &mut Write<'_>, token_hash: &str, now: i64) -> StoreResult<bool> {
    let conn = w.invalidating();
    let n = diesel::update(refresh_tokens::table.find(token_hash).filter(refresh_tokens::revoked_at.is_null()))
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}
