//! Upstream identity providers, one TOML file each in `providers_dir`: the registry and the two-step contract
//! every kind fulfils (`begin` -> authorization URL, `finish` -> a verified `FederatedIdentity`).

pub mod config;
pub mod http;
mod identity;
pub mod logout;
pub mod mapping;
pub mod oauth2;
pub mod oidc;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use config::{ProviderConfig, ProviderKind};

pub use identity::FederatedIdentity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// Unreachable, slow, or answering garbage.
    Unavailable,
    /// Answered, but failed verification (state, nonce, PKCE, iss, aud, signature…).
    Rejected,
    /// The person (or the upstream) declined.
    Denied,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("provider {provider}: {detail}")]
pub struct UpstreamError {
    pub provider: String,
    pub kind: UpstreamErrorKind,
    pub detail: String,
}

enum Connector {
    Oidc(oidc::Oidc),
    OAuth2(oauth2::OAuth2),
    Dev,
}

pub struct Provider {
    pub cfg: Arc<ProviderConfig>,
    connector: Connector,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Provider({}, {:?})", self.cfg.id, self.cfg.kind)
    }
}

pub use bridgekeeper_core::freshness::Freshness;

/// One redirect to an upstream.
pub struct LoginRequest<'a> {
    pub redirect: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    pub nonce: &'a str,
    pub verifier: &'a str,
    pub freshness: Freshness,
}

/// What a login start produces: where to send the browser.
pub struct Begun {
    pub url: String,
}

/// The enabled providers, in file-name order.
pub struct Registry {
    order: Vec<String>,
    providers: HashMap<String, Provider>,
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
        let mut order = Vec::new();
        let mut providers = HashMap::new();
        for cfg in config::load_dir(dir, env)? {
            if !cfg.enabled {
                continue;
            }
            if cfg.kind == ProviderKind::Dev && !dev_mode {
                tracing::warn!(file = %cfg.file.display(), "dev provider refused: it lets anyone sign in as anyone and needs dev_mode = true");
                continue;
            }
            let cfg = Arc::new(cfg);
            let connector = match cfg.kind {
                ProviderKind::Oidc => Connector::Oidc(oidc::Oidc::new(cfg.clone())),
                ProviderKind::Oauth2 | ProviderKind::Github => Connector::OAuth2(oauth2::OAuth2::new(cfg.clone())),
                ProviderKind::Dev => Connector::Dev,
            };
            order.push(cfg.id.clone());
            providers.insert(cfg.id.clone(), Provider { cfg, connector });
        }
        let group_ages = GroupAges {
            by_provider: providers.values().map(|p| (p.cfg.id.clone(), p.cfg.groups_max_age_secs)).collect(),
        };
        Ok(Registry { order, providers, http, group_ages })
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

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    pub fn list(&self) -> impl Iterator<Item = &Provider> {
        self.order.iter().filter_map(|id| self.providers.get(id))
    }

    /// Fetches discovery for every OIDC provider; failures are logged, not fatal (retried at login).
    pub async fn warm_up(&self) {
        for p in self.list() {
            if let Connector::Oidc(o) = &p.connector
                && let Err(e) = o.check(&self.http).await
            {
                tracing::warn!(provider = %p.cfg.id, error = %e.detail, "upstream discovery failed; will retry at login");
            }
        }
    }

    /// Validates reachability of one provider (discovery for OIDC).
    pub async fn check(&self, id: &str) -> Result<(), UpstreamError> {
        match self.get(id).map(|p| &p.connector) {
            Some(Connector::Oidc(o)) => o.check(&self.http).await,
            _ => Ok(()),
        }
    }
}

impl Provider {
    /// Re-checks the person at the upstream with its refresh token; returns the successor token, if any.
    pub async fn refresh(&self, http: &http::UpstreamHttp, token: &str) -> Result<Option<String>, UpstreamError> {
        match &self.connector {
            Connector::Oidc(o) => o.refresh(http, token).await,
            Connector::OAuth2(o) => o.refresh(http, token).await,
            Connector::Dev => Ok(None),
        }
    }

    /// Known to be unreachable (its last discovery failed).
    pub fn is_down(&self) -> bool {
        matches!(&self.connector, Connector::Oidc(o) if o.is_down())
    }

    pub fn is_dev(&self) -> bool {
        matches!(self.connector, Connector::Dev)
    }

    pub async fn begin(&self, http: &http::UpstreamHttp, req: &LoginRequest<'_>) -> Result<Begun, UpstreamError> {
        match &self.connector {
            Connector::Oidc(o) => o.begin(http, req).await.map(|b| Begun { url: b.url }),
            Connector::OAuth2(o) => o.begin(req).map(|url| Begun { url }),
            Connector::Dev => Err(UpstreamError {
                provider: self.cfg.id.clone(),
                kind: UpstreamErrorKind::Unavailable,
                detail: "dev has no redirect".into(),
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        &self,
        http: &http::UpstreamHttp,
        redirect: &str,
        code: &str,
        iss: Option<&str>,
        nonce: &str,
        verifier: &str,
        now: i64,
    ) -> Result<FederatedIdentity, UpstreamError> {
        match &self.connector {
            Connector::Oidc(o) => o.finish(http, redirect, code, iss, nonce, verifier, now).await,
            Connector::OAuth2(o) => o.finish(http, redirect, code, verifier).await,
            Connector::Dev => Err(UpstreamError {
                provider: self.cfg.id.clone(),
                kind: UpstreamErrorKind::Rejected,
                detail: "dev has no callback".into(),
            }),
        }
    }
}
