//! Typed configuration: `config/default.toml` (compiled in) <- `--config FILE` <- `BRIDGEKEEPER__…` environment.
//! Every error names where the bad value came from, in one line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::secret::Secret;

/// The defaults, compiled into the binary so it runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "BRIDGEKEEPER";
/// Keys whose tables hold arbitrary names (not checked against the defaults).
const OPEN_TABLES: &[&str] = &["scopes", "otel.headers"];
const CLIENT_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_scopes",
    "grant_types",
    "skip_consent",
    "require_pkce",
    "token_endpoint_auth_method",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "jwks",
    "require_pushed_authorization_requests",
    "frontchannel_logout_uri",
    "frontchannel_logout_session_required",
    "dpop_bound_access_tokens",
    "profile",
];
/// The keys of one `[[apis]]` entry ([RI-1]).
const API_KEYS: &[&str] = &["identifier", "scopes", "access_token_ttl_secs", "clients"];
pub const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    bridgekeeper_core::token::token_exchange::GRANT_TYPE,
    bridgekeeper_core::device::GRANT_TYPE,
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub issuer: String,
    pub bind: String,
    /// [MT-1] Address of the separate `/metrics` listener; empty = off.
    pub metrics_bind: String,
    pub database_url: String,
    pub providers_dir: PathBuf,
    pub templates_dir: PathBuf,
    /// [LC-1] The language of pages when neither `ui_locales` nor `Accept-Language` names one there is.
    pub default_locale: String,
    pub upstream_timeout_secs: u64,
    pub dev_mode: bool,
    pub migrate_on_start: bool,
    /// [HR-3] Reload when the config file, a provider file or a template changes (as on SIGHUP).
    pub watch_config: bool,
    /// [HR-3] How often the watched files are looked at, in milliseconds.
    pub watch_config_interval_ms: i64,
    pub encryption_keys: Secret,
    pub log_format: LogFormat,
    pub log_level: String,
    // Trusted proxies (CIDRs) and the sweeper: see config/default.toml.
    pub trusted_proxies: Vec<String>,
    /// [RL-2] The one forwarding header the trusted proxies write: `x-forwarded-for` or `forwarded`.
    pub proxy_header: String,
    pub gc_interval_secs: u64,
    pub gc_batch_size: i64,
    pub audit_retention_days: i64,
    pub clients: Vec<StaticClient>,
    /// [RI-1] The APIs that accept the broker's access tokens (`[[apis]]`, RFC 8707 resource indicators).
    pub apis: Vec<bridgekeeper_core::resource::Api>,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub session: SessionSettings,
    pub rate_limits: RateLimitSettings,
    pub scopes: BTreeMap<String, String>,
    pub developers: DeveloperSettings,
    pub registration: RegistrationSettings,
    pub linking: LinkingSettings,
    pub backchannel_logout: BackchannelLogoutSettings,
    /// [TX-7] RFC 8693 delegation between APIs (`[token_exchange]`).
    pub token_exchange: TokenExchangeSettings,
    pub par: ParSettings,
    /// [DP-1] DPoP (`[dpop]`).
    pub dpop: DpopSettings,
    /// [DV-1] The device authorization grant (`[device]`).
    pub device: DeviceSettings,
    /// [OT-1] OpenTelemetry traces (`[otel]`).
    pub otel: OtelSettings,
    /// The file given with `--config` (what a reload reads again); not a key of the file.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Scopes that no self-service path (browser flow, developer portal, dynamic registration) can grant.
pub use bridgekeeper_core::scopes::RESERVED_SCOPES;

mod device;
mod otel;
pub mod restart;
mod sections;
mod validate;
pub use device::DeviceSettings;
pub use otel::OtelSettings;
pub use sections::*;

