//! Provider plugin files: parsing and validation. A bad file stops startup with the file, key and reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Oidc,
    Oauth2,
    Github,
    Dev,
    /// Sign in with Apple ([AP-1]–[AP-8]).
    Apple,
    /// [LD-1] A directory (LDAP, Active Directory): a password form on our page, settings in `[ldap]`.
    Ldap,
    /// SAML 2.0 Web Browser SSO ([SA-1]–[SA-10]).
    Saml,
}

pub use bridgekeeper_core::linking::LinkByEmail;

/// [UL-5] Whether signing out at the broker also signs the person out at this (oidc) upstream: never, always,
/// or [UL-7] when the person ticks "Also sign out of …" on the confirmation page.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogoutUpstream {
    #[default]
    Never,
    Ask,
    Always,
}

impl LogoutUpstream {
    /// Does this sign-out go on to the upstream, given whether the person ticked the box?
    pub fn wanted(self, ticked: bool) -> bool {
        match self {
            LogoutUpstream::Never => false,
            LogoutUpstream::Ask => ticked,
            LogoutUpstream::Always => true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClaimPaths {
    pub subject: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<String>,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub picture: Option<String>,
    pub groups: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    pub upstream: String,
    pub group: String,
}

/// One `providers/*.toml` file. Serialized only for the [HR-5b] answerer fingerprint
/// (`upstream::generation::answerer_fingerprint`): every member counts there unless it is on that allow-list, so a
/// member added here is refused-by-default at a reload; secrets serialize as their hash.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    #[serde(default)]
    pub id: String,
    pub kind: ProviderKind,
    #[serde(default)]
    pub display_name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub issuer: Option<String>,
    #[serde(default)]
    pub client_id: String,
    #[serde(serialize_with = "secret_by_hash")]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub link_by_email: LinkByEmail,
    /// [TB-1a] Whether the broker believes this provider's `email_verified` (default false). Linking by email
    /// needs it.
    #[serde(default)]
    pub trust_email: bool,
    /// [TB-5] Whether the admin trusts the provider to re-authenticate on `prompt=login` when it reports no
    /// `auth_time` (default: true for `oidc`, false for `oauth2`/`github`).
    pub honours_prompt_login: Option<bool>,
    /// [TB-1f] Groups learnt from an identity of this provider count for this long after its last sign-in
    /// (seconds, default 7 days), unless refreshed upstream.
    #[serde(default = "default_groups_max_age")]
    pub groups_max_age_secs: i64,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub emails_url: Option<String>,
    pub orgs_url: Option<String>,
    pub icon: Option<String>,
    #[serde(default)]
    pub claims: ClaimPaths,
    #[serde(default)]
    pub scope_map: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub group_rules: Vec<GroupRule>,
    #[serde(default)]
    pub refresh_upstream: bool,
    /// [UL-1] Accept OpenID Back-Channel Logout tokens from this (oidc) provider at `POST /backchannel/{id}`.
    #[serde(default)]
    pub backchannel_logout: bool,
    /// [UL-5] `"never"` (default) or `"always"`: RP-initiated logout at the upstream after a broker sign-out.
    #[serde(default)]
    pub logout_upstream: LogoutUpstream,
    /// [TX-1] Keep each identity's upstream access and refresh tokens (sealed) for token exchange.
    #[serde(default)]
    pub store_tokens: bool,
    /// [TX-1] Stored upstream tokens unused this long are deleted (seconds, default 30 days).
    #[serde(default = "default_token_retention")]
    pub token_retention_secs: i64,
    /// [TX-1] An upstream access token this close to its expiry is refreshed before it is handed out (seconds).
    #[serde(default = "default_refresh_skew")]
    pub refresh_skew_secs: i64,
    /// [TX-3] Downstream clients that may exchange a person's broker access token for this provider's upstream
    /// access token (RFC 8693), after the person consented. Needs `store_tokens = true`.
    #[serde(default)]
    pub token_exchange_clients: Vec<String>,
    /// [MS-2] Microsoft multi-tenant (`kind = "oidc"`, issuer with `{tenantid}`): the tenants admitted, GUIDs or
    /// `"organizations"` (any work tenant), `"consumers"` (personal accounts), `"common"` (both).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// [AP-6] `kind = "apple"`: the Apple Developer team id (`iss` of the client secret).
    pub team_id: Option<String>,
    /// [AP-6] `kind = "apple"`: the id of the Sign in with Apple key (`kid` of the client secret).
    pub key_id: Option<String>,
    /// [AP-6] `kind = "apple"`: the `.p8` file of that key (PKCS#8 PEM), or `private_key` (e.g. `"${APPLE_KEY}"`).
    pub private_key_file: Option<PathBuf>,
    /// [AP-6] The key's PEM itself; after loading, holds the PEM read from `private_key_file` too.
    #[serde(serialize_with = "secret_by_hash")]
    pub private_key: Option<Secret>,
    /// [LD-1] `kind = "ldap"`: the directory and how people are found in it.
    pub ldap: Option<crate::upstream::ldap::config::LdapConfig>,
    /// [SA-1] `kind = "saml"`: the IdP's metadata, a file or an https URL (exactly one).
    pub idp_metadata_file: Option<PathBuf>,
    pub idp_metadata_url: Option<String>,
    /// [SA-1] `kind = "saml"`: the IdP's signing certificate, pinned (PEM, a file or the text itself).
    pub idp_certificate_file: Option<PathBuf>,
    pub idp_certificate: Option<String>,
    /// [SA-10] `kind = "saml"`: our entity id at this IdP (default `{issuer}/saml/{id}/metadata`).
    pub sp_entity_id: Option<String>,
    /// [SA-1] The pinned certificate (DER) and the metadata file's text, read at load.
    #[serde(skip)]
    pub saml: Option<SamlFiles>,
    #[serde(skip)]
    pub file: PathBuf,
}

/// A secret serializes as its SHA-256, never its value.
fn secret_by_hash<S: serde::Serializer>(s: &Option<Secret>, out: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&s.as_ref().map(|s| crate::secret::hash_token(s.expose())), out)
}

/// [SA-1] What a `kind = "saml"` file points at, read and checked at load.
#[derive(Debug, Clone)]
pub struct SamlFiles {
    pub certificate_der: Vec<u8>,
    /// The IdP (entity id, SSO URL) from `idp_metadata_file`; `None` for `idp_metadata_url` (fetched later).
    pub idp: Option<super::saml::metadata::Idp>,
}

fn default_token_retention() -> i64 {
    30 * 24 * 3600
}

fn default_refresh_skew() -> i64 {
    60
}

fn yes() -> bool {
    true
}

/// Seven days.
pub const DEFAULT_GROUPS_MAX_AGE_SECS: i64 = 7 * 24 * 3600;

fn default_groups_max_age() -> i64 {
    DEFAULT_GROUPS_MAX_AGE_SECS
}

impl ProviderConfig {
    /// [TB-5] `honours_prompt_login`, defaulted by kind.
    pub fn honours_prompt_login(&self) -> bool {
        self.honours_prompt_login.unwrap_or(matches!(self.kind, ProviderKind::Oidc | ProviderKind::Dev))
    }
}

/// Reads every `*.toml` in `dir` (sorted by name). Disabled providers are kept (for `providers list`).
pub fn load_dir(dir: &Path, env: &[(String, String)]) -> Result<Vec<ProviderConfig>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("providers_dir {}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out: Vec<ProviderConfig> = Vec::new();
    for file in files {
        let p = load_file(&file, env)?;
        if let Some(other) = out.iter().find(|o| o.id == p.id) {
            return Err(format!("{}: key `id`: `{}` is also used by {}", file.display(), p.id, other.file.display()));
        }
        out.push(p);
    }
    Ok(out)
}

/// Every `*.toml` of `dir` on its own (`check-config`, reload): the files that load, and one line per problem
/// (a broken file, an id used twice). A missing folder holds no providers.
pub fn check_dir(dir: &Path, env: &[(String, String)]) -> (Vec<ProviderConfig>, Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(e) => return (Vec::new(), vec![format!("providers_dir {}: {e}", dir.display())]),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let (mut loaded, mut problems): (Vec<ProviderConfig>, Vec<String>) = (Vec::new(), Vec::new());
    for file in files {
        match load_file(&file, env) {
            Ok(p) => match loaded.iter().find(|o| o.id == p.id) {
                Some(other) => problems.push(format!(
                    "{}: key `id`: `{}` is also used by {}",
                    file.display(),
                    p.id,
                    other.file.display()
                )),
                None => loaded.push(p),
            },
            Err(e) => problems.push(e),
        }
    }
    (loaded, problems)
}

pub fn load_file(file: &Path, env: &[(String, String)]) -> Result<ProviderConfig, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read ({e})", file.display()))?;
    parse(&text, file, env)
}

