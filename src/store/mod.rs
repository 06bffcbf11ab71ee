//! Storage: one schema and one set of queries over SQLite (embedded default) and PostgreSQL, chosen by the
//! `database_url` scheme. Blocking diesel work runs on tokio's blocking pool, never on actix workers.

pub mod assertion_jtis;
pub mod audit;
pub mod auth_requests;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod device_codes;
pub mod dpop_jtis;
pub mod failure_counts;
pub mod gc;
pub mod grants;
pub mod identities;
pub mod keys;
pub mod listen;
pub mod logout_jtis;
pub mod marks;
pub mod outbox;
pub mod pending_links;
mod pool;
mod prepared;
pub mod pushed;
pub mod refresh;
pub mod replay_batch;
pub mod revoked;
pub mod saml_assertions;
pub mod schema;
pub mod server_secrets;
pub mod sessions;
pub mod upstream_logins;
pub mod upstream_logouts;
pub mod users;
pub mod vault;
mod write;

pub use pool::{Conn, IDLE_CHECK_AFTER, Manager, PoolOptions, Pooled};
pub use write::{Epoch, Write};

use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection type over both backends.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl DbConn {
    /// [DB-6] Runs `f` in one transaction: committed on `Ok`, rolled back otherwise. On SQLite the outermost one is
    /// `BEGIN IMMEDIATE`, a writer from its first statement: a deferred transaction that reads first and writes
    /// later fails at once with `database is locked` (SQLITE_BUSY, no busy wait) when another connection (of this
    /// process or another) committed since its read; an immediate one waits its turn (`busy_timeout`) instead.
    /// Nested calls are savepoints, and PostgreSQL keeps `BEGIN`. As an inherent method it takes the place of
    /// diesel's `Connection::transaction` for every `conn.transaction(…)` on a `DbConn`.
    pub fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let DbConn::Sqlite(c) = self else { return <DbConn as Connection>::transaction(self, f) };
        let outermost =
            matches!(AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth(), Ok(None));
        if !outermost {
            return <DbConn as Connection>::transaction(self, f);
        }
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
        type Manager = <DbConn as Connection>::TransactionManager;
        match f(self) {
            Ok(v) => {
                Manager::commit_transaction(self)?;
                Ok(v)
            }
            Err(e) => match Manager::rollback_transaction(self) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
                Err(rollback) => Err(rollback.into()),
            },
        }
    }
}

/// Which backend a `database_url` names. Chosen from the scheme ourselves: diesel's MultiConnection would
/// try each backend in turn, and SQLite accepts any string as a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbKind {
    Sqlite(String),
    Postgres(String),
}

impl DbKind {
    pub fn from_url(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path".into());
            }
            Ok(DbKind::Sqlite(path.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbKind::Postgres(url.to_string()))
        } else {
            Err("must start with sqlite:// or postgres://".into())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Conflict,
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::Conflict,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            // [DB-2] A statement over `statement_timeout` (PostgreSQL) or a lock held past `busy_timeout` (SQLite).
            Error::DatabaseError(_, info) if is_timeout(info.message()) => {
                StoreError::Unavailable(info.message().to_string())
            }
            other => StoreError::Query(other),
        }
    }
}

/// PostgreSQL's `canceling statement due to statement timeout` / `… lock timeout`, SQLite's `database is locked`.
fn is_timeout(message: &str) -> bool {
    message.starts_with("canceling statement due to") || message.contains("database is locked")
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The connection pool; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    kind: DbKind,
    epoch: Epoch,
    /// Time spent waiting for a pooled connection, when observed (metrics).
    wait: Option<prometheus::Histogram>,
    /// The invalidation listener's state, once started (PostgreSQL).
    listener: Option<listen::ListenerState>,
    /// This handle's id in invalidation notifications (hex: safe inside the NOTIFY statement).
    id: String,
    /// What the pool was built with.
    opts: PoolOptions,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.kind {
            DbKind::Sqlite(_) => "sqlite",
            DbKind::Postgres(_) => "postgres",
        };
        write!(f, "Db({backend})")
    }
}

impl Db {
    /// Builds the pool without connecting: a database that is down at start shows up in `/readyz`. The other pool
    /// settings at their defaults (see [`open_with`](Self::open_with)).
    pub fn open(url: &str, pool_size: u32, checkout_timeout: Duration) -> StoreResult<Self> {
        Self::open_with(url, &PoolOptions { pool_size, checkout_timeout, ..PoolOptions::default() })
    }

