//! The sections of the configuration, one type each (what each key means is in `config/default.toml`).

use serde::Deserialize;

use crate::secret::Secret;

/// Linking another sign-in method to an account ([TB-1d]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkingSettings {
    /// A link starts only from a sign-in at most this old (seconds); older, the person signs in again first.
    pub max_auth_age_secs: i64,
}

/// Who may use the developer portal, and what apps registered there (or dynamically) may ask for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeveloperSettings {
    pub group: String,
    pub allowed_emails: Vec<String>,
    pub allowed_domains: Vec<String>,
    pub scopes: Vec<String>,
    pub approval_scopes: Vec<String>,
    pub secret_grace_secs: i64,
    pub max_apps_per_developer: i64,
}

/// [BL-5] Delivery of back-channel logout tokens to apps (`[backchannel_logout]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackchannelLogoutSettings {
    pub timeout_secs: u64,
    pub token_ttl_secs: i64,
    pub retry_base_secs: i64,
    pub retry_max_secs: i64,
    pub give_up_after_secs: i64,
    pub poll_interval_ms: u64,
    pub claim_secs: i64,
    pub batch: i64,
    /// [BL-12] Deliveries one instance has in flight at most.
    pub concurrency: i64,
}

/// [TX-7] RFC 8693 token exchange between APIs: which client may exchange a person's access token for which
/// audience, with at most which scopes (`[[token_exchange.delegation]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeSettings {
    pub delegated_ttl_secs: i64,
    pub delegation: Vec<bridgekeeper_core::token::token_exchange::DelegationRule>,
}

/// RFC 7591/7592 dynamic client registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    pub enabled: bool,
    pub open: bool,
    pub initial_access_token: Secret,
    /// [RG-5] May a self-registered client ask for the device grant (RFC 8628)? Off: only an admin gives it.
    pub allow_device_grant: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub pool_size: u32,
    /// [DB-1] How long a request waits for a pooled connection before it is answered 503.
    pub checkout_timeout_ms: u64,
    /// PostgreSQL: how long opening one connection may take.
    pub connect_timeout_secs: u64,
    /// [DB-2] PostgreSQL: each statement's limit; 0 leaves the server's (or the role's) `statement_timeout`.
    pub statement_timeout_ms: u64,
    /// SQLite: how long a statement waits for another writer's lock.
    pub busy_timeout_ms: u64,
    /// Idle connections closed after this long; 0 = never.
    pub idle_timeout_secs: u64,
    /// Connections replaced once this old; 0 = never.
    pub max_lifetime_secs: u64,
}

impl DatabaseSettings {
    /// [DB-3] Each key in its range, or (key, why).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let within = |key: &'static str, v: u64, lo: u64, hi: u64, zero_ok: bool, unit: &str| {
            if (zero_ok && v == 0) || (lo..=hi).contains(&v) {
                Ok(())
            } else {
                let off = if zero_ok { " (or 0: off)" } else { "" };
                Err((key, format!("must be between {lo} and {hi} {unit}{off}, not {v}")))
            }
        };
        within("database.pool_size", self.pool_size.into(), 1, 1000, false, "connections")?;
        within("database.checkout_timeout_ms", self.checkout_timeout_ms, 10, 120_000, false, "milliseconds")?;
        within("database.connect_timeout_secs", self.connect_timeout_secs, 1, 300, false, "seconds")?;
        within("database.statement_timeout_ms", self.statement_timeout_ms, 10, 3_600_000, true, "milliseconds")?;
        within("database.busy_timeout_ms", self.busy_timeout_ms, 0, 600_000, false, "milliseconds")?;
        within("database.idle_timeout_secs", self.idle_timeout_secs, 30, 86_400, true, "seconds")?;
        within("database.max_lifetime_secs", self.max_lifetime_secs, 60, 604_800, true, "seconds")
    }

    /// What the pool is built with.
    pub fn pool_options(&self) -> crate::store::PoolOptions {
        use std::time::Duration;
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        crate::store::PoolOptions {
            pool_size: self.pool_size,
            checkout_timeout: Duration::from_millis(self.checkout_timeout_ms),
            connect_timeout_secs: self.connect_timeout_secs,
            statement_timeout: nonzero(Duration::from_millis(self.statement_timeout_ms)),
            busy_timeout: Duration::from_millis(self.busy_timeout_ms),
            idle_timeout: nonzero(Duration::from_secs(self.idle_timeout_secs)),
            max_lifetime: nonzero(Duration::from_secs(self.max_lifetime_secs)),
            test_on_check_out: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub signing_alg: String,
    pub access_token_alg: String,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    pub code_ttl_secs: i64,
    pub refresh_idle_ttl_secs: i64,
    pub refresh_absolute_ttl_secs: i64,
    pub key_reload_secs: i64,
    pub refresh_reuse_grace_secs: i64,
}

/// Abuse limits; what each one means is in config/default.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub failures_per_minute: u32,
    pub address_failures_per_minute: u32,
    pub stuffing_alarm_per_minute: u32,
    pub requests_per_second: u32,
    pub request_burst: u32,
    pub anonymous_state_per_minute: u32,
    pub anonymous_state_burst: u32,
    /// [RL-6] The failure budgets (per address, per (address, client id or name), and the password sign-ins' per
    /// account) counted cluster-wide in PostgreSQL as well as per instance. Needs PostgreSQL; restart-only.
    pub shared: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub ttl_secs: i64,
    pub cookie_name: String,
}

