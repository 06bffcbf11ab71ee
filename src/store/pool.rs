//! [DB-1] [DB-2] The connection pool and what each new connection is set up with (`[database]`).

use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};

use super::{DbConn, DbKind};

/// The pool settings of `[database]` (the defaults are `config/default.toml`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    pub pool_size: u32,
    /// [DB-1] How long a request waits for a pooled connection before it is answered 503.
    pub checkout_timeout: Duration,
    /// PostgreSQL: how long opening one connection may take (libpq `connect_timeout`, unless the URL sets one).
    pub connect_timeout_secs: u64,
    /// [DB-2] PostgreSQL: `SET statement_timeout` on each new connection; `None` leaves the server's setting.
    pub statement_timeout: Option<Duration>,
    /// SQLite: `PRAGMA busy_timeout` on each new connection.
    pub busy_timeout: Duration,
    /// Closes connections idle this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Closes connections this old once they are returned (`None`: never).
    pub max_lifetime: Option<Duration>,
    /// [DB-4] `SELECT 1` before a pooled PostgreSQL connection is handed out (see docs/performance.md).
    pub test_on_check_out: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            pool_size: 8,
            checkout_timeout: Duration::from_secs(5),
            connect_timeout_secs: 5,
            statement_timeout: Some(Duration::from_secs(30)),
            busy_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            test_on_check_out: true,
        }
    }
}

pub(super) fn build(kind: &DbKind, opts: &PoolOptions) -> Pool<Manager> {
    Pool::builder()
        .max_size(opts.pool_size.max(1))
        .min_idle(Some(0))
        .connection_timeout(opts.checkout_timeout.max(Duration::from_millis(1)))
        .idle_timeout(opts.idle_timeout.filter(|d| !d.is_zero()))
        .max_lifetime(opts.max_lifetime.filter(|d| !d.is_zero()))
        .test_on_check_out(opts.test_on_check_out && matches!(kind, DbKind::Postgres(_)))
        .error_handler(Box::new(LogErrors))
        .build_unchecked(Manager { kind: kind.clone(), opts: opts.clone() })
}

/// Opens connections of the right backend and prepares each one.
#[derive(Debug, Clone)]
pub struct Manager {
    kind: DbKind,
    opts: PoolOptions,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match &self.kind {
            DbKind::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(path).map_err(diesel::r2d2::Error::ConnectionError)?;
                diesel::sql_query(format!("PRAGMA busy_timeout = {}", self.opts.busy_timeout.as_millis()))
                    .execute(&mut c)
                    .and_then(|_| diesel::sql_query("PRAGMA journal_mode = WAL").execute(&mut c))
                    .and_then(|_| diesel::sql_query("PRAGMA synchronous = NORMAL").execute(&mut c))
                    .and_then(|_| diesel::sql_query("PRAGMA foreign_keys = ON").execute(&mut c))
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(c))
            }
            DbKind::Postgres(url) => {
                let url = with_connect_timeout(url, self.opts.connect_timeout_secs);
                let mut c = diesel::PgConnection::establish(&url).map_err(diesel::r2d2::Error::ConnectionError)?;
                if let Some(t) = self.opts.statement_timeout {
                    diesel::sql_query(statement_timeout_sql(Some(t)))
                        .execute(&mut c)
                        .map_err(diesel::r2d2::Error::QueryError)?;
                }
                Ok(DbConn::Postgres(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1").execute(conn).map(|_| ()).map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Postgres(c) => c.is_broken(),
            DbConn::Sqlite(c) => c.is_broken(),
        }
    }
}

/// `SET statement_timeout = …` (0: none).
pub(super) fn statement_timeout_sql(t: Option<Duration>) -> String {
    format!("SET statement_timeout = {}", t.map_or(0, |t| t.as_millis()))
}

/// The URL with libpq's `connect_timeout` unless it names one already (then the operator's wins).
fn with_connect_timeout(url: &str, secs: u64) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return url.to_string() };
    if secs == 0 || u.query_pairs().any(|(k, _)| k == "connect_timeout") {
        return url.to_string();
    }
    u.query_pairs_mut().append_pair("connect_timeout", &secs.to_string());
    u.to_string()
}

#[derive(Debug)]
struct LogErrors;

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for LogErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(target: "store", %error, "database connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_1_connect_timeout_is_added_unless_the_url_has_one() {
        assert_eq!(with_connect_timeout("postgres://u@h/db", 5), "postgres://u@h/db?connect_timeout=5");
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=require", 3),
            "postgres://u@h/db?sslmode=require&connect_timeout=3"
        );
        let own = "postgres://u@h/db?connect_timeout=9";
        assert_eq!(with_connect_timeout(own, 5), own);
    }
}