/// Parses and validates the text of one provider file (`file` names it in errors and gives the default id).
pub fn parse(text: &str, file: &Path, env: &[(String, String)]) -> Result<ProviderConfig, String> {
    let at = file.display();
    let mut p: ProviderConfig = toml::from_str(text)
        .map_err(|e| format!("{at}: {}", e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")))?;
    p.file = file.to_path_buf();
    if p.id.is_empty() {
        p.id = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    }
    if p.id.is_empty() || !p.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("{at}: key `id`: use letters, digits, `-` and `_` only"));
    }
    if p.display_name.is_empty() {
        p.display_name = p.id.clone();
    }
    if !p.enabled {
        return Ok(p);
    }
    if let Some(secret) = &p.client_secret {
        let value = crate::settings::interpolate(secret.expose(), env)
            .map_err(|v| format!("{at}: key `client_secret`: environment variable {v} is not set"))?;
        p.client_secret = Some(Secret::new(value));
    }
    if p.kind == ProviderKind::Apple {
        load_apple_key(&mut p, env).map_err(|(key, why)| format!("{at}: key `{key}`: {why}"))?;
    }
    if let Some(l) = p.ldap.as_mut() {
        l.interpolate(env).map_err(|(key, why)| format!("{at}: key `{key}`: {why}"))?;
    }
    if p.kind == ProviderKind::Saml {
        p.saml = Some(super::saml::metadata::load(&p).map_err(|(key, why)| format!("{at}: key `{key}`: {why}"))?);
    }
    validate(&p).map_err(|(key, why)| format!("{at}: key `{key}`: {why}"))?;
    Ok(p)
}