impl TokenSettings {
    /// The algorithm of ID tokens (and of everything else unless `access_token_alg` says otherwise).
    pub fn id_token_alg(&self) -> crate::tokens::keys::Alg {
        crate::tokens::keys::Alg::parse(&self.signing_alg).unwrap_or(crate::tokens::keys::Alg::Rs256)
    }

    pub fn access_token_alg(&self) -> crate::tokens::keys::Alg {
        crate::tokens::keys::Alg::parse(&self.access_token_alg).unwrap_or_else(|| self.id_token_alg())
    }

    /// Every algorithm in use, the ID-token one first.
    pub fn algs(&self) -> Vec<crate::tokens::keys::Alg> {
        let mut v = vec![self.id_token_alg()];
        if self.access_token_alg() != self.id_token_alg() {
            v.push(self.access_token_alg());
        }
        v
    }
}

/// A downstream client declared in configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticClient {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_client_scopes")]
    pub allowed_scopes: Vec<String>,
    #[serde(default = "default_client_grants")]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub skip_consent: bool,
    #[serde(default)]
    pub require_pkce: bool,
    /// client_secret_basic, client_secret_post or none (public clients); absent: a confidential client may use
    /// either secret method, as before the key existed.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// [BL-1] Where the broker POSTs logout tokens (https, or http on loopback).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// [PJ-1] The client's public keys as a JWK Set in JSON text, for `token_endpoint_auth_method =
    /// "private_key_jwt"` (RFC 7523).
    #[serde(default)]
    pub jwks: Option<String>,
    /// [PAR-5] Plain authorization requests of this client are refused; it must push them (RFC 9126 §6).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// [FL-1] The address the signed-out page loads in an iframe (same origin as a redirect URI).
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
    /// [DP-4] RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// [FA-1] `"fapi2"`: the FAPI 2.0 Security Profile (PAR, PKCE, DPoP, private_key_jwt, no rotation).
    #[serde(default)]
    pub profile: Option<String>,
}

fn default_client_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}

fn default_client_grants() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}

/// [DP-1] DPoP (RFC 9449), `[dpop]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopSettings {
    /// Accept proofs, issue DPoP-bound tokens, advertise `dpop_signing_alg_values_supported`.
    pub enabled: bool,
    /// The proof algorithms accepted.
    pub algs: Vec<String>,
    /// [DP-1] How far `iat` may be from now, either way.
    pub iat_window_secs: i64,
    /// [DP-3] Every proof must carry a current server nonce.
    pub require_nonce: bool,
    /// [DP-3] Length of a nonce's time step.
    pub nonce_step_secs: i64,
}

/// Pushed Authorization Requests (RFC 9126).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParSettings {
    /// Serve `POST /par` and advertise `pushed_authorization_request_endpoint`.
    pub enabled: bool,
    /// Every client must push its authorization requests (`require_pushed_authorization_requests`).
    pub require: bool,
    /// Lifetime of a `request_uri`, 1 to 60 seconds.
    pub ttl_secs: i64,
}

#[cfg(test)]
mod tests {
    use super::super::Settings;

    fn with(key: &str, value: &str) -> Result<Settings, String> {
        let env = [(format!("BRIDGEKEEPER__DATABASE__{}", key.to_ascii_uppercase()), value.to_string())];
        Settings::load_with_env(None, &env).map_err(|e| e.0)
    }

    /// [DB-3] Each pool key out of its range stops the start naming the key; the edges and 0 where it means "off"
    /// are accepted.
    #[test]
    fn db_3_each_pool_key_out_of_range_is_named() {
        for (key, bad, good) in [
            ("pool_size", "0", "1"),
            ("checkout_timeout_ms", "0", "10"),
            ("checkout_timeout_ms", "120001", "120000"),
            ("connect_timeout_secs", "0", "300"),
            ("statement_timeout_ms", "5", "0"),
            ("statement_timeout_ms", "3600001", "3600000"),
            ("busy_timeout_ms", "600001", "0"),
            ("idle_timeout_secs", "29", "0"),
            ("max_lifetime_secs", "59", "604800"),
        ] {
            let err = with(key, bad).map(|_| ()).expect_err(key);
            assert!(err.contains(&format!("key `database.{key}`")) && err.contains("must be between"), "{err}");
            assert!(with(key, good).is_ok(), "{key} = {good}");
        }
    }

    #[test]
    fn db_3_the_defaults_are_the_pool_options() {
        let d = Settings::load_with_env(None, &[]).unwrap().database.pool_options();
        assert_eq!(d, crate::store::PoolOptions::default(), "config/default.toml and PoolOptions::default agree");
    }

    /// [CL-1] A `[[clients]]` id longer than 255 bytes could never be presented: the start names the key.
    #[test]
    fn cl_1_a_config_client_id_over_255_bytes_is_refused() {
        let mut s = Settings::load_with_env(None, &[]).unwrap();
        let client = |id: &str| super::StaticClient { client_id: id.into(), ..Default::default() };
        s.clients = vec![client(&"a".repeat(255))];
        assert!(s.validate(None).is_ok());
        s.clients = vec![client(&"a".repeat(256))];
        let e = s.validate(None).unwrap_err();
        assert!(e.0.contains("clients[0].client_id"), "{}", e.0);
    }
}
