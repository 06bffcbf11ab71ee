//! One keyed failure or request budget (governor), and how it carries over a reload ([HR-7a]).

use std::sync::Arc;
use std::time::Instant;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

pub(super) type NotUntil = governor::NotUntil<<DefaultClock as Clock>::Instant>;

/// One keyed budget. [HR-7a] After a reload that changed its quota, the limiters it replaced are charged too
/// until each has refilled (a key over any of them is over budget).
pub(super) struct Budget<K: std::hash::Hash + Eq + Clone> {
    quota: Quota,
    limiter: Arc<DefaultKeyedRateLimiter<K>>,
    /// Replaced limiters and when they have refilled (then they are dropped: at the next reload or `tidy`).
    replaced: std::sync::Mutex<Vec<(Arc<DefaultKeyedRateLimiter<K>>, Instant)>>,
}

impl<K: std::hash::Hash + Eq + Clone> Budget<K> {
    pub(super) fn new(quota: Quota) -> Self {
        Budget { quota, limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)), replaced: Default::default() }
    }

    /// The replaced limiters (a poisoned lock still holds whole entries).
    pub(super) fn replaced(&self) -> std::sync::MutexGuard<'_, Vec<(Arc<DefaultKeyedRateLimiter<K>>, Instant)>> {
        self.replaced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The budget with `quota` from now on: this one when the quota is the same.
    pub(super) fn after(&self, quota: Quota) -> Self {
        let now = Instant::now();
        let mut replaced: Vec<_> = self.replaced().iter().filter(|(_, until)| *until > now).cloned().collect();
        if quota == self.quota {
            return Budget { quota, limiter: self.limiter.clone(), replaced: replaced.into() };
        }
        replaced.push((self.limiter.clone(), now + self.quota.burst_size_replenished_in()));
        Budget { quota, limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)), replaced: replaced.into() }
    }

    /// Charges `key` one cell of every limiter in force; `Err` when any of them is out of cells, with the latest
    /// time at which all of them have a cell again (the longest wait).
    pub(super) fn check(&self, key: &K) -> Result<(), NotUntil> {
        let mut result = self.limiter.check_key(key);
        let now = Instant::now();
        for (old, _) in self.replaced().iter().filter(|(_, until)| *until > now) {
            match (old.check_key(key), &result) {
                (Err(e), Err(worst)) if e.earliest_possible() <= worst.earliest_possible() => {}
                (Err(e), _) => result = Err(e),
                (Ok(()), _) => {}
            }
        }
        result
    }

    pub(super) fn tidy(&self) {
        self.tidy_at(Instant::now());
    }

    /// Drops the replaced limiters that have refilled by `now`, and stale keys of the others.
    pub(super) fn tidy_at(&self, now: Instant) {
        self.limiter.retain_recent();
        let mut replaced = self.replaced();
        replaced.retain(|(_, until)| *until > now);
        for (old, _) in replaced.iter() {
            old.retain_recent();
        }
    }
}