fn validate(p: &ProviderConfig) -> Result<(), (&'static str, String)> {
    let url = |key: &'static str, v: &Option<String>| -> Result<(), (&'static str, String)> {
        match v {
            None => Err((key, format!("required for kind {:?}", p.kind).to_lowercase())),
            Some(u) => url::Url::parse(u).map(|_| ()).map_err(|e| (key, format!("not a URL ({e})"))),
        }
    };
    if p.link_by_email == LinkByEmail::Verified && !p.trust_email {
        return Err((
            "link_by_email",
            "\"verified\" needs trust_email = true (the broker links by email only from providers trusted for emails)"
                .into(),
        ));
    }
    if p.logout_upstream != LogoutUpstream::Never && p.kind != ProviderKind::Oidc {
        return Err(("logout_upstream", "only an oidc provider has an end-session endpoint".into()));
    }
    if p.backchannel_logout && p.kind != ProviderKind::Oidc {
        return Err(("backchannel_logout", "only an oidc provider can send logout tokens".into()));
    }
    if p.store_tokens && p.kind == ProviderKind::Dev {
        return Err(("store_tokens", "the dev provider has no upstream tokens".into()));
    }
    if !p.token_exchange_clients.is_empty() && !p.store_tokens {
        return Err(("token_exchange_clients", "needs store_tokens = true".into()));
    }
    if p.token_retention_secs <= 0 || p.refresh_skew_secs < 0 {
        return Err(("token_retention_secs", "token_retention_secs must be positive, refresh_skew_secs >= 0".into()));
    }
    if p.ldap.is_some() != (p.kind == ProviderKind::Ldap) {
        return Err(("ldap", "an [ldap] table goes with kind = \"ldap\" (and only there)".into()));
    }
    if !matches!(p.kind, ProviderKind::Dev | ProviderKind::Ldap | ProviderKind::Saml) && p.client_id.is_empty() {
        return Err(("client_id", "required".into()));
    }
    if !p.tenants.is_empty() && p.kind != ProviderKind::Oidc {
        return Err(("tenants", "only an oidc provider (Microsoft multi-tenant) has tenants".into()));
    }
    match p.kind {
        ProviderKind::Oidc => {
            url("issuer", &p.issuer)?;
            if !p.issuer.as_deref().is_some_and(|i| i.starts_with("https://") || i.starts_with("http://")) {
                return Err(("issuer", "must be an http(s) URL".into()));
            }
            validate_tenants(p)?;
        }
        ProviderKind::Oauth2 => {
            url("authorization_url", &p.authorization_url)?;
            url("token_url", &p.token_url)?;
            url("userinfo_url", &p.userinfo_url)?;
            if p.claims.subject.is_none() {
                return Err(("claims.subject", "required for kind oauth2 (a JSON pointer such as \"/id\")".into()));
            }
        }
        ProviderKind::Apple => validate_apple(p)?,
        ProviderKind::Saml => super::saml::metadata::validate(p)?,
        ProviderKind::Github | ProviderKind::Dev => {}
        ProviderKind::Ldap => {
            if let Some(l) = &p.ldap {
                l.validate()?;
            }
            if p.claims.subject.is_some() {
                return Err(("claims.subject", "for kind ldap the subject is ldap.subject_attribute".into()));
            }
            if p.store_tokens || p.refresh_upstream {
                return Err((
                    "store_tokens",
                    "a directory gives no upstream tokens (store_tokens, refresh_upstream)".into(),
                ));
            }
        }
    }
    for (key, v) in [
        ("claims.subject", &p.claims.subject),
        ("claims.email", &p.claims.email),
        ("claims.email_verified", &p.claims.email_verified),
        ("claims.name", &p.claims.name),
        ("claims.preferred_username", &p.claims.preferred_username),
        ("claims.picture", &p.claims.picture),
        ("claims.groups", &p.claims.groups),
    ] {
        if v.as_deref().is_some_and(|s| !s.is_empty() && !s.starts_with('/')) {
            return Err((key, "must be a JSON pointer starting with `/`".into()));
        }
    }
    Ok(())
}