/// A configuration mistake: one line naming the source (file or variable) and the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl Settings {
    /// Loads the layers from the real environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, &env)
    }

    /// Loads the layers with an explicit environment (tests pass their own).
    pub fn load_with_env(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, SettingsError> {
        let defaults: toml::Table =
            toml::from_str(DEFAULT_TOML).map_err(|e| SettingsError(format!("built-in defaults: {e}")))?;
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        if let Some(path) = file {
            check_file(path, &defaults)?;
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let mut overrides = config::Map::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX).and_then(|r| r.strip_prefix("__")) else {
                continue;
            };
            let key: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if !known_path(&defaults, &key) {
                return Err(SettingsError(format!("environment variable {name}: unknown key `{}`", key.join("."))));
            }
            overrides.insert(key.join("."), env_value(&defaults, &key, value));
        }
        for (k, v) in overrides {
            builder = builder
                .set_override(k.clone(), v)
                .map_err(|e| SettingsError(format!("environment override {k}: {e}")))?;
        }
        let merged = builder.build().map_err(|e| SettingsError(e.to_string()))?;
        let mut settings: Settings = merged.try_deserialize().map_err(|e| SettingsError(e.to_string()))?;
        settings.interpolate(env)?;
        settings.resolve_paths(file);
        settings.source = file.map(Path::to_path_buf);
        settings.validate(file)?;
        Ok(settings)
    }

    fn interpolate(&mut self, env: &[(String, String)]) -> Result<(), SettingsError> {
        self.database_url = interpolate(&self.database_url, env)
            .map_err(|v| SettingsError(format!("database_url: environment variable {v} is not set")))?;
        let keys = interpolate(self.encryption_keys.expose(), env)
            .map_err(|v| SettingsError(format!("encryption_keys: environment variable {v} is not set")))?;
        self.encryption_keys = Secret::new(keys);
        let iat = interpolate(self.registration.initial_access_token.expose(), env).map_err(|v| {
            SettingsError(format!("registration.initial_access_token: environment variable {v} is not set"))
        })?;
        self.registration.initial_access_token = Secret::new(iat);
        self.otel.interpolate(env)?;
        for (i, c) in self.clients.iter_mut().enumerate() {
            if let Some(secret) = &c.client_secret {
                let value = interpolate(secret.expose(), env).map_err(|v| {
                    SettingsError(format!(
                        "clients[{i}] ({}).client_secret: environment variable {v} is not set",
                        c.client_id
                    ))
                })?;
                c.client_secret = if value.is_empty() { None } else { Some(Secret::new(value)) };
            }
        }
        Ok(())
    }

    /// [SV-2] Relative paths are taken from the config file's folder (from the working directory without one).
    fn resolve_paths(&mut self, file: Option<&Path>) {
        let Some(file) = file else { return };
        let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        self.providers_dir = base.join(&self.providers_dir);
        if !self.templates_dir.as_os_str().is_empty() {
            self.templates_dir = base.join(&self.templates_dir);
        }
        if let Some(path) = self.database_url.strip_prefix("sqlite://")
            && !path.is_empty()
            && !Path::new(path).is_absolute()
        {
            self.database_url = format!("sqlite://{}", base.join(path).display());
        }
    }

    /// The folder whose files replace the built-in templates, if one is configured.
    pub fn templates_override(&self) -> Option<&Path> {
        (!self.templates_dir.as_os_str().is_empty()).then_some(self.templates_dir.as_path())
    }

    fn validate(&self, file: Option<&Path>) -> Result<(), SettingsError> {
        let origin = file.map(|p| p.display().to_string()).unwrap_or_else(|| "defaults".into());
        let err = |key: &str, why: String| SettingsError(format!("{origin}: key `{key}`: {why}"));
        let issuer = url::Url::parse(&self.issuer).map_err(|e| err("issuer", format!("not a URL ({e})")))?;
        if !matches!(issuer.scheme(), "http" | "https") || issuer.host_str().is_none() {
            return Err(err("issuer", "must be an http(s) URL with a host".into()));
        }
        if !matches!(issuer.path(), "" | "/") {
            return Err(err("issuer", "must not have a path (endpoints are served at the root)".into()));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(err("issuer", "must not have a query or fragment".into()));
        }
        let bind = self.bind.parse::<SocketAddr>().map_err(|e| err("bind", format!("not an address:port ({e})")))?;
        if !self.metrics_bind.is_empty() {
            let m = self
                .metrics_bind
                .parse::<SocketAddr>()
                .map_err(|e| err("metrics_bind", format!("not an address:port ({e})")))?;
            if m == bind && m.port() != 0 {
                return Err(err("metrics_bind", "must differ from bind (metrics never share the public port)".into()));
            }
        }
        let db = crate::store::DbKind::from_url(&self.database_url).map_err(|e| err("database_url", e))?;
        // [RL-6] One SQLite node already has whole budgets; sharing them needs the cluster's PostgreSQL.
        if self.rate_limits.shared && matches!(db, crate::store::DbKind::Sqlite(_)) {
            let why = "needs PostgreSQL: with SQLite (one node) the failure budgets are already whole; set it to false";
            return Err(err("rate_limits.shared", why.into()));
        }
        if !matches!(self.tokens.signing_alg.as_str(), "RS256" | "ES256" | "EdDSA") {
            return Err(err("tokens.signing_alg", "must be RS256, ES256 or EdDSA".into()));
        }
        if !matches!(self.tokens.access_token_alg.as_str(), "" | "RS256" | "ES256" | "EdDSA") {
            return Err(err("tokens.access_token_alg", "must be empty, RS256, ES256 or EdDSA".into()));
        }
        if !(1..=60).contains(&self.tokens.code_ttl_secs) {
            return Err(err("tokens.code_ttl_secs", "must be between 1 and 60".into()));
        }
        for (key, v) in [
            ("tokens.access_token_ttl_secs", self.tokens.access_token_ttl_secs),
            ("tokens.id_token_ttl_secs", self.tokens.id_token_ttl_secs),
            ("tokens.refresh_idle_ttl_secs", self.tokens.refresh_idle_ttl_secs),
            ("tokens.refresh_absolute_ttl_secs", self.tokens.refresh_absolute_ttl_secs),
            ("session.ttl_secs", self.session.ttl_secs),
            ("tokens.key_reload_secs", self.tokens.key_reload_secs),
            ("backchannel_logout.token_ttl_secs", self.backchannel_logout.token_ttl_secs),
            ("backchannel_logout.retry_base_secs", self.backchannel_logout.retry_base_secs),
            ("backchannel_logout.retry_max_secs", self.backchannel_logout.retry_max_secs),
            ("backchannel_logout.give_up_after_secs", self.backchannel_logout.give_up_after_secs),
            ("backchannel_logout.claim_secs", self.backchannel_logout.claim_secs),
            ("backchannel_logout.batch", self.backchannel_logout.batch),
            ("backchannel_logout.concurrency", self.backchannel_logout.concurrency),
            ("backchannel_logout.timeout_secs", self.backchannel_logout.timeout_secs as i64),
            ("token_exchange.delegated_ttl_secs", self.token_exchange.delegated_ttl_secs),
        ] {
            if v <= 0 {
                return Err(err(key, "must be positive".into()));
            }
        }
        if !(100..=3_600_000).contains(&self.watch_config_interval_ms) {
            return Err(err("watch_config_interval_ms", "must be between 100 and 3600000".into()));
        }
        // [BL-11] The sweeper tells apps only of sessions that expired within the give-up window: sweeping less
        // often than that window would end every expired session untold.
        let give_up = self.backchannel_logout.give_up_after_secs;
        if self.gc_interval_secs > 0 && !i64::try_from(self.gc_interval_secs).is_ok_and(|gc| gc < give_up) {
            let why = format!("must be shorter than backchannel_logout.give_up_after_secs ({give_up})");
            return Err(err("gc_interval_secs", why));
        }
        crate::crypto::Sealer::from_spec(self.encryption_keys.expose()).map_err(|e| err("encryption_keys", e))?;
        if !(1..=bridgekeeper_core::authorize::pushed::MAX_TTL_SECS).contains(&self.par.ttl_secs) {
            return Err(err("par.ttl_secs", "must be between 1 and 60".into()));
        }
        self.validate_dpop(&err)?;
        self.device.validate(&err)?;
        if self.par.require && !self.par.enabled {
            return Err(err("par.require", "needs par.enabled = true".into()));
        }
        if !(0..=60).contains(&self.tokens.refresh_reuse_grace_secs) {
            return Err(err("tokens.refresh_reuse_grace_secs", "must be between 0 and 60".into()));
        }
        crate::client_addr::parse_proxies(&self.trusted_proxies).map_err(|e| err("trusted_proxies", e))?;
        if !matches!(self.proxy_header.as_str(), "x-forwarded-for" | "forwarded") {
            return Err(err("proxy_header", "must be \"x-forwarded-for\" or \"forwarded\"".into()));
        }
        if self.gc_batch_size < 1 {
            return Err(err("gc_batch_size", "must be at least 1".into()));
        }
        if self.audit_retention_days < 1 {
            return Err(err("audit_retention_days", "must be at least 1".into()));
        }
        self.database.check().map_err(|(key, why)| err(key, why))?;
        if !self.scopes.contains_key("openid") {
            return Err(err("scopes", "the catalogue must contain `openid`".into()));
        }
        if !(1..=600).contains(&self.upstream_timeout_secs) {
            return Err(err("upstream_timeout_secs", "must be between 1 and 600".into()));
        }
        self.validate_developers(&err)?;
        self.validate_delegation(&err)?;
        self.validate_apis(&err)?;
        self.otel.validate(&err)?;
        self.validate_clients(&err)
    }

    /// The issuer without a trailing slash, for building endpoint URLs.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}

