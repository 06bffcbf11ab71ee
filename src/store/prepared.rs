//! [DB-5] Hand-written statements that stay prepared. diesel never caches a `sql_query` (its text could be built
//! at run time, so it marks every one unsafe to cache): PostgreSQL then parses and plans the statement on every
//! call. The hot one-statement writes are constant texts, so [`prepared`] builds them as diesel builds its own
//! queries (the text in pieces, each bind through `push_bind_param`), which diesel's per-connection statement cache
//! keeps, keyed by the text and the bind types.
//!
//! The text is written with PostgreSQL's placeholders (`$1`, `$2`, … in that order, each once); they mark where
//! the binds go, and diesel writes its own numbering in their place. The scan does not know SQL: no `$` followed by
//! a digit may appear in a string literal, a comment or an identifier of such a text.
//!
//! These are named server-side statements (as diesel's own cached queries already are): behind a connection pooler
//! in transaction mode, the pooler must support prepared statements (PgBouncer ≥ 1.21 `max_prepared_statements`),
//! or run in session mode.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A constant statement and its binds, cached as a prepared statement.
#[must_use = "statements are only executed when calling `execute`, `load` or similar"]
pub struct Prepared<B> {
    text: &'static str,
    binds: B,
}

/// Starts a statement of a constant text (`&'static str`: one text is one cache entry, so no text built at run
/// time can grow the cache).
pub fn prepared(text: &'static str) -> Prepared<NoBinds> {
    Prepared { text, binds: NoBinds }
}

impl<B> Prepared<B> {
    /// Binds the next placeholder.
    pub fn bind<ST, V>(self, value: V) -> Prepared<Bound<B, V, ST>> {
        Prepared { text: self.text, binds: Bound { before: self.binds, value, _st: PhantomData } }
    }
}

pub struct NoBinds;

pub struct Bound<B, V, ST> {
    before: B,
    value: V,
    _st: PhantomData<ST>,
}

/// The text's pieces between placeholders, taken in order as the binds are walked.
pub struct Pieces<'t> {
    rest: &'t str,
    taken: usize,
}

impl<'t> Pieces<'t> {
    /// The text up to the next placeholder, which is skipped.
    fn next_before_placeholder(&mut self) -> QueryResult<&'t str> {
        let at = placeholder_at(self.rest).ok_or_else(|| too_many_binds(self.rest))?;
        let (before, after) = self.rest.split_at(at);
        let digits = after[1..].bytes().take_while(u8::is_ascii_digit).count();
        self.taken += 1;
        if after[1..1 + digits] != self.taken.to_string() {
            // A reused or skipped number would bind a value where the text means another.
            return Err(diesel::result::Error::QueryBuilderError(
                format!("placeholder {} where ${} was due", &after[..1 + digits], self.taken).into(),
            ));
        }
        self.rest = &after[1 + digits..];
        Ok(before)
    }
}

/// Where the next `$n` starts.
fn placeholder_at(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&i| b[i] == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
}

fn too_many_binds(rest: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("more binds than placeholders before {rest:?}").into())
}

/// Walks the binds in order, each after the text before its placeholder.
pub trait Binds<DB: Backend> {
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>, text: &mut Pieces<'static>) -> QueryResult<()>;
}

impl<DB: Backend> Binds<DB> for NoBinds {
    fn walk<'b>(&'b self, _: &mut AstPass<'_, 'b, DB>, _: &mut Pieces<'static>) -> QueryResult<()> {
        Ok(())
    }
}

impl<DB, B, V, ST> Binds<DB> for Bound<B, V, ST>
where
    DB: Backend + HasSqlType<ST>,
    B: Binds<DB>,
    V: ToSql<ST, DB>,
{
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>, text: &mut Pieces<'static>) -> QueryResult<()> {
        self.before.walk(out, text)?;
        out.push_sql(text.next_before_placeholder()?);
        out.push_bind_param::<ST, V>(&self.value)
    }
}

impl<DB: Backend, B: Binds<DB>> QueryFragment<DB> for Prepared<B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut text = Pieces { rest: self.text, taken: 0 };
        self.binds.walk(&mut out, &mut text)?;
        if placeholder_at(text.rest).is_some() {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("a placeholder without a bind in {:?}", text.rest).into(),
            ));
        }
        out.push_sql(text.rest);
        Ok(())
    }
}

impl<B> QueryId for Prepared<B> {
    // No static id: the cache keys the statement by its text and bind types.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<B> Query for Prepared<B> {
    type SqlType = Untyped;
}

impl<B, Conn> diesel::RunQueryDsl<Conn> for Prepared<B> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{BigInt, Text};

    fn sql<B: Binds<diesel::pg::Pg>>(q: &Prepared<B>) -> QueryResult<String> {
        use diesel::query_builder::QueryBuilder;
        let mut b = diesel::pg::PgQueryBuilder::default();
        q.to_sql(&mut b, &diesel::pg::Pg)?;
        Ok(b.finish())
    }

    #[test]
    fn db_5_the_text_is_sent_as_written_with_the_binds_where_its_placeholders_are() {
        let q = prepared("UPDATE t SET a = $1 WHERE b = $2 AND c IS NULL").bind::<BigInt, _>(1).bind::<Text, _>("x");
        assert_eq!(sql(&q).unwrap(), "UPDATE t SET a = $1 WHERE b = $2 AND c IS NULL");
        let q = prepared("SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11");
        let q = q.bind::<BigInt, _>(1).bind::<BigInt, _>(2).bind::<BigInt, _>(3).bind::<BigInt, _>(4);
        let q = q.bind::<BigInt, _>(5).bind::<BigInt, _>(6).bind::<BigInt, _>(7).bind::<BigInt, _>(8);
        let q = q.bind::<BigInt, _>(9).bind::<BigInt, _>(10).bind::<BigInt, _>(11);
        assert_eq!(sql(&q).unwrap(), "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11");
    }

    #[test]
    fn db_5_a_bind_count_that_differs_from_the_placeholders_is_an_error_not_a_statement() {
        assert!(sql(&prepared("SELECT $1, $2").bind::<BigInt, _>(1)).is_err());
        assert!(sql(&prepared("SELECT $1").bind::<BigInt, _>(1).bind::<BigInt, _>(2)).is_err());
        assert!(sql(&prepared("SELECT 1")).is_ok());
        assert!(sql(&prepared("SELECT $1, $1").bind::<BigInt, _>(1).bind::<BigInt, _>(2)).is_err(), "reused");
        assert!(sql(&prepared("SELECT $2, $1").bind::<BigInt, _>(1).bind::<BigInt, _>(2)).is_err(), "out of order");
    }

    /// docs/performance.md's plans at 1M rows come from `bench/explain.sql`, which runs the one-statement writes
    /// verbatim: a change to one of them must reach the script too.
    #[test]
    fn db_5_bench_explain_sql_plans_the_statements_the_broker_sends() {
        let script = include_str!("../../bench/explain.sql");
        for (name, text) in [
            ("refresh::PG_ROTATE", super::super::refresh::PG_ROTATE),
            ("codes::PG_SPEND_AND_STORE", super::super::codes::PG_SPEND_AND_STORE),
            ("codes::PG_GRANT_AND_CODE", super::super::codes::PG_GRANT_AND_CODE),
        ] {
            assert!(script.contains(text), "bench/explain.sql no longer has {name} as the broker sends it");
        }
    }
}
