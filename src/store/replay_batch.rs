//! [DP-2] Group commit of single-use marks (the `jti`s of DPoP proofs): requests that arrive while a batch is being
//! written queue up, and the next batch writes all of them with one pooled connection, one statement and one
//! commit, instead of a checkout, an insert and a commit each. Nothing waits for a batch to fill: an idle broker
//! writes a lone mark at once, a loaded one writes what queued during the previous commit. The database still
//! decides (the primary key), so a mark is refused as a replay on every instance exactly as when written alone.
//!
//! No task outlives its work: a drainer is spawned when marks are waiting and fewer than [`DRAINERS`] run, and
//! ends when the queue is empty. No request waits forever: a dropped drainer (its runtime shut down) answers what
//! it took, and the last one what is queued, "unavailable" (see [`Running`]).

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::{Db, DbConn, StoreError, StoreResult};

/// Batches written at once (each on its own pooled connection).
pub const DRAINERS: usize = 2;
/// Marks in one statement.
pub const MAX_BATCH: usize = 256;
/// Marks waiting at most; past it a request is answered "unavailable" rather than queued without bound.
pub const MAX_QUEUED: usize = 20_000;

/// Writes many marks at once; for each, in order, whether it was new.
pub type WriteMany = fn(&mut DbConn, &[(String, i64)]) -> StoreResult<Vec<bool>>;

struct Job {
    key: String,
    until: i64,
    reply: oneshot::Sender<StoreResult<bool>>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    drainers: usize,
}

/// A group-committing writer of one table's marks; cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    db: Db,
    write: WriteMany,
    queue: Arc<Mutex<Queue>>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("db", &self.db).finish_non_exhaustive()
    }
}

fn lock(q: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // The queue is only pushed to and drained whole: a panic elsewhere never leaves it half-changed.
    q.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Batcher {
    pub fn new(db: Db, write: WriteMany) -> Self {
        Batcher { db, write, queue: Arc::default() }
    }

    /// Remembers `key` until `until`; `false` when it was remembered before (here, at another instance, or earlier
    /// in the same batch).
    pub async fn remember(&self, key: String, until: i64) -> StoreResult<bool> {
        let (reply, answer) = oneshot::channel();
        let start_drainer = {
            let mut q = lock(&self.queue);
            if q.jobs.len() >= MAX_QUEUED {
                return Err(StoreError::Unavailable("too many single-use marks waiting to be written".into()));
            }
            q.jobs.push(Job { key, until, reply });
            let start = q.drainers < DRAINERS;
            q.drainers += usize::from(start);
            start
        };
        if start_drainer {
            // The guard exists before the task: a task dropped before it first runs still gives its slot back.
            let running = Running { queue: self.queue.clone(), armed: true };
            tokio::spawn(drain(self.clone(), running));
        }
        answer.await.map_err(|_| StoreError::Unavailable("the single-use mark was not written".into()))?
    }
}

/// Counts a drainer out however it ends. A drainer dropped unfinished (its runtime shut down, also before it first
/// ran) answers its taken batch "unavailable" through the dropped replies; when it was the last drainer, the marks
/// still queued are answered "unavailable" too (no drainer would take them until the next mark arrives, and their
/// requests must not wait for one). A drainer that finds the queue empty counts itself out under the queue's lock
/// (so that a mark pushed right after always finds a free slot) and disarms this.
struct Running {
    queue: Arc<Mutex<Queue>>,
    armed: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let orphans = {
            let mut q = lock(&self.queue);
            q.drainers = q.drainers.saturating_sub(1);
            if q.drainers == 0 { std::mem::take(&mut q.jobs) } else { Vec::new() }
        };
        reply_all(orphans, || StoreError::Unavailable("the single-use mark writer stopped".into()));
    }
}

/// Writes batches until the queue is empty.
async fn drain(b: Batcher, mut running: Running) {
    loop {
        let batch: Vec<Job> = {
            let mut q = lock(&b.queue);
            if q.jobs.is_empty() {
                q.drainers = q.drainers.saturating_sub(1);
                running.armed = false;
                return;
            }
            let n = q.jobs.len().min(MAX_BATCH);
            q.jobs.drain(..n).collect()
        };
        let marks: Vec<(String, i64)> = batch.iter().map(|j| (j.key.clone(), j.until)).collect();
        let write = b.write;
        let result = b.db.run(move |c| write(c, &marks)).await;
        match result {
            Ok(fresh) if fresh.len() == batch.len() => {
                for (job, new) in batch.into_iter().zip(fresh) {
                    let _ = job.reply.send(Ok(new));
                }
            }
            Ok(_) => reply_all(batch, || StoreError::Corrupt("a batch of marks was answered short".into())),
            Err(e) => {
                let msg = e.to_string();
                reply_all(batch, || StoreError::Unavailable(msg.clone()));
            }
        }
    }
}

fn reply_all(batch: Vec<Job>, err: impl Fn() -> StoreError) {
    for job in batch {
        let _ = job.reply.send(Err(err()));
    }
}
