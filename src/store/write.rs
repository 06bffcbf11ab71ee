//! Writes that end a token's, a session's or a client's validity, and the cache invalidation they owe.
//!
//! Read-through caches (client rows, token verdicts) remember the [`Epoch`] they read at and treat an entry from
//! an older epoch as a miss. The repository functions that revoke, disable or change what a cache may hold take a
//! [`Write`], which only [`Db::write`](super::Db::write) hands out; it bumps this database's epoch after the work
//! (and its transaction) is done, so a change made by this process is seen at once (other instances see it when
//! their entries expire: the documented staleness bound — or at once on PostgreSQL, where the write also sends a
//! notification that every instance's listener turns into a bump of its own epoch, `store::listen`). Nothing
//! global: each `Db` has its own epoch.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::Connection;

use super::{DbConn, StoreResult};

/// This database's write epoch (shared by clones of one `Db`).
#[derive(Debug, Clone, Default)]
pub struct Epoch(Arc<AtomicU64>);

impl Epoch {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub(super) fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// A handle that does not keep the epoch (and so the invalidation listener) alive.
    pub(super) fn downgrade(&self) -> std::sync::Weak<AtomicU64> {
        Arc::downgrade(&self.0)
    }

    pub(super) fn upgrade(weak: &std::sync::Weak<AtomicU64>) -> Option<Epoch> {
        weak.upgrade().map(Epoch)
    }
}

/// A connection inside [`Db::write`](super::Db::write). Derefs to the connection for plain reads and writes; the
/// invalidating repository functions take `&mut Write` and mark it.
pub struct Write<'c> {
    conn: &'c mut DbConn,
    invalidates: bool,
}

impl<'c> Write<'c> {
    pub(super) fn new(conn: &'c mut DbConn) -> Self {
        Write { conn, invalidates: false }
    }

    /// Did anything done through this write end a cached validity?
    pub(super) fn invalidates(&self) -> bool {
        self.invalidates
    }

    /// For the invalidating repository functions: the connection, with the write marked.
    pub(super) fn invalidating(&mut self) -> &mut DbConn {
        self.invalidates = true;
        self.conn
    }

    /// Runs `f` in one transaction (committed on `Ok`), keeping what it invalidated.
    pub fn transaction<T, F>(&mut self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Write<'_>) -> StoreResult<T>,
    {
        let Write { conn, invalidates } = self;
        conn.transaction(|c| {
            let mut inner = Write::new(c);
            let out = f(&mut inner);
            *invalidates |= inner.invalidates;
            out
        })
    }
}

impl Write<'_> {
    /// [DB-5] Opens a transaction that is a writer from its first statement (SQLite `BEGIN IMMEDIATE`, so that the
    /// writes after it never meet a busy snapshot; PostgreSQL `BEGIN`). Ended by [`commit`](Self::commit) or
    /// [`rollback`](Self::rollback); a connection returned to the pool with it still open is dropped (broken).
    pub fn begin_immediate(&mut self) -> StoreResult<()> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        match &mut *self.conn {
            DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
            DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
        }
        Ok(())
    }

    pub fn commit(&mut self) -> StoreResult<()> {
        use diesel::connection::TransactionManager;
        Ok(<DbConn as Connection>::TransactionManager::commit_transaction(self.conn)?)
    }

    pub fn rollback(&mut self) -> StoreResult<()> {
        use diesel::connection::TransactionManager;
        Ok(<DbConn as Connection>::TransactionManager::rollback_transaction(self.conn)?)
    }
}

impl Deref for Write<'_> {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        self.conn
    }
}

impl DerefMut for Write<'_> {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
    }
}