/// Replaces `${VAR}` with the variable's value; `Err(VAR)` names a missing one.
pub fn interpolate(value: &str, env: &[(String, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        match env.iter().find(|(k, _)| k == name) {
            Some((_, v)) => out.push_str(v),
            None => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Rejects unknown keys in the admin's file, naming the file and the key.
fn check_file(path: &Path, defaults: &toml::Table) -> Result<(), SettingsError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| SettingsError(format!("{}: cannot read ({e})", path.display())))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| SettingsError(format!("{}: {}", path.display(), one_line(&e.to_string()))))?;
    check_table(&table, defaults, "").map_err(|key| SettingsError(format!("{}: unknown key `{key}`", path.display())))
}

fn check_table(table: &toml::Table, defaults: &toml::Table, prefix: &str) -> Result<(), String> {
    for (k, v) in table {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        if OPEN_TABLES.contains(&path.as_str()) {
            continue;
        }
        match (defaults.get(k), v) {
            (None, _) => return Err(path),
            (Some(toml::Value::Table(d)), toml::Value::Table(t)) => check_table(t, d, &path)?,
            (Some(_), toml::Value::Array(items)) if path == "clients" || path == "apis" => {
                let known = if path == "clients" { CLIENT_KEYS } else { API_KEYS };
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(t) = item
                        && let Some(bad) = t.keys().find(|k| !known.contains(&k.as_str()))
                    {
                        return Err(format!("{path}[{i}].{bad}"));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn known_path(defaults: &toml::Table, key: &[String]) -> bool {
    match key {
        [] => false,
        [first, rest @ ..] if OPEN_TABLES.contains(&first.as_str()) => rest.len() == 1,
        [only] => defaults.contains_key(only),
        [first, rest @ ..] => match defaults.get(first) {
            Some(toml::Value::Table(t)) => known_path(t, rest),
            _ => false,
        },
    }
}

/// An environment string typed like the default it overrides (so `POOL_SIZE=16` is a number).
fn env_value(defaults: &toml::Table, key: &[String], raw: &str) -> config::Value {
    let mut node: Option<&toml::Value> = None;
    let mut table = Some(defaults);
    for k in key {
        node = table.and_then(|t| t.get(k));
        table = match node {
            Some(toml::Value::Table(t)) => Some(t),
            _ => None,
        };
    }
    match node {
        Some(toml::Value::Integer(_)) => raw.parse::<i64>().map(config::Value::from).unwrap_or_else(|_| raw.into()),
        Some(toml::Value::Boolean(_)) => raw.parse::<bool>().map(config::Value::from).unwrap_or_else(|_| raw.into()),
        // A list of strings as a comma-separated value (e.g. TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7).
        Some(toml::Value::Array(_)) => config::Value::from(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>(),
        ),
        _ => raw.into(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_replaces_and_names_missing() {
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(interpolate("p-${A}-q", &env).unwrap(), "p-x-q");
        assert_eq!(interpolate("no vars", &env).unwrap(), "no vars");
        assert_eq!(interpolate("${B}", &env).unwrap_err(), "B");
    }

    #[test]
    fn lists_come_from_the_environment_comma_separated() {
        let env = vec![("BRIDGEKEEPER__TRUSTED_PROXIES".to_string(), "10.0.0.0/8, 192.0.2.7".to_string())];
        let s = Settings::load_with_env(None, &env).unwrap();
        assert_eq!(s.trusted_proxies, vec!["10.0.0.0/8", "192.0.2.7"]);
        let env = vec![("BRIDGEKEEPER__TRUSTED_PROXIES".to_string(), "10.0.0.0/33".to_string())];
        let e = Settings::load_with_env(None, &env).unwrap_err();
        assert!(e.0.contains("trusted_proxies"), "{}", e.0);
    }

    #[test]
    fn bl_11_a_gc_interval_longer_than_the_give_up_window_is_refused() {
        let env = |gc: &str, give_up: &str| {
            vec![
                ("BRIDGEKEEPER__GC_INTERVAL_SECS".to_string(), gc.to_string()),
                ("BRIDGEKEEPER__BACKCHANNEL_LOGOUT__GIVE_UP_AFTER_SECS".to_string(), give_up.to_string()),
            ]
        };
        assert!(Settings::load_with_env(None, &env("300", "3600")).is_ok());
        for (gc, give_up) in [("7200", "3600"), ("3600", "3600")] {
            let e = Settings::load_with_env(None, &env(gc, give_up)).unwrap_err();
            assert!(e.0.contains("gc_interval_secs") && e.0.contains("give_up_after_secs"), "{}", e.0);
        }
    }

    #[test]
    fn tx_7_delegation_rules_and_the_delegated_ttl_are_validated() {
        let env = vec![("BRIDGEKEEPER__TOKEN_EXCHANGE__DELEGATED_TTL_SECS".to_string(), "0".to_string())];
        let e = Settings::load_with_env(None, &env).unwrap_err();
        assert!(e.0.contains("delegated_ttl_secs"), "{}", e.0);
        let mut s = Settings::load_with_env(None, &[]).unwrap();
        s.token_exchange.delegation = vec![bridgekeeper_core::token::token_exchange::DelegationRule {
            client: "api".into(),
            audiences: vec!["urn:bridgekeeper:provider:gh".into()],
            scopes: vec!["read".into()],
            subject_clients: vec![],
            known_as: vec![],
        }];
        let e = s.validate(None).unwrap_err();
        assert!(e.0.contains("token_exchange.delegation"), "{}", e.0);
    }

    /// [RI-1] Review finding 6: a delegation audience spelled like an API's identifier is refused.
    #[test]
    fn ri_1_a_delegation_audience_spelled_like_an_api_is_refused() {
        let mut s = Settings::load_with_env(None, &[]).unwrap();
        s.apis = vec![bridgekeeper_core::resource::Api {
            identifier: "https://orders.example".into(),
            scopes: vec![],
            access_token_ttl_secs: None,
            clients: vec![],
        }];
        s.token_exchange.delegation = vec![bridgekeeper_core::token::token_exchange::DelegationRule {
            client: "api".into(),
            audiences: vec!["https://orders.example/".into()],
            scopes: vec!["read".into()],
            subject_clients: vec![],
            known_as: vec![],
        }];
        let e = s.validate(None).unwrap_err();
        assert!(e.0.contains("token_exchange.delegation") && e.0.contains("spelled"), "{}", e.0);
        s.token_exchange.delegation[0].audiences = vec!["https://orders.example".into()];
        assert!(s.validate(None).is_ok());
    }

    #[test]
    fn defaults_alone_are_valid_and_production_safe() {
        let s = Settings::load_with_env(None, &[]).unwrap();
        assert!(!s.dev_mode);
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert!(s.clients.is_empty());
    }
}
