//! The shared state every handler reaches through `web::Data<AppState>`: settings, the database, the clock, the
//! templates, the upstream registry, caches. No globals: two apps can run in one process. Wiring (start-up, the
//! actix `App`, middleware) lives in `server`, which is the only module that knows every other one.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::respond::Templates;
use crate::settings::Settings;
use crate::store::Db;
use crate::tokens::KeyRing;

/// Everything a handler can reach. No globals: two apps can run in one process.
pub struct AppState {
    /// [HR-7] The settings in force, swapped whole by a reload (restart-only keys kept as they started); read
    /// through `settings()`, which inside a request is the snapshot the request began with.
    pub(crate) settings: RwLock<Arc<Settings>>,
    pub db: Db,
    pub clock: Clock,
    pub templates: Templates,
    /// [HR-4] The providers in force, swapped whole by a reload; read through `upstreams()`.
    pub(crate) upstreams: RwLock<Arc<crate::upstream::Registry>>,
    pub sealer: Arc<crate::crypto::Sealer>,
    /// The abuse limits; a reload that changes `[rate_limits]` puts new ones in force ([HR-7]).
    pub(crate) limits: RwLock<Arc<crate::ratelimit::Limits>>,
    /// [LD-7] Password sign-ins' per-account failure budgets and turns. Not part of `limits`: no reload (of
    /// `[rate_limits]` or of a provider) starts them afresh, so that a reload never gives a guesser new tries.
    pub passwords: crate::ratelimit::PasswordBudgets,
    pub caches: Caches,
    /// Prometheus metrics of this app (its own registry), served on `metrics_bind`.
    pub metrics: crate::metrics::Metrics,
    /// Key of the CSRF form tokens (HMAC-SHA256), shared by every instance through the database.
    pub csrf_key: aws_lc_rs::hmac::Key,
    /// [RL-6] Key of the shared failure budgets' stored keys (HMAC-SHA256), derived from the same shared secret.
    pub shared_keys: crate::ratelimit::SharedKeys,
    /// [DP-3] Key of the DPoP server nonces (HMAC-SHA256), derived from the same shared secret with HKDF.
    pub dpop_nonce_key: aws_lc_rs::hmac::Key,
    /// [DP-2] The `jti`s of accepted DPoP proofs, written in batches (group commit).
    pub dpop_jtis: crate::store::replay_batch::Batcher,
    /// `trusted_proxies`, parsed.
    pub proxies: Vec<ipnet::IpNet>,
    /// Wakes this instance's back-channel logout worker when a session ended here ([BL-5]).
    pub logout_wake: Arc<tokio::sync::Notify>,
    /// The ids of the `[[clients]]` in force. Held for the whole of a reload, so reloads run one at a time ([HR-1]:
    /// two that overlap could otherwise put the older file set in force last).
    pub(crate) static_clients: tokio::sync::Mutex<Vec<String>>,
    pub(crate) keys: RwLock<Arc<KeyRing>>,
    pub(crate) discovery: RwLock<Arc<[u8]>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("issuer", &self.settings().issuer).field("db", &self.db).finish()
    }
}

/// How long another instance's change (a revocation, a disabled client) can go unseen here.
pub const TOKEN_CACHE_SECS: u64 = 2;
pub const CLIENT_CACHE_SECS: u64 = 5;
/// [PJ-7] How long keys fetched from a client's `jwks_uri` are used before they are fetched again.
pub const CLIENT_JWKS_CACHE_SECS: u64 = 300;

type Verdict = std::sync::Arc<(crate::tokens::claims::AccessClaims, Option<crate::store::users::User>)>;

/// Read-through caches of what can be re-read from the database (entries carry `Db::epoch`).
pub struct Caches {
    pub clients: moka::sync::Cache<String, (u64, Option<crate::store::clients::Client>)>,
    pub tokens: moka::sync::Cache<String, (u64, Verdict)>,
    /// [TX-1] One lock per identity whose upstream tokens are being refreshed here (callers queue on it).
    pub vault_locks: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
    /// [PJ-7] Keys fetched from admin-registered clients' `jwks_uri`: client id -> (uri, fetched at, JWK Set, or
    /// `None` when that fetch failed: a failure is remembered like a success).
    pub client_jwks: moka::sync::Cache<String, (String, i64, Option<Arc<serde_json::Value>>)>,
    /// [PJ-7] One fetch of a client's `jwks_uri` at a time (concurrent requests wait for it and share its result).
    pub client_jwks_fetching: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
}

