//! Client registration rules shared by the config file, the CLI, the admin API, the developer portal and
//! dynamic registration: validation, creation, updates, secret rotation with a grace period, scope approval.

use bridgekeeper_core::client_profile;

use crate::secret::{Secret, hash_token, random_token};
use crate::settings::{Settings, StaticClient};
use crate::store::audit::AuditKind;
use crate::store::clients::{self as repo, Client};
use crate::store::{Db, StoreError, StoreResult, audit};

mod keys;
mod profile;
mod shape;
pub use keys::{ADMIN_SET, keep_admin_settings, key_and_par_metadata, with_dpop_bound};
use keys::{apply_metadata_changes, check_key_changes, check_keys};
use profile::{apply_profile_change, check_profile_change};
pub use profile::{stored_profile, with_profile};
use shape::check;

/// What someone asks for when adding a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    /// Requested scopes that wait for an admin's approval.
    pub pending_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub public: bool,
    pub skip_consent: bool,
    pub logo_uri: Option<String>,
    pub owner_id: Option<String>,
    /// "cli", "api", "portal" or "dynamic".
    pub source: String,
    pub metadata_json: Option<String>,
    /// `client_secret_basic` (default for confidential clients, RFC 7591 §2), `client_secret_post`; public
    /// clients are always `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// client_credentials for a portal or dynamic client: only an admin sets this.
    pub client_credentials_allowed: bool,
    /// [BL-1] Where logout tokens go, and whether the app needs `sid` in them.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// [FL-1] The iframe address of the signed-out page, and whether it gets `iss` and `sid`.
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
}

/// A new client and, for confidential clients, the secret (shown once, stored only hashed).
#[derive(Debug)]
pub struct Created {
    pub client: Client,
    pub secret: Option<Secret>,
}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    /// A redirect URI broke the rules (RFC 7591 `invalid_redirect_uri`).
    #[error("{0}")]
    InvalidRedirect(String),
    #[error("no such client")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub skip_consent: Option<bool>,
    pub disabled: Option<bool>,
    /// `Some(None)` removes the logo.
    pub logo_uri: Option<Option<String>>,
    pub token_endpoint_auth_method: Option<String>,
    /// Admin only: allow client_credentials for a portal or dynamic client.
    pub client_credentials_allowed: Option<bool>,
    /// `Some(None)` removes the back-channel logout URI.
    pub backchannel_logout_uri: Option<Option<String>>,
    pub backchannel_logout_session_required: Option<bool>,
    /// `Some(None)` removes the front-channel logout URI.
    pub frontchannel_logout_uri: Option<Option<String>>,
    pub frontchannel_logout_session_required: Option<bool>,
    /// [PJ-1] New public keys for a private_key_jwt client (`Some(None)` removes them); replaces `jwks_uri`.
    pub jwks: Option<Option<serde_json::Value>>,
    /// [PJ-7] A new `jwks_uri` (`Some(None)` or "" removes it); replaces `jwks`.
    pub jwks_uri: Option<Option<String>>,
    /// [PAR-5] Must the client push its authorization requests?
    pub require_pushed_authorization_requests: Option<bool>,
    /// [DP-4] Must every token request of the client carry a DPoP proof?
    pub dpop_bound_access_tokens: Option<bool>,
    /// [FA-1] A new profile (`fapi2`); a fapi2 client cannot leave it.
    pub profile: Option<String>,
}

impl ClientUpdate {
    /// An update that sets `disabled = true` and nothing else ([AD-1]).
    pub fn only_disables(&self) -> bool {
        self.disabled == Some(true) && self.changed() == ["disabled"]
    }

    /// The names of the members this update sets, for the audit trail ([AD-2]); never their values.
    pub fn changed(&self) -> Vec<&'static str> {
        let members = [
            ("name", self.name.is_some()),
            ("redirect_uris", self.redirect_uris.is_some()),
            ("post_logout_redirect_uris", self.post_logout_redirect_uris.is_some()),
            ("allowed_scopes", self.allowed_scopes.is_some()),
            ("grant_types", self.grant_types.is_some()),
            ("skip_consent", self.skip_consent.is_some()),
            ("disabled", self.disabled.is_some()),
            ("logo_uri", self.logo_uri.is_some()),
            ("token_endpoint_auth_method", self.token_endpoint_auth_method.is_some()),
            ("client_credentials_allowed", self.client_credentials_allowed.is_some()),
            ("backchannel_logout_uri", self.backchannel_logout_uri.is_some()),
            ("backchannel_logout_session_required", self.backchannel_logout_session_required.is_some()),
            ("frontchannel_logout_uri", self.frontchannel_logout_uri.is_some()),
            ("frontchannel_logout_session_required", self.frontchannel_logout_session_required.is_some()),
            ("jwks", self.jwks.is_some()),
            ("jwks_uri", self.jwks_uri.is_some()),
            ("require_pushed_authorization_requests", self.require_pushed_authorization_requests.is_some()),
            ("dpop_bound_access_tokens", self.dpop_bound_access_tokens.is_some()),
            ("profile", self.profile.is_some()),
        ];
        members.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect()
    }
}

