//! [DB-1] [DB-2] The connection pool and what each new connection is set up with (`[database]`).

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};

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
    /// [DB-4] Check before a pooled PostgreSQL connection is handed out that the server has not closed it (no
    /// round trip, see [`closed_by_server`]).
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

/// A pooled connection and when it was last handed back ([`Conn`] records it).
pub struct Pooled {
    conn: DbConn,
    returned_at: Instant,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("returned_at", &self.returned_at).finish_non_exhaustive()
    }
}

/// [DB-4] A connection idle longer than this gets a `SELECT 1` on checkout besides the socket check: a server
/// gone without closing its end (a crashed host behind a moved address, a load balancer's idle time-out) shows
/// only when something is sent. One in use more recently than this is taken at its socket's word.
pub const IDLE_CHECK_AFTER: Duration = Duration::from_secs(5);

/// A connection checked out of the pool: derefs to [`DbConn`], and records when it goes back.
pub struct Conn(pub(super) PooledConnection<Manager>);

impl Deref for Conn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.0.conn
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.0.conn
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.0.returned_at = Instant::now();
    }
}

/// Opens connections of the right backend and prepares each one.
#[derive(Debug, Clone)]
pub struct Manager {
    kind: DbKind,
    opts: PoolOptions,
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        let conn = match &self.kind {
            DbKind::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(path).map_err(diesel::r2d2::Error::ConnectionError)?;
                diesel::sql_query(format!("PRAGMA busy_timeout = {}", self.opts.busy_timeout.as_millis()))
                    .execute(&mut c)
                    .and_then(|_| diesel::sql_query("PRAGMA journal_mode = WAL").execute(&mut c))
                    .and_then(|_| diesel::sql_query("PRAGMA synchronous = NORMAL").execute(&mut c))
                    .and_then(|_| diesel::sql_query("PRAGMA foreign_keys = ON").execute(&mut c))
                    .map_err(diesel::r2d2::Error::QueryError)?;
                DbConn::Sqlite(c)
            }
            DbKind::Postgres(url) => {
                let url = with_connect_timeout(url, self.opts.connect_timeout_secs);
                let mut c = diesel::PgConnection::establish(&url).map_err(diesel::r2d2::Error::ConnectionError)?;
                if let Some(t) = self.opts.statement_timeout {
                    diesel::sql_query(statement_timeout_sql(Some(t)))
                        .execute(&mut c)
                        .map_err(diesel::r2d2::Error::QueryError)?;
                }
                DbConn::Postgres(c)
            }
        };
        Ok(Pooled { conn, returned_at: Instant::now() })
    }

    fn is_valid(&self, p: &mut Pooled) -> Result<(), Self::Error> {
        if let DbConn::Postgres(c) = &mut p.conn {
            closed_by_server(c).map_err(diesel::r2d2::Error::QueryError)?;
            if p.returned_at.elapsed() <= IDLE_CHECK_AFTER {
                return Ok(());
            }
        }
        diesel::sql_query("SELECT 1").execute(&mut p.conn).map(|_| ()).map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, p: &mut Pooled) -> bool {
        match &mut p.conn {
            DbConn::Postgres(c) => c.is_broken(),
            DbConn::Sqlite(c) => c.is_broken(),
        }
    }
}

/// [DB-4] Has the server closed this connection (a restart, a failover, `pg_terminate_backend`, an idle timeout)?
/// Asked without a round trip: libpq reads what the socket holds without sending anything (`PQconsumeInput`,
/// non-blocking, as when listening for notifications), and a closed socket reads as its end. Twice, because the
/// first read may only take the server's last words (`FATAL: terminating connection …`) and the second then
/// meets the end. A pooled connection listens for nothing, so a notification is not expected (and ignored).
fn closed_by_server(c: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
    for _ in 0..2 {
        if let Some(Err(e)) = c.notifications_iter().next() {
            return Err(e);
        }
    }
    Ok(())
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
