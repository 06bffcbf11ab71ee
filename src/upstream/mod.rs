//! Upstream identity providers, one TOML file each in `providers_dir`: the registry and the two-step contract
//! every kind fulfils (`begin` -> authorization URL, `finish` -> a verified `FederatedIdentity`).

pub mod apple;
pub mod config;
pub mod connector;
pub mod generation;
pub mod http;
mod identity;
pub mod ldap;
pub mod logout;
pub mod mapping;
pub mod oauth2;
pub mod oidc;
pub mod rejection;
pub mod saml;
mod tenants;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use config::{ProviderConfig, ProviderKind};
pub use connector::{Callback, CallbackConnector, HealthCheck, LogoutConnector, PasswordConnector, RefreshConnector};

pub use generation::{Changes, PENDING_LOGIN_SECS};
pub use identity::{FederatedIdentity, UpstreamTokens};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// Unreachable, slow, or answering garbage.
    Unavailable,
    /// Answered, but failed verification (state, nonce, PKCE, iss, aud, signature…).
    Rejected,
    /// The person (or the upstream) declined.
    Denied,
    /// [LD-7b] Every connection the broker keeps to this upstream is in use: try again in a moment.
    Busy,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("provider {provider}: {detail}")]
pub struct UpstreamError {
    pub provider: String,
    pub kind: UpstreamErrorKind,
    pub detail: String,
    /// [MT-4] Which check a `Rejected` answer failed (`Other` for the other kinds).
    pub reason: rejection::Rejection,
}

impl UpstreamError {
    pub fn new(provider: &str, kind: UpstreamErrorKind, detail: impl Into<String>) -> Self {
        UpstreamError { provider: provider.to_string(), kind, detail: detail.into(), reason: Default::default() }
    }

    /// [MT-4] The same error, naming the check that failed.
    pub fn because(self, reason: rejection::Rejection) -> Self {
        UpstreamError { reason, ..self }
    }
}

/// One configured provider: its settings and the capabilities its kind has.
pub struct Provider {
    pub cfg: Arc<ProviderConfig>,
    /// [HR-5] The generation of these settings (`generation::generation_of`), recorded with each pending login.
    pub generation: String,
    callback: Option<Arc<dyn CallbackConnector>>,
    refresh: Option<Arc<dyn RefreshConnector>>,
    health: Option<Arc<dyn HealthCheck>>,
    logout: Option<Arc<dyn LogoutConnector>>,
    password: Option<Arc<dyn PasswordConnector>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Provider({}, {:?})", self.cfg.id, self.cfg.kind)
    }
}

pub use bridgekeeper_core::freshness::Freshness;

/// One redirect to an upstream.
pub struct LoginRequest<'a> {
    /// The broker's base URL (SAML derives its entity id from it, [SA-10]).
    pub issuer: &'a str,
    pub redirect: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    pub nonce: &'a str,
    pub verifier: &'a str,
    pub freshness: Freshness,
}

/// The enabled providers, in file-name order. A snapshot: a reload builds the next one and swaps it in whole
/// (`AppState::upstreams`, [HR-4]).
pub struct Registry {
    order: Vec<String>,
    providers: HashMap<String, Arc<Provider>>,
    /// [HR-5] Previous generations of changed providers, while logins begun with them may come back.
    retired: std::sync::Mutex<Vec<generation::Retired>>,
    pub http: http::UpstreamHttp,
    /// [TB-1f] How long each provider's groups count after a sign-in.
    pub group_ages: GroupAges,
}

/// [TB-1f] `groups_max_age_secs` by provider id; providers no longer configured get the default.
#[derive(Debug, Clone, Default)]
pub struct GroupAges {
    by_provider: HashMap<String, i64>,
}

impl GroupAges {
    pub fn of(&self, provider: &str) -> i64 {
        self.by_provider.get(provider).copied().unwrap_or(config::DEFAULT_GROUPS_MAX_AGE_SECS)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({:?})", self.order)
    }
}

impl Registry {
    /// Builds the registry from the provider files; `dev` providers are refused unless `dev_mode`.
    pub fn load(
        dir: &std::path::Path,
        dev_mode: bool,
        timeout: Duration,
        env: &[(String, String)],
    ) -> Result<Self, String> {
        let http = http::UpstreamHttp::new(timeout)?;
        Ok(Self::from_configs(enabled(config::load_dir(dir, env)?, dev_mode), http))
    }

