//! [CI-1] Cache invalidation across instances on PostgreSQL. Every write that ends a cached validity (see
//! [`Write`](super::Write)) sends `NOTIFY bridgekeeper_invalidate` once its work is committed; every instance
//! listens on a connection of its own and moves its epoch on each notification, so that a revocation, a disabled
//! user or client made at one instance is refused at the others at once, not after their cache TTLs.
//!
//! While the listening connection is down (PostgreSQL restarted, the backend killed), the caches fall back to
//! their TTLs — the bound that held before — and the listener reconnects with back-off; on every (re)connect it
//! moves the epoch once, for what it may have missed. SQLite is one node: its writes already move the one epoch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::{DbConn, Epoch};

/// The channel of the invalidation notifications.
pub const CHANNEL: &str = "bridgekeeper_invalidate";
/// `application_name` of the listening connection (so that an operator — or a test — can find it).
pub const APPLICATION_NAME: &str = "bridgekeeper-invalidation-listener";

/// How often the listener looks for notifications that arrived (a non-blocking read of the socket).
const POLL: Duration = Duration::from_millis(5);
/// How often it proves the connection alive with a query (a half-open TCP connection reads as silence).
const KEEPALIVE: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Sends the invalidation notification (after an invalidating write on PostgreSQL; nothing on SQLite). A failure
/// is logged, not returned: the write is done, and the other instances still see it within their TTLs.
/// The payload is the sending `Db`'s own id (hex), so that its own listener skips what this instance already
/// invalidated when it wrote.
pub(super) fn notify(conn: &mut DbConn, sender: &str) {
    if let DbConn::Postgres(c) = conn
        && let Err(e) = diesel::sql_query(format!("NOTIFY {CHANNEL}, '{sender}'")).execute(c)
    {
        tracing::warn!(error = %e, "invalidation not sent; other instances see the change within their cache TTLs");
    }
}

/// Whether the listener is connected now (the `invalidation_listener_up` gauge reads it), and how many times it
/// has connected.
#[derive(Debug, Clone, Default)]
pub struct ListenerState(Arc<(AtomicBool, AtomicU64)>);

impl ListenerState {
    pub fn is_up(&self) -> bool {
        self.0.0.load(Ordering::Acquire)
    }

    pub fn connects(&self) -> u64 {
        self.0.1.load(Ordering::Acquire)
    }

    fn set_up(&self, up: bool) {
        if up {
            self.0.1.fetch_add(1, Ordering::AcqRel);
        }
        self.0.0.store(up, Ordering::Release);
    }
}

/// Starts the listening thread for `url`. It ends by itself when every handle of `epoch` is gone (the `Db` was
/// dropped), within one poll interval.
pub(super) fn spawn(url: String, epoch: &Epoch, own: String) -> ListenerState {
    let state = ListenerState::default();
    let weak = epoch.downgrade();
    let up = state.clone();
    let spawned = std::thread::Builder::new().name("bk-invalidate".into()).spawn(move || {
        let mut backoff = BACKOFF_MIN;
        loop {
            match connect(&url) {
                Ok(mut conn) => {
                    backoff = BACKOFF_MIN;
                    let Some(epoch) = Epoch::upgrade(&weak) else { return };
                    // Whatever was written while nobody listened may be cached here: count it as changed.
                    epoch.bump();
                    drop(epoch);
                    up.set_up(true);
                    let ended = listen(&mut conn, &weak, &own);
                    up.set_up(false);
                    match ended {
                        Ended::Dropped => return,
                        Ended::Broken(e) => {
                            tracing::warn!(error = %e, "invalidation listener lost its connection; reconnecting")
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "invalidation listener cannot connect; retrying"),
            }
            if !wait(backoff, &weak) {
                return;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "invalidation listener not started; caches rely on their TTLs");
    }
    state
}

enum Ended {
    /// The `Db` is gone: nothing left to invalidate.
    Dropped,
    Broken(String),
}

fn connect(url: &str) -> Result<diesel::PgConnection, String> {
    let mut c = diesel::PgConnection::establish(url).map_err(|e| e.to_string())?;
    diesel::sql_query(format!("SET application_name = '{APPLICATION_NAME}'"))
        .execute(&mut c)
        .and_then(|_| diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut c))
        .map_err(|e| e.to_string())?;
    Ok(c)
}

/// Polls for notifications until the connection breaks or the `Db` is dropped.
fn listen(conn: &mut diesel::PgConnection, weak: &std::sync::Weak<AtomicU64>, own: &str) -> Ended {
    let mut proved = Instant::now();
    loop {
        let Some(epoch) = Epoch::upgrade(weak) else { return Ended::Dropped };
        let mut arrived = false;
        for n in conn.notifications_iter() {
            match n {
                // This instance's own writes moved its epoch when they were made.
                Ok(n) => arrived |= n.payload != own,
                Err(e) => return Ended::Broken(e.to_string()),
            }
        }
        if arrived {
            epoch.bump();
        }
        drop(epoch);
        if proved.elapsed() >= KEEPALIVE {
            if let Err(e) = diesel::sql_query("SELECT 1").execute(conn) {
                return Ended::Broken(e.to_string());
            }
            proved = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

/// Sleeps `d` in poll-sized steps; false when the `Db` went away meanwhile.
fn wait(d: Duration, weak: &std::sync::Weak<AtomicU64>) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if weak.strong_count() == 0 {
            return false;
        }
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    weak.strong_count() > 0
}