/// Splits scopes a developer asks for into (allowed now, pending approval) by `[developers]`; refuses others.
pub fn self_service_scopes(settings: &Settings, requested: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let (mut allowed, mut pending) = (Vec::new(), Vec::new());
    for s in requested {
        if settings.developers.scopes.contains(s) {
            if !allowed.contains(s) {
                allowed.push(s.clone());
            }
        } else if settings.developers.approval_scopes.contains(s) {
            if !pending.contains(s) {
                pending.push(s.clone());
            }
        } else {
            return Err(format!("scope `{s}` cannot be requested here"));
        }
    }
    Ok((allowed, pending))
}

/// The method a new client gets when none is asked for: `none` for public clients, else client_secret_basic.
fn default_method(public: bool) -> String {
    if public { "none" } else { "client_secret_basic" }.into()
}

/// Validates and stores a new client.
pub async fn create(db: &Db, settings: &Settings, req: NewClient, now: i64) -> Result<Created, ClientError> {
    if let Some(id) = &req.client_id
        && (id.is_empty() || id.len() > 100 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
    {
        return Err(ClientError::Invalid("a client id is 1 to 100 of A-Z a-z 0-9 - _ .".into()));
    }
    let key_auth = req.token_endpoint_auth_method.as_deref() == Some(repo::PRIVATE_KEY_JWT);
    let secret = (!req.public && !key_auth).then(random_token);
    let client = Client {
        client_id: req.client_id.unwrap_or_else(|| format!("app_{}", crate::secret::random_token_bytes(12))),
        secret_hash: secret.as_deref().map(hash_token),
        name: req.name,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        allowed_scopes: req.allowed_scopes,
        pending_scopes: req.pending_scopes,
        grant_types: req.grant_types,
        skip_consent: req.skip_consent,
        require_pkce: req.public
            || req.metadata_json.as_deref().and_then(stored_profile).as_deref() == Some(client_profile::FAPI2),
        source: if req.source.is_empty() { "cli".into() } else { req.source },
        disabled: false,
        created_at: now,
        updated_at: now,
        owner_id: req.owner_id,
        logo_uri: req.logo_uri,
        metadata_json: req.metadata_json.unwrap_or_else(|| "{}".into()),
        token_endpoint_auth_method: req.token_endpoint_auth_method.unwrap_or_else(|| default_method(req.public)),
        client_credentials_allowed: req.client_credentials_allowed,
        backchannel_logout_uri: req.backchannel_logout_uri,
        backchannel_logout_session_required: req.backchannel_logout_session_required,
        frontchannel_logout_uri: req.frontchannel_logout_uri,
        frontchannel_logout_session_required: req.frontchannel_logout_session_required,
        ..Default::default()
    };
    check(settings, &client)?;
    let c = client.clone();
    db.write(move |conn| repo::insert(conn, &c)).await.map_err(|e| match e {
        StoreError::Conflict => ClientError::Conflict(format!("client id {} already exists", client.client_id)),
        other => ClientError::Store(other),
    })?;
    Ok(Created { client, secret: secret.map(Secret::new) })
}

/// Loads a client or `NotFound`.
pub async fn get(db: &Db, client_id: &str) -> Result<Client, ClientError> {
    let id = client_id.to_string();
    db.run(move |c| repo::find(c, &id)).await?.ok_or(ClientError::NotFound)
}

/// Applies `u` to a client after checking the result against the rules.
pub async fn update(
    db: &Db,
    settings: &Settings,
    client_id: &str,
    u: ClientUpdate,
    now: i64,
) -> Result<Client, ClientError> {
    let mut c = get(db, client_id).await?;
    if u.only_disables() {
        // [AD-1] Disabling is never refused: in an incident an admin must be able to stop a client that no longer
        // meets today's rules (a scope taken out of the catalogue, a tightened redirect rule, keys gone bad).
        c.disabled = true;
        c.updated_at = now;
        let row = c.clone();
        return if db.write(move |conn| repo::update(conn, &row)).await? { Ok(c) } else { Err(ClientError::NotFound) };
    }
    check_key_changes(&c, &u)?;
    check_profile_change(&c, &u)?;
    apply_logout_changes(&mut c, &u);
    apply_metadata_changes(&mut c, &u);
    apply_profile_change(&mut c, &u);
    if let Some(v) = u.name {
        c.name = v;
    }
    if let Some(v) = u.redirect_uris {
        c.redirect_uris = v;
    }
    if let Some(v) = u.post_logout_redirect_uris {
        c.post_logout_redirect_uris = v;
    }
    if let Some(v) = u.allowed_scopes {
        c.pending_scopes.retain(|p| !v.contains(p));
        c.allowed_scopes = v;
    }
    if let Some(v) = u.grant_types {
        c.grant_types = v;
    }
    if let Some(v) = u.skip_consent {
        c.skip_consent = v;
    }
    if let Some(v) = u.disabled {
        c.disabled = v;
    }
    if let Some(v) = u.logo_uri {
        c.logo_uri = v.filter(|l| !l.is_empty());
    }
    if let Some(v) = u.token_endpoint_auth_method {
        c.token_endpoint_auth_method = v;
    }
    if let Some(v) = u.client_credentials_allowed {
        c.client_credentials_allowed = v;
    }
    c.updated_at = now;
    check(settings, &c)?;
    save(db, c).await
}

/// The back- and front-channel logout members of an update ("" or `Some(None)` removes a URI).
fn apply_logout_changes(c: &mut Client, u: &ClientUpdate) {
    if let Some(v) = &u.backchannel_logout_uri {
        c.backchannel_logout_uri = v.clone().filter(|l| !l.is_empty());
    }
    if let Some(v) = u.backchannel_logout_session_required {
        c.backchannel_logout_session_required = v;
    }
    if let Some(v) = &u.frontchannel_logout_uri {
        c.frontchannel_logout_uri = v.clone().filter(|l| !l.is_empty());
    }
    if let Some(v) = u.frontchannel_logout_session_required {
        c.frontchannel_logout_session_required = v;
    }
}

/// Checks a changed client with every rule a new one meets ([PAR-5]'s `par.enabled`, keys, scopes, …) and
/// stores it: for changes made outside this module (RFC 7592 PUT).
pub async fn save_checked(db: &Db, settings: &Settings, c: Client) -> Result<Client, ClientError> {
    check(settings, &c)?;
    save(db, c).await
}

/// Stores an already checked client as it is, after the key and secret rules of [PJ-1] (every path that changes
/// a client's method or keys passes them).
pub async fn save(db: &Db, c: Client) -> Result<Client, ClientError> {
    check_keys(&c)?;
    let row = c.clone();
    if !db.write(move |conn| repo::update(conn, &row)).await? {
        return Err(ClientError::NotFound);
    }
    Ok(c)
}

/// A fresh secret for a confidential client; the old one keeps working for `grace_secs` (0: stops at once).
pub async fn rotate_secret(db: &Db, client_id: &str, now: i64, grace_secs: i64) -> Result<Secret, ClientError> {
    let mut c = get(db, client_id).await?;
    let Some(old) = c.secret_hash.take() else {
        return Err(ClientError::Invalid(format!("{client_id} is a public client: it has no secret")));
    };
    let secret = random_token();
    c.secret_hash = Some(hash_token(&secret));
    (c.previous_secret_hash, c.previous_secret_expires_at) =
        if grace_secs > 0 { (Some(old), Some(now + grace_secs)) } else { (None, None) };
    c.updated_at = now;
    save(db, c).await?;
    Ok(Secret::new(secret))
}

/// An admin grants a scope that was pending approval (or adds a catalogue scope outright).
pub async fn approve_scope(
    db: &Db,
    settings: &Settings,
    client_id: &str,
    scope: &str,
    now: i64,
) -> Result<Client, ClientError> {
    let mut c = get(db, client_id).await?;
    if !settings.scopes.contains_key(scope) {
        return Err(ClientError::Invalid(format!("scope `{scope}` is not in the [scopes] catalogue")));
    }
    c.pending_scopes.retain(|p| p != scope);
    if !c.allowed_scopes.iter().any(|s| s == scope) {
        c.allowed_scopes.push(scope.to_string());
    }
    c.updated_at = now;
    check(settings, &c)?;
    save(db, c).await
}

/// Deletes a client and (by cascade) its grants, codes and consents.
pub async fn delete(db: &Db, client_id: &str) -> Result<(), ClientError> {
    let id = client_id.to_string();
    if db.write(move |c| repo::delete(c, &id)).await? { Ok(()) } else { Err(ClientError::NotFound) }
}

/// Records an admin or developer action on a client.
pub async fn audit_action(db: &Db, now: i64, event: AuditKind, client_id: &str, actor: &str) -> StoreResult<()> {
    audit_detail(db, now, event, client_id, serde_json::json!({ "actor": actor })).await
}

/// [AD-2] Records a change of a client with the names of the members it set and, for new keys, their `kid`s
/// (public; never a key, a secret or a URI's value).
pub async fn audit_update(db: &Db, now: i64, client_id: &str, actor: &str, u: &ClientUpdate) -> StoreResult<()> {
    let mut detail = serde_json::json!({ "actor": actor, "changed": u.changed() });
    if let Some(Some(jwks)) = &u.jwks {
        let kids: Vec<&serde_json::Value> =
            jwks["keys"].as_array().into_iter().flatten().filter_map(|k| k.get("kid")).collect();
        detail["kids"] = serde_json::json!(kids);
    }
    audit_detail(db, now, AuditKind::ClientUpdated, client_id, detail).await
}

async fn audit_detail(db: &Db, now: i64, event: AuditKind, id: &str, detail: serde_json::Value) -> StoreResult<()> {
    let mut e = audit::AuditEvent::new(now, event).client(id);
    e.detail = detail.to_string();
    db.run(move |c| audit::record(c, &e)).await
}

/// Upserts the `[[clients]]` of the configuration (their secrets are stored hashed) and disables the ones in
/// `removed` ([HR-2]: what a reload took out of the file; nothing at start-up, where an instance cannot tell a
/// client taken out of its file from one another instance's newer file added).
pub async fn sync_static(db: &Db, settings: &Settings, removed: &[String], now: i64) -> StoreResult<()> {
    let clients: Vec<Client> = settings.clients.iter().map(|c| from_config(c, now)).collect();
    let removed = removed.to_vec();
    // One short transaction per client: instances starting side by side on SQLite contend for its write lock.
    db.write(move |conn| {
        for c in &clients {
            repo::upsert(conn, c)?;
        }
        let n = repo::disable_removed_config(conn, &removed, now)?;
        if n > 0 {
            tracing::warn!(target: "reload", disabled = n, "clients taken out of [[clients]] are disabled");
        }
        Ok(())
    })
    .await
}

/// What a `[[clients]]` entry registers beyond the columns: its keys and whether it must push (PAR).
fn config_metadata(c: &StaticClient) -> String {
    let jwks = c.jwks.as_deref().and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
    let m = keys::with_dpop_bound(
        &key_and_par_metadata(jwks, None, c.require_pushed_authorization_requests),
        c.dpop_bound_access_tokens,
    );
    with_profile(&m, c.profile.as_deref())
}

fn from_config(c: &StaticClient, now: i64) -> Client {
    let key_auth = c.token_endpoint_auth_method.as_deref() == Some(repo::PRIVATE_KEY_JWT);
    Client {
        client_id: c.client_id.clone(),
        secret_hash: c.client_secret.as_ref().map(|s| hash_token(s.expose())),
        name: c.name.clone().unwrap_or_else(|| c.client_id.clone()),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        allowed_scopes: c.allowed_scopes.clone(),
        grant_types: c.grant_types.clone(),
        skip_consent: c.skip_consent,
        require_pkce: c.require_pkce
            || (c.client_secret.is_none() && !key_auth)
            || c.profile.as_deref() == Some(client_profile::FAPI2),
        metadata_json: config_metadata(c),
        source: "config".into(),
        // Without the key a config client keeps accepting both secret methods, as before it existed.
        token_endpoint_auth_method: c
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| if c.client_secret.is_none() { "none".into() } else { repo::BASIC_OR_POST.into() }),
        backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: c.backchannel_logout_session_required,
        frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: c.frontchannel_logout_session_required,
        disabled: false,
        created_at: now,
        updated_at: now,
        ..Default::default()
    }
}