    /// A registry of these (enabled) providers, in this order.
    fn from_configs(configs: Vec<ProviderConfig>, http: http::UpstreamHttp) -> Self {
        let providers: Vec<Arc<Provider>> = configs.into_iter().map(|c| Arc::new(Provider::new(Arc::new(c)))).collect();
        Self::of(providers, Vec::new(), http)
    }

    fn of(list: Vec<Arc<Provider>>, retired: Vec<generation::Retired>, http: http::UpstreamHttp) -> Self {
        let order = list.iter().map(|p| p.cfg.id.clone()).collect();
        let group_ages =
            GroupAges { by_provider: list.iter().map(|p| (p.cfg.id.clone(), p.cfg.groups_max_age_secs)).collect() };
        let providers = list.into_iter().map(|p| (p.cfg.id.clone(), p)).collect();
        Registry { order, providers, retired: retired.into(), http, group_ages }
    }

    /// [HR-4] The registry after a reload that read the provider files again: built whole from this one (see
    /// `generation`), with an HTTP client of the (reloaded, [HR-7]) timeout; this one is not touched.
    pub fn reloaded(
        &self,
        dir: &std::path::Path,
        dev_mode: bool,
        timeout: Duration,
        env: &[(String, String)],
        now: i64,
    ) -> Result<Next, String> {
        let http = self.http.with_timeout(timeout)?;
        let (list, retired, changes) = self.succeed(enabled(config::load_dir(dir, env)?, dev_mode), now);
        Ok(Next { registry: Self::of(list, retired, http), changes })
    }

    #[cfg(test)]
    fn next(&self, configs: Vec<ProviderConfig>, now: i64) -> Next {
        let (list, retired, changes) = self.succeed(configs, now);
        Next { registry: Self::of(list, retired, self.http.clone()), changes }
    }

    /// [TX-1] [UL-5] The settings that keep upstream tokens, which are stored sealed: each is a problem without
    /// encryption keys (start-up and reload refuse them).
    pub fn sealing_problems(&self, sealer_enabled: bool) -> Vec<String> {
        if sealer_enabled {
            return Vec::new();
        }
        let mut out = Vec::new();
        for p in self.list() {
            let at = p.cfg.file.display();
            if p.cfg.logout_upstream != config::LogoutUpstream::Never {
                out.push(format!(
                    "{at}: key `logout_upstream`: needs encryption_keys (upstream ID tokens are stored encrypted)"
                ));
            }
            if p.cfg.store_tokens {
                out.push(format!(
                    "{at}: key `store_tokens`: needs encryption_keys (upstream tokens are stored encrypted)"
                ));
            }
            if p.cfg.refresh_upstream {
                out.push(format!(
                    "{at}: key `refresh_upstream`: needs encryption_keys (upstream refresh tokens are stored encrypted)"
                ));
            }
        }
        out
    }

    /// [TB-1c] (provider id, recorded issuer) of every OAuth2/GitHub provider.
    pub fn oauth2_issuers(&self) -> Vec<(String, String)> {
        self.list()
            .filter(|p| matches!(p.cfg.kind, ProviderKind::Oauth2 | ProviderKind::Github))
            .map(|p| (p.cfg.id.clone(), oauth2::oauth2_issuer(&p.cfg.id)))
            .collect()
    }

    /// The providers whose emails the admin trusts (`trust_email = true`).
    pub fn email_trusted_providers(&self) -> Vec<String> {
        self.list().filter(|p| p.cfg.trust_email).map(|p| p.cfg.id.clone()).collect()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.providers.get(id)
    }

    pub fn list(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.order.iter().filter_map(|id| self.providers.get(id))
    }

    /// Fetches discovery for every provider that has some; failures are logged, not fatal (retried at login).
    pub async fn warm_up(&self) {
        let all: Vec<String> = self.order.clone();
        self.warm_up_these(&all).await;
    }

    /// Fetches discovery for the providers `ids` (those a reload added or changed), one after another; each failure is
    /// logged and returned, not fatal: the provider is shown as down and discovery is tried again at login, as at
    /// start-up.
    pub async fn warm_up_these(&self, ids: &[String]) -> Vec<String> {
        let mut failed = Vec::new();
        for p in self.list().filter(|p| ids.contains(&p.cfg.id)) {
            if let Some(h) = p.health()
                && let Err(e) = h.check(&self.http).await
            {
                tracing::warn!(provider = %p.cfg.id, error = %e.detail, "upstream discovery failed; will retry at login");
                let detail = bridgekeeper_core::error::sanitize(&e.detail);
                failed.push(format!("{}: discovery failed ({detail}); shown as down, tried again at login", p.cfg.id));
            }
        }
        failed
    }

