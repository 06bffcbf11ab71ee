//! Local user accounts: the stable `sub` that every linked identity maps to.

use diesel::prelude::*;

use super::schema::users;
use super::{DbConn, MultiBackend, StoreResult, Write};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub picture: Option<String>,
    pub groups_json: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    pub fn groups(&self) -> Vec<String> {
        serde_json::from_str(&self.groups_json).unwrap_or_default()
    }
}

pub fn insert(conn: &mut DbConn, user: &User) -> StoreResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<User>> {
    Ok(users::table.find(id).select(User::as_select()).first(conn).optional()?)
}

/// Users holding `email` as a verified address (linking by email looks for exactly one).
pub fn find_by_verified_email(conn: &mut DbConn, email: &str) -> StoreResult<Vec<User>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .filter(users::email_verified.eq(true))
        .select(User::as_select())
        .load(conn)?)
}

/// Users holding `email`, verified or not.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> StoreResult<Vec<User>> {
    Ok(users::table.filter(users::email.eq(email)).select(User::as_select()).load(conn)?)
}

pub fn list(conn: &mut DbConn, limit: i64, offset: i64) -> StoreResult<Vec<User>> {
    Ok(users::table
        .order(users::created_at.asc())
        .then_order_by(users::id.asc())
        .limit(limit)
        .offset(offset)
        .select(User::as_select())
        .load(conn)?)
}

/// Refreshes the profile claims from the latest upstream sign-in.
pub fn update_profile(conn: &mut DbConn, user: &User) -> StoreResult<()> {
    diesel::update(users::table.find(&user.id))
        .set((
            users::email.eq(&user.email),
            users::email_verified.eq(user.email_verified),
            users::name.eq(&user.name),
            users::preferred_username.eq(&user.preferred_username),
            users::picture.eq(&user.picture),
            users::groups_json.eq(&user.groups_json),
            users::updated_at.eq(user.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_disabled(w: &mut Write<'_>, id: &str, disabled: bool, now: i64) -> StoreResult<bool> {
    let conn = w.invalidating();
    let n = diesel::update(users::table.find(id))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)?;
    // [TX-1] A disabled user's upstream tokens go with the account's use.
    if disabled {
        super::vault::delete_for_user(conn, id)?;
    }
    Ok(n == 1)
}

fn searched(q: Option<&str>, disabled: Option<bool>) -> users::BoxedQuery<'static, MultiBackend> {
    let mut query = users::table.into_boxed::<MultiBackend>();
    if let Some(text) = q {
        let p = super::clients::contains_pattern(text);
        query = query.filter(
            super::clients::lower(users::id)
                .like(p.clone())
                .escape('\\')
                .or(super::clients::lower(users::email.assume_not_null()).like(p.clone()).escape('\\'))
                .or(super::clients::lower(users::name.assume_not_null()).like(p).escape('\\')),
        );
    }
    if let Some(d) = disabled {
        query = query.filter(users::disabled.eq(d));
    }
    query
}

/// One page of users whose id, email or name contains `q` (case-insensitive), and the total matching.
pub fn search(
    conn: &mut DbConn,
    q: Option<&str>,
    disabled: Option<bool>,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<User>, i64)> {
    let total: i64 = searched(q, disabled).count().get_result(conn)?;
    let items = searched(q, disabled)
        .order(users::created_at.asc())
        .then_order_by(users::id.asc())
        .limit(limit)
        .offset(offset)
        .select(User::as_select())
        .load(conn)?;
    Ok((items, total))
}

/// [TB-1b] No user's email is released as verified without an identity whose email is trusted (rows written
/// before per-identity trust existed, or whose trust was withdrawn).
///
/// Runs at every start, so it must stay linear in the number of users: `NOT EXISTS` (an anti-join on PostgreSQL),
/// never `id <> ALL (subquery)`, which PostgreSQL runs as a nested loop over every trusted identity per user (at
/// 300,000 users it had not finished after 2 minutes; see docs/performance.md).
pub fn unverify_untrusted_emails(conn: &mut DbConn) -> StoreResult<usize> {
    Ok(diesel::update(
        users::table.filter(users::email_verified.eq(true)).filter(diesel::dsl::not(has_trusted_email())),
    )
    .set(users::email_verified.eq(false))
    .execute(conn)?)
}

/// `EXISTS (an identity of this user whose email is trusted)`, correlated with the outer `users` row.
#[allow(clippy::type_complexity)]
fn has_trusted_email() -> diesel::dsl::exists<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            super::schema::identities::table,
            diesel::dsl::Eq<super::schema::identities::user_id, users::id>,
        >,
        diesel::dsl::Eq<super::schema::identities::email_trusted, bool>,
    >,
> {
    use super::schema::identities;
    diesel::dsl::exists(
        identities::table.filter(identities::user_id.eq(users::id)).filter(identities::email_trusted.eq(true)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [TB-1b] The start-up reconciliation is an anti-join, not `<> ALL (subquery)` (quadratic on PostgreSQL).
    #[test]
    fn tb_1b_the_email_reconciliation_is_a_not_exists() {
        let q = diesel::update(
            users::table.filter(users::email_verified.eq(true)).filter(diesel::dsl::not(has_trusted_email())),
        )
        .set(users::email_verified.eq(false));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(sql.contains("NOT (EXISTS (SELECT"), "{sql}");
        assert!(!sql.contains("ALL("), "{sql}");
    }
}
