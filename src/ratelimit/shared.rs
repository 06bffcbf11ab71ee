//! [RL-6] The failure budgets counted by every instance together (`rate_limits.shared`, PostgreSQL). Each
//! instance keeps its own budgets as before (`Limits`, `PasswordBudgets`) and, when shared, also charges every
//! failure to a row of `failure_counts` in one statement whose answer, the count of the whole cluster, decides
//! whether the key is over budget; the key then waits locally, as for its own count. Admission (`Limits::admit`,
//! `PasswordBudgets::spent`) reads memory only: a request that does not fail never pays a round trip.
//!
//! Keys are HMAC-SHA256 under a key derived from the instances' shared server secret, so the table holds no
//! address, client id or account name (and an IPv4 address cannot be recovered by trying every one).
//! A database failure while charging fails closed: the request is answered as the failure it was, and its keys
//! wait a whole window locally (no free extra try); a password is not sent to the directory at all.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use bridgekeeper_core::password_budget::{Budget, Failures};
use bridgekeeper_core::shared_budget::over_budget;

use super::{Failure, Limits};
use crate::settings::RateLimitSettings;
use crate::store::failure_counts::{self, WINDOW_SECS};
use crate::store::{Db, StoreError};

/// The key under which budget keys are hashed for the shared table.
pub struct SharedKeys {
    key: hmac::Key,
}

const KEY_SALT: &[u8] = b"bridgekeeper key derivation v1";
const KEY_INFO: &[u8] = b"bridgekeeper shared failure budgets v1";

impl SharedKeys {
    /// Derived (HKDF-SHA256) from the secret every instance shares (the CSRF secret, in the database).
    pub fn new(shared_secret: &[u8]) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(KEY_SALT), shared_secret);
        let mut okm = [0u8; 32];
        // 32 bytes are far below HKDF-SHA256's limit: `expand` cannot fail here.
        let _ = hk.expand(KEY_INFO, &mut okm);
        SharedKeys { key: hmac::Key::new(hmac::HMAC_SHA256, &okm) }
    }

    /// The stored form of a budget key (hex).
    pub fn hash(&self, what: &str) -> String {
        let tag = hmac::sign(&self.key, what.as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the instance needs to charge a failure to the shared budgets.
pub struct Shared<'a> {
    pub db: &'a Db,
    pub keys: &'a SharedKeys,
    pub settings: &'a RateLimitSettings,
    pub now: i64,
}

/// After a failure: charged to this instance's budgets as always (`Limits::failed`) and, with
/// `rate_limits.shared`, to the cluster's windows; a key the cluster counts over budget waits here from now on.
pub async fn failed(limits: Arc<Limits>, shared: Shared<'_>, ip: IpAddr, client: Option<&str>) -> Failure {
    let local = limits.failed(ip, client);
    if !shared.settings.shared {
        return local;
    }
    let Some(keys) = limits.failure_keys(ip, client) else {
        return local;
    };
    let hashed = keys.clone().map(|k| shared.keys.hash(&k));
    let now = shared.now;
    let start = now - now.rem_euclid(WINDOW_SECS);
    let charged = shared.db.run(move |c| failure_counts::charge_windows(c, [&hashed[0], &hashed[1]], start, now)).await;
    let limit = [shared.settings.address_failures_per_minute, shared.settings.failures_per_minute];
    match charged {
        Ok(counts) => {
            for ((key, (current, previous)), limit) in keys.iter().zip(counts).zip(limit) {
                if let Some(wait) = over_budget(limit, WINDOW_SECS, previous, current, now - start) {
                    limits.block_for(key, Duration::from_secs(wait));
                }
            }
        }
        Err(e) => {
            tracing::warn!(target: "security", error = %e, "the shared failure budget could not be charged: the address waits a window here");
            for key in &keys {
                limits.block_for(key, Duration::from_secs(WINDOW_SECS as u64));
            }
        }
    }
    local
}

/// What the cluster says about a password attempt this instance charged to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountCharge {
    /// Within the budget: the directory may be asked. The account's failures as the cluster counts them.
    Within(Failures),
    /// Spent at some instance already: refused without a bind (the charge moved nothing).
    Spent(Failures),
}

/// [LD-7] [RL-6] A password attempt charged to the account's cluster-wide budget (before the bind, as locally).
pub async fn charge_account(shared: Shared<'_>, account_key: &str, b: Budget) -> Result<AccountCharge, StoreError> {
    let key = shared.keys.hash(account_key);
    let (now, window, max) = (shared.now, b.window_secs, i64::from(b.max_failures));
    let (count, last) = shared.db.run(move |c| failure_counts::charge_account(c, &key, now, window, max)).await?;
    let (failures, within) = Failures::shared(b, count, last);
    Ok(if within { AccountCharge::Within(failures) } else { AccountCharge::Spent(failures) })
}

/// [LD-7] The directory accepted the account's password: the count starts again at every instance. A failure to
/// clear it is logged and leaves the count (the safe direction: fewer tries, never more).
pub async fn clear_account(db: &Db, keys: &SharedKeys, account_key: &str) {
    let key = keys.hash(account_key);
    if let Err(e) = db.run(move |c| failure_counts::clear_account(c, &key)).await {
        tracing::warn!(error = %e, "the shared account budget could not be cleared after a successful sign-in");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rl_6_stored_keys_are_hmacs_that_name_no_address() {
        let k = SharedKeys::new(b"one shared secret");
        let h = k.hash("ip:198.51.100.7");
        assert_eq!(h.len(), 64);
        assert!(!h.contains("198.51"), "no address in the stored key");
        assert_eq!(h, SharedKeys::new(b"one shared secret").hash("ip:198.51.100.7"), "every instance agrees");
        assert_ne!(h, SharedKeys::new(b"another secret").hash("ip:198.51.100.7"));
        assert_ne!(h, crate::secret::hash_token("ip:198.51.100.7"), "not a plain hash anyone can recompute");
    }
}