    /// Validates reachability of one provider (discovery for OIDC); kinds with nothing to fetch are fine.
    pub async fn check(&self, id: &str) -> Result<(), UpstreamError> {
        match self.get(id).and_then(|p| p.health()) {
            Some(h) => h.check(&self.http).await,
            None => Ok(()),
        }
    }
}

/// The providers `serve` uses: the enabled ones, `dev` only with `dev_mode`.
fn enabled(configs: Vec<ProviderConfig>, dev_mode: bool) -> Vec<ProviderConfig> {
    let mut out = Vec::new();
    for cfg in configs {
        if !cfg.enabled {
            continue;
        }
        if cfg.kind == ProviderKind::Dev && !dev_mode {
            tracing::warn!(file = %cfg.file.display(), "dev provider refused: it lets anyone sign in as anyone and needs dev_mode = true");
            continue;
        }
        out.push(cfg);
    }
    out
}

/// A registry built by a reload, and what changed.
pub struct Next {
    pub registry: Registry,
    pub changes: Changes,
}

impl Provider {
    /// The capabilities of the configured kind.
    fn new(cfg: Arc<ProviderConfig>) -> Self {
        let generation = generation::generation_of(&cfg);
        let mut p = Provider {
            cfg: cfg.clone(),
            generation,
            callback: None,
            refresh: None,
            health: None,
            logout: None,
            password: None,
        };
        match cfg.kind {
            ProviderKind::Oidc => {
                let o = Arc::new(oidc::Oidc::new(cfg));
                p.callback = Some(o.clone());
                p.refresh = Some(o.clone());
                p.health = Some(o.clone());
                p.logout = Some(o);
            }
            // Apple is OpenID Connect with a signed client secret and form_post; it has no sign-out endpoints.
            ProviderKind::Apple => {
                let o = Arc::new(oidc::Oidc::new(cfg));
                p.callback = Some(o.clone());
                p.refresh = Some(o.clone());
                p.health = Some(o);
            }
            ProviderKind::Oauth2 | ProviderKind::Github => {
                let o = Arc::new(oauth2::OAuth2::new(cfg));
                p.callback = Some(o.clone());
                p.refresh = Some(o);
            }
            // [SA-1] SAML: redirect out, POST back; metadata from a URL is fetched and checked like discovery.
            ProviderKind::Saml => {
                let s = Arc::new(saml::Saml::new(cfg));
                p.callback = Some(s.clone());
                p.health = Some(s);
            }
            // Signs in through its own form (dev_mode only); nothing to redirect to, refresh or check.
            ProviderKind::Dev => {}
            // [LD-2] A username and password form on our page, checked at the directory.
            ProviderKind::Ldap => {
                if let Some(l) = ldap::Ldap::new(cfg).map(Arc::new) {
                    p.password = Some(l.clone());
                    p.health = Some(l);
                }
            }
        }
        p
    }

    /// Redirect-and-callback sign-in, for the kinds that have it.
    pub fn callback(&self) -> Option<&dyn CallbackConnector> {
        self.callback.as_deref()
    }

    /// Asking the upstream again with its refresh token, for the kinds that have it.
    pub fn refresher(&self) -> Option<&dyn RefreshConnector> {
        self.refresh.as_deref()
    }

    pub fn health(&self) -> Option<&dyn HealthCheck> {
        self.health.as_deref()
    }

    /// Back-channel logout from the upstream and sign-out at the upstream, for the kinds that have them.
    pub fn logout(&self) -> Option<&dyn LogoutConnector> {
        self.logout.as_deref()
    }

    /// Username-and-password sign-in on the broker's page, for the kinds that have it.
    pub fn password(&self) -> Option<&dyn PasswordConnector> {
        self.password.as_deref()
    }

    /// The password capability, to be held by a task of its own.
    pub fn password_arc(&self) -> Option<Arc<dyn PasswordConnector>> {
        self.password.clone()
    }

    /// Known to be unreachable (its last discovery failed).
    pub fn is_down(&self) -> bool {
        self.health().is_some_and(HealthCheck::is_down)
    }

    pub fn is_dev(&self) -> bool {
        self.cfg.kind == ProviderKind::Dev
    }
}
