//! [LD-7] [LD-7a] [LD-7b] The failure budgets of password sign-ins (kind `ldap`), one per account at a
//! provider, each behind its own async lock: the lock is the account's turn (one password attempt in flight per
//! account: concurrent posts queue, and each sees the failures of the ones before it), and what it guards is the
//! account's [`Failures`]. Held in a moka cache like the other per-key locks (`state::Caches::vault_locks`),
//! idle entries dropped after the longest window. Per instance: with several instances, each counts alone, unless
//! `rate_limits.shared` ([RL-6]) also charges each attempt to the cluster's count, which this one then follows.
//!
//! Keys are SHA-256 of (provider, kind, value), so their size never depends on what was typed; the value is the
//! entry's stable subject (`entry`) or the typed name's normalised form (`name`, [`account_name`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use bridgekeeper_core::password_budget::account_name;
use bridgekeeper_core::password_budget::{Budget, Failures, MAX_WINDOW_SECS};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Whose budget: the entry the directory found, or the name typed (normalised) when it found none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account<'a> {
    Entry(&'a str),
    Name(&'a str),
}

/// One account's budget behind its turn, and whether an attempt already waits for the turn.
struct Slot {
    failures: Arc<Mutex<Failures>>,
    waiting: AtomicBool,
}

pub struct PasswordBudgets {
    accounts: moka::sync::Cache<String, Arc<Slot>>,
    /// [LD-7b] Password attempts in flight per source address (IPv4, IPv6 /64).
    inflight: Arc<std::sync::Mutex<HashMap<IpAddr, u32>>>,
}

impl Default for PasswordBudgets {
    fn default() -> Self {
        PasswordBudgets {
            accounts: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(Duration::from_secs(MAX_WINDOW_SECS))
                .build(),
            inflight: Arc::default(),
        }
    }
}

/// [LD-7b] One password attempt in flight from an address; the count drops when it ends.
pub struct Inflight {
    map: Arc<std::sync::Mutex<HashMap<IpAddr, u32>>>,
    ip: IpAddr,
}

impl Drop for Inflight {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Clears the "an attempt waits" mark however the wait ends.
struct Waiting<'a>(&'a AtomicBool);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The key of an account's budget (also what [RL-6]'s shared count is keyed by, hashed again).
pub fn key(provider: &str, account: Account<'_>) -> String {
    let (kind, value) = match account {
        Account::Entry(v) => ("entry", v),
        Account::Name(v) => ("name", v),
    };
    crate::secret::hash_token(&format!("{provider}\0{kind}\0{value}"))
}

/// An account's turn: while it is held no other attempt for the account is in flight here.
pub struct Turn {
    failures: OwnedMutexGuard<Failures>,
    budget: Budget,
}

impl Turn {
    /// [LD-7] `Err(seconds to wait)` when the account's budget is spent: the directory must not be asked.
    pub fn admit(&self, now: i64) -> Result<(), u64> {
        self.failures.admit(self.budget, now).map_err(|w| u64::try_from(w).unwrap_or(1))
    }

    /// [LD-7] A password is about to be sent: charged before the bind, so that an answer the broker never sees
    /// (a timeout, a dropped request, a crash) still counts; only the directory's success clears it.
    pub fn charge(&mut self, now: i64) {
        self.failures.charge(self.budget, now);
    }

    /// [LD-7b] The account this name reached is spent: the name is spent too, so that its next try is refused
    /// before the search.
    pub fn spend(&mut self, now: i64) {
        while self.failures.admit(self.budget, now).is_ok() {
            self.failures.charge(self.budget, now);
        }
    }

    /// [RL-6] The account's failures as every instance counts them together (after this one charged its attempt
    /// there too), so that this instance's count follows the cluster's.
    pub fn adopt(&mut self, shared: Failures) {
        *self.failures = shared;
    }

    /// The directory accepted the password: the count starts again (as the directory's does).
    pub fn succeeded(mut self) {
        self.failures.clear();
    }
}

impl PasswordBudgets {
    fn entry(&self, provider: &str, account: Account<'_>) -> Arc<Slot> {
        self.accounts.get_with(key(provider, account), || {
            Arc::new(Slot { failures: Arc::new(Mutex::new(Failures::default())), waiting: AtomicBool::new(false) })
        })
    }