    /// [DB-1] Builds the pool with `[database]`'s settings, without connecting.
    pub fn open_with(url: &str, opts: &PoolOptions) -> StoreResult<Self> {
        let kind = DbKind::from_url(url).map_err(StoreError::Unavailable)?;
        if let DbKind::Sqlite(path) = &kind
            && let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
        }
        let pool = pool::build(&kind, opts);
        let id = crate::secret::random_token_bytes(8).bytes().map(|b| format!("{b:02x}")).collect();
        Ok(Db { pool, kind, epoch: Epoch::default(), wait: None, listener: None, id, opts: opts.clone() })
    }

    /// [CI-1] On PostgreSQL, starts listening for the other instances' invalidations (once; set before the handle
    /// is shared). Nothing on SQLite, whose one node already sees its own writes.
    pub fn listen_for_invalidations(&mut self) {
        if let (DbKind::Postgres(url), None) = (&self.kind, &self.listener) {
            self.listener = Some(listen::spawn(url.clone(), &self.epoch, self.id.clone()));
        }
    }

    /// Whether the invalidation listener is connected (always false on SQLite, which needs none).
    pub fn listening(&self) -> bool {
        self.listener.as_ref().is_some_and(|l| l.is_up())
    }

    /// How many times the invalidation listener has connected (a reconnect moves it).
    pub fn listener_connects(&self) -> u64 {
        self.listener.as_ref().map_or(0, |l| l.connects())
    }

    /// Records every wait for a connection from now on (set before the handle is shared).
    pub fn observe_waits(&mut self, h: prometheus::Histogram) {
        self.wait = Some(h);
    }

    /// (connections open, of them idle) in the pool now.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.kind, DbKind::Sqlite(_))
    }

    /// A pooled connection, for blocking contexts (CLI, tests, inside `run`).
    pub fn conn(&self) -> StoreResult<Conn> {
        let asked = std::time::Instant::now();
        let conn = self.pool.get();
        if let Some(h) = &self.wait {
            h.observe(asked.elapsed().as_secs_f64());
        }
        conn.map(Conn).map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs blocking storage work off the async workers.
    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&mut *db.conn()?))
            .await
            .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
    }

    /// Like [`run`](Self::run), for work that may revoke, disable or change what a cache holds: the invalidating
    /// repository functions need the [`Write`] it hands out, and the epoch moves once the work is done.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Write<'_>) -> StoreResult<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
    }

    /// [`write`](Self::write) for blocking contexts (CLI, tests, the sweeper's batches).
    pub fn write_blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Write<'_>) -> StoreResult<T>,
    {
        let mut conn = self.conn()?;
        let mut w = Write::new(&mut conn);
        let out = f(&mut w);
        // Bumped even when `f` failed part-way: an extra miss is harmless, a stale hit is not. The other
        // instances hear of it after the work is committed ([CI-1]).
        if w.invalidates() {
            self.epoch.bump();
            listen::notify(&mut conn, &self.id);
        }
        out
    }

    /// The write epoch read-through caches compare against (see [`write`](self::write)).
    pub fn epoch(&self) -> u64 {
        self.epoch.current()
    }

    /// Applies every pending migration for this backend; returns how many ran.
    pub fn migrate(&self) -> StoreResult<usize> {
        let mut conn = self.conn()?;
        let applied = match &mut *conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            // [DB-2] A migration (an index over a large table) is not bound by `statement_timeout`; the connection
            // gets it back before it returns to the pool.
            DbConn::Postgres(c) => {
                let bounded = self.opts.statement_timeout;
                let ran = match diesel::sql_query(pool::statement_timeout_sql(None)).execute(c) {
                    Ok(_) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
                    Err(e) => Err(e.into()),
                };
                if bounded.is_some() {
                    diesel::sql_query(pool::statement_timeout_sql(bounded)).execute(c)?;
                }
                ran
            }
        };
        applied.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// Is the database answering?
    pub async fn ping(&self) -> bool {
        self.run(|c| {
            diesel::sql_query("SELECT 1").execute(c)?;
            Ok(())
        })
        .await
        .is_ok()
    }
}

/// JSON array stored in a TEXT column.
pub(crate) fn to_json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn from_json_list(text: &str) -> StoreResult<Vec<String>> {
    Ok(serde_json::from_str(text)?)
}

/// Runs `f` in one transaction: committed when it returns `Ok`, rolled back otherwise. The only way code outside
/// `store/` groups writes (no diesel outside this module).
pub fn transaction<T, F>(conn: &mut DbConn, f: F) -> StoreResult<T>
where
    F: FnOnce(&mut DbConn) -> StoreResult<T>,
{
    conn.transaction(f)
}

/// [`transaction`] for maintenance over whole tables (the start-up reconciliations): on PostgreSQL not bound by
/// `statement_timeout` ([DB-2]; `SET LOCAL` ends with the transaction).
pub fn maintenance_transaction<T, F>(conn: &mut DbConn, f: F) -> StoreResult<T>
where
    F: FnOnce(&mut DbConn) -> StoreResult<T>,
{
    conn.transaction(|conn| {
        if matches!(conn, DbConn::Postgres(_)) {
            diesel::sql_query("SET LOCAL statement_timeout = 0").execute(conn)?;
        }
        f(conn)
    })
}

/// A random row id (128 bits, URL safe).
pub fn new_id() -> String {
    crate::secret::random_token_bytes(16)
}