/// [MS-1] An issuer with `{tenantid}` needs `tenants` and the reverse; the subject is `tid` + `oid` (no
/// `claims.subject`); a template issuer cannot sign logout tokens the broker could check.
fn validate_tenants(p: &ProviderConfig) -> Result<(), (&'static str, String)> {
    use bridgekeeper_core::tenants;
    let template = p.issuer.as_deref().is_some_and(tenants::is_template);
    match (template, p.tenants.is_empty()) {
        (false, true) => return Ok(()),
        (true, true) => {
            return Err(("issuer", "a `{tenantid}` issuer needs `tenants` (tenant ids or \"organizations\")".into()));
        }
        (false, false) => return Err(("tenants", "needs an issuer with `{tenantid}`".into())),
        (true, false) => {}
    }
    tenants::Tenants::parse(&p.tenants).map_err(|e| ("tenants", e))?;
    if p.claims.subject.is_some() {
        return Err(("claims.subject", "a multi-tenant provider's subject is tid + oid; remove it".into()));
    }
    if p.backchannel_logout {
        return Err(("backchannel_logout", "not supported for a multi-tenant issuer".into()));
    }
    // [MS-5] nOAuth: an Entra email is whatever each tenant's admin set; with an open list anyone is such an admin.
    let open = p.tenants.iter().any(|t| matches!(t.as_str(), "organizations" | "common" | "consumers"));
    if open && (p.trust_email || p.link_by_email != LinkByEmail::Never) {
        return Err((
            "trust_email",
            "an open tenant list (organizations/common/consumers) cannot be trusted for emails or link by email".into(),
        ));
    }
    Ok(())
}

/// Apple's issuer (the default `issuer` of `kind = "apple"`; another value only for tests against a fake).
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

/// [AP-6] Reads the `.p8` key (file or `${ENV}` value) into `private_key`; the issuer defaults to Apple's.
fn load_apple_key(p: &mut ProviderConfig, env: &[(String, String)]) -> Result<(), (&'static str, String)> {
    if p.issuer.is_none() {
        p.issuer = Some(APPLE_ISSUER.to_string());
    }
    let pem = match (&p.private_key_file, &p.private_key) {
        (Some(_), Some(_)) => return Err(("private_key", "set private_key_file or private_key, not both".into())),
        (None, None) => return Err(("private_key_file", "required for kind apple (the .p8 key)".into())),
        (Some(f), None) => {
            std::fs::read_to_string(f).map_err(|e| ("private_key_file", format!("cannot read ({e})")))?
        }
        (None, Some(k)) => crate::settings::interpolate(k.expose(), env)
            .map_err(|v| ("private_key", format!("environment variable {v} is not set")))?,
    };
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|_| ("private_key", "not a PKCS#8 PEM EC (P-256) key".to_string()))?;
    // [AP-8] jsonwebtoken takes any EC PKCS#8 key (P-384 too): one throwaway ES256 signature proves it is P-256.
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    jsonwebtoken::encode(&header, &serde_json::json!({}), &key)
        .map_err(|_| ("private_key", "not a P-256 key (ES256 cannot sign with it)".to_string()))?;
    p.private_key = Some(Secret::new(pem));
    Ok(())
}

/// [AP-6] [AP-7] What `kind = "apple"` needs: the service id, team and key ids, no static secret.
fn validate_apple(p: &ProviderConfig) -> Result<(), (&'static str, String)> {
    for (key, v) in [("team_id", &p.team_id), ("key_id", &p.key_id)] {
        if v.as_deref().is_none_or(str::is_empty) {
            return Err((key, "required for kind apple".into()));
        }
    }
    if p.client_secret.is_some() {
        return Err(("client_secret", "kind apple signs its own client secret from the .p8 key; remove it".into()));
    }
    if !p.issuer.as_deref().is_some_and(|i| i.starts_with("https://") || i.starts_with("http://")) {
        return Err(("issuer", "must be an http(s) URL".into()));
    }
    if p.claims.subject.is_some() {
        return Err(("claims.subject", "Apple's subject is the ID token's sub; remove it".into()));
    }
    Ok(())
}