impl Default for Caches {
    fn default() -> Self {
        Caches {
            clients: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(CLIENT_CACHE_SECS))
                .build(),
            tokens: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(TOKEN_CACHE_SECS))
                .build(),
            vault_locks: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(120))
                .build(),
            client_jwks: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(CLIENT_JWKS_CACHE_SECS))
                .build(),
            client_jwks_fetching: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(CLIENT_JWKS_CACHE_SECS))
                .build(),
        }
    }
}

tokio::task_local! {
    /// [HR-7] The settings a request began with: (the `AppState` they belong to, the snapshot).
    static REQUEST_SETTINGS: (usize, Arc<Settings>);
}

/// Request id attached to every request (log lines, `X-Request-Id` header, error pages).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Reads a swappable value (a poisoned lock still holds a whole value: it is only ever replaced whole).
fn read<T: ?Sized>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    match lock.read() {
        Ok(v) => v.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Replaces a swappable value whole.
fn replace<T: ?Sized>(lock: &RwLock<Arc<T>>, next: Arc<T>) {
    match lock.write() {
        Ok(mut v) => *v = next,
        Err(poisoned) => *poisoned.into_inner() = next,
    }
}

impl AppState {
    /// [HR-7] The settings: inside a request the snapshot it began with (`keep_settings`), so that one request never
    /// mixes two reloads; elsewhere (tasks, start-up) the ones in force. Cheap: an `Arc` clone.
    pub fn settings(&self) -> Arc<Settings> {
        let me = self as *const AppState as usize;
        match REQUEST_SETTINGS.try_with(|(owner, s)| (*owner == me).then(|| s.clone())) {
            Ok(Some(s)) => s,
            _ => read(&self.settings),
        }
    }

    /// [HR-7] The settings in force now, whatever snapshot the caller's request holds (a reload, and what it
    /// rebuilds, compares with and builds from these).
    pub(crate) fn settings_in_force(&self) -> Arc<Settings> {
        read(&self.settings)
    }

    /// [HR-7] Runs `f` (a request's handling) with the settings in force now as its snapshot.
    pub async fn keep_settings<F: std::future::Future>(&self, f: F) -> F::Output {
        let me = self as *const AppState as usize;
        REQUEST_SETTINGS.scope((me, read(&self.settings)), f).await
    }

    /// [HR-7] Runs blocking `f` (a request's work moved to a blocking thread, where the task-local is not) with the
    /// request's snapshot `settings`.
    pub fn with_settings<R>(&self, settings: Arc<Settings>, f: impl FnOnce() -> R) -> R {
        let me = self as *const AppState as usize;
        REQUEST_SETTINGS.sync_scope((me, settings), f)
    }

    /// [HR-7] Puts new settings in force (requests already running keep theirs).
    pub(crate) fn swap_settings(&self, next: Settings) {
        replace(&self.settings, Arc::new(next));
    }

    /// The abuse limits in force.
    pub fn limits(&self) -> Arc<crate::ratelimit::Limits> {
        read(&self.limits)
    }

    /// [RL-1] [RL-6] After a failure: charged to this instance's budgets and, with `rate_limits.shared`, to the
    /// cluster's (one round trip, paid by failures only).
    pub async fn failed(&self, ip: std::net::IpAddr, client: Option<&str>) -> crate::ratelimit::Failure {
        let settings = self.settings();
        crate::ratelimit::shared::failed(self.limits(), self.shared(&settings), ip, client).await
    }

    /// [RL-6] What charging the shared budgets needs, under `settings`.
    pub(crate) fn shared<'a>(&'a self, settings: &'a Settings) -> crate::ratelimit::shared::Shared<'a> {
        crate::ratelimit::shared::Shared {
            db: &self.db,
            keys: &self.shared_keys,
            settings: &settings.rate_limits,
            now: self.clock.now(),
        }
    }

    pub(crate) fn swap_limits(&self, next: crate::ratelimit::Limits) {
        replace(&self.limits, Arc::new(next));
    }

    /// The key ring in force (cheap: an `Arc` clone).
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// [HR-4] The providers in force (cheap: an `Arc` clone). A request that reads several things of one
    /// provider takes one snapshot and keeps it.
    pub fn upstreams(&self) -> Arc<crate::upstream::Registry> {
        read(&self.upstreams)
    }

    /// [HR-4] Puts a whole new provider set in force, in one step.
    pub(crate) fn swap_upstreams(&self, next: crate::upstream::Registry) {
        replace(&self.upstreams, Arc::new(next));
    }

    /// The discovery document, pre-serialised.
    pub fn discovery_json(&self) -> Arc<[u8]> {
        match self.discovery.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