    /// [LD-7b] An attempt from this address may start (at most `max` in flight per IPv4 address or IPv6 /64);
    /// `None` beyond that, before any connection is taken.
    pub fn enter(&self, ip: IpAddr, max: u32) -> Option<Inflight> {
        let ip = crate::ratelimit::budget_key(ip);
        let mut m = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Inflight { map: self.inflight.clone(), ip })
    }

    /// [LD-7] Before the directory is asked at all: `Err(seconds to wait)` when this account's budget is known
    /// to be spent. Reads without queueing (an account with an attempt in flight is decided under its turn).
    pub fn spent(&self, provider: &str, account: Account<'_>, budget: Budget, now: i64) -> Result<(), u64> {
        match self.accounts.get(&key(provider, account)) {
            Some(m) => match m.failures.try_lock() {
                Ok(f) => f.admit(budget, now).map_err(|w| u64::try_from(w).unwrap_or(1)),
                Err(_) => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// [LD-7b] Waits (at most `wait`) for the account's turn; `None` when the attempt in flight took longer, or
    /// at once when another attempt already waits for it (at most one in flight and one waiting per account, so
    /// that queueing on one account cannot hold the directory's connections).
    pub async fn turn(&self, provider: &str, account: Account<'_>, budget: Budget, wait: Duration) -> Option<Turn> {
        let slot = self.entry(provider, account);
        if let Ok(failures) = slot.failures.clone().try_lock_owned() {
            return Some(Turn { failures, budget });
        }
        if slot.waiting.swap(true, Ordering::SeqCst) {
            return None;
        }
        let _waiting = Waiting(&slot.waiting);
        let failures = tokio::time::timeout(wait, slot.failures.clone().lock_owned()).await.ok()?;
        Some(Turn { failures, budget })
    }

    /// The number of accounts with a budget kept (for tests: bounded by what was typed, [LD-7c]).
    pub fn len(&self) -> u64 {
        self.accounts.run_pending_tasks();
        self.accounts.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Budget = Budget { max_failures: 2, window_secs: 60 };

    #[tokio::test]
    async fn ld_7b_one_turn_per_account_and_each_sees_the_failures_before_it() {
        let p = PasswordBudgets::default();
        let a = Account::Entry("uuid-ada");
        let first = p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap();
        // A second attempt for the same account waits for the first (here: gives up after its wait).
        assert!(p.turn("corp", a, B, Duration::from_millis(20)).await.is_none());
        // Other accounts, and the same subject at another provider, are not held back.
        assert!(p.turn("corp", Account::Entry("uuid-bob"), B, Duration::from_millis(20)).await.is_some());
        assert!(p.turn("other", a, B, Duration::from_millis(20)).await.is_some());
        assert!(p.turn("corp", Account::Name("uuid-ada"), B, Duration::from_millis(20)).await.is_some());
        let mut first = first;
        first.charge(100);
        drop(first);
        let second = p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap();
        assert!(second.admit(100).is_ok());
        let mut second = second;
        second.charge(100);
        drop(second);
        let third = p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap();
        assert_eq!(third.admit(101), Err(59));
        drop(third);
        assert_eq!(p.spent("corp", a, B, 101), Err(59));
        assert!(p.spent("corp", a, B, 160).is_ok());
    }

    #[tokio::test]
    async fn ld_7_success_clears_the_account() {
        let p = PasswordBudgets::default();
        let a = Account::Name("ada");
        p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap().charge(10);
        p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap().succeeded();
        p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap().charge(10);
        assert!(p.spent("corp", a, B, 10).is_ok(), "one failure since the success");
    }

    #[tokio::test]
    async fn ld_7b_one_attempt_waits_per_account_and_the_next_is_turned_away_at_once() {
        let p = PasswordBudgets::default();
        let a = Account::Entry("uuid-ada");
        let first = p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap();
        let waiter = p.turn("corp", a, B, Duration::from_secs(60));
        tokio::pin!(waiter);
        // The first waiter is parked on the lock (polled once), the next is refused without waiting.
        assert!(futures_util::FutureExt::now_or_never(&mut waiter).is_none());
        assert!(p.turn("corp", a, B, Duration::from_secs(60)).await.is_none());
        drop(first);
        assert!(waiter.await.is_some());
        assert!(p.turn("corp", a, B, Duration::from_secs(1)).await.is_some(), "the mark is cleared");
    }

    #[test]
    fn ld_7b_attempts_in_flight_are_capped_per_address_and_released() {
        let p = PasswordBudgets::default();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let (a, b) = (p.enter(ip, 2).unwrap(), p.enter(ip, 2).unwrap());
        assert!(p.enter(ip, 2).is_none());
        // The same IPv6 /64 is one address.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        let _c = p.enter(v6a, 1).unwrap();
        assert!(p.enter(v6b, 1).is_none());
        assert!(p.enter("198.51.100.2".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(p.enter(ip, 2).is_some());
        drop(b);
    }
}
