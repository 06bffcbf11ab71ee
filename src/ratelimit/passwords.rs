//! [LD-7] [LD-7a] [LD-7b] The failure budgets of password sign-ins (kind `ldap`), one per account at a
//! provider, each behind its own async lock: the lock is the account's turn (one password attempt in flight per
//! account: concurrent posts queue, and each sees the failures of the ones before it), and what it guards is the
//! account's [`Failures`]. Held in a moka cache like the other per-key locks (`state::Caches::vault_locks`),
//! idle entries dropped after the longest window. Per instance: with several instances, each counts alone.
//!
//! Keys are SHA-256 of (provider, kind, value), so their size never depends on what was typed; the value is the
//! entry's stable subject (`entry`) or the typed name's normalised form (`name`, [`account_name`]).

use std::sync::Arc;
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

pub struct PasswordBudgets {
    accounts: moka::sync::Cache<String, Arc<Mutex<Failures>>>,
}

impl Default for PasswordBudgets {
    fn default() -> Self {
        PasswordBudgets {
            accounts: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(Duration::from_secs(MAX_WINDOW_SECS))
                .build(),
        }
    }
}

fn key(provider: &str, account: Account<'_>) -> String {
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

    /// The directory said the password is wrong.
    pub fn failed(mut self, now: i64) {
        self.failures.charge(self.budget, now);
    }

    /// The directory accepted the password: the count starts again (as the directory's does).
    pub fn succeeded(mut self) {
        self.failures.clear();
    }
}

impl PasswordBudgets {
    fn entry(&self, provider: &str, account: Account<'_>) -> Arc<Mutex<Failures>> {
        self.accounts.get_with(key(provider, account), || Arc::new(Mutex::new(Failures::default())))
    }

    /// [LD-7] Before the directory is asked at all: `Err(seconds to wait)` when this account's budget is known
    /// to be spent. Reads without queueing (an account with an attempt in flight is decided under its turn).
    pub fn spent(&self, provider: &str, account: Account<'_>, budget: Budget, now: i64) -> Result<(), u64> {
        match self.accounts.get(&key(provider, account)) {
            Some(m) => match m.try_lock() {
                Ok(f) => f.admit(budget, now).map_err(|w| u64::try_from(w).unwrap_or(1)),
                Err(_) => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// [LD-7b] Waits (at most `wait`) for the account's turn; `None` when the attempt in flight took longer.
    pub async fn turn(&self, provider: &str, account: Account<'_>, budget: Budget, wait: Duration) -> Option<Turn> {
        let m = self.entry(provider, account);
        let failures = tokio::time::timeout(wait, m.lock_owned()).await.ok()?;
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
        first.failed(100);
        let second = p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap();
        assert!(second.admit(100).is_ok());
        second.failed(100);
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
        p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap().failed(10);
        p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap().succeeded();
        p.turn("corp", a, B, Duration::from_secs(1)).await.unwrap().failed(10);
        assert!(p.spent("corp", a, B, 10).is_ok(), "one failure since the success");
    }
}
