//! Client registration rules shared by the config file, the CLI and (later) the developer portal.

use crate::secret::{hash_token, random_token};
use crate::settings::{GRANT_TYPES, Settings, StaticClient};
use crate::store::clients::{self as repo, Client};
use crate::store::{Db, StoreResult};

/// What an admin asks for when adding a client.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client_id: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub public: bool,
    pub skip_consent: bool,
}

/// A new client and, for confidential clients, the secret (shown once, stored only hashed).
#[derive(Debug)]
pub struct Created {
    pub client: Client,
    pub secret: Option<crate::secret::Secret>,
}

/// Validates and stores a new client.
pub async fn create(db: &Db, settings: &Settings, req: NewClient, now: i64) -> Result<Created, String> {
    for uri in req.redirect_uris.iter().chain(&req.post_logout_redirect_uris) {
        crate::oauth::redirect::validate_registered_uri(uri).map_err(|e| format!("redirect URI {uri}: {e}"))?;
    }
    if let Some(g) = req.grant_types.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(format!("unknown grant type `{g}`"));
    }
    if let Some(s) = req.allowed_scopes.iter().find(|s| !settings.scopes.contains_key(*s)) {
        return Err(format!("scope `{s}` is not in the [scopes] catalogue"));
    }
    if req.public && req.grant_types.iter().any(|g| g == "client_credentials") {
        return Err("a public client cannot use client_credentials".into());
    }
    if req.grant_types.iter().any(|g| g == "authorization_code") && req.redirect_uris.is_empty() {
        return Err("authorization_code needs at least one redirect URI".into());
    }
    let secret = (!req.public).then(random_token);
    let client = Client {
        client_id: req.client_id.unwrap_or_else(|| format!("app_{}", crate::secret::random_token_bytes(12))),
        secret_hash: secret.as_deref().map(hash_token),
        name: req.name,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        allowed_scopes: req.allowed_scopes,
        grant_types: req.grant_types,
        skip_consent: req.skip_consent,
        require_pkce: req.public,
        source: "cli".into(),
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let c = client.clone();
    db.run(move |conn| repo::insert(conn, &c)).await.map_err(|e| match e {
        crate::store::StoreError::Conflict => format!("client id {} already exists", client.client_id),
        other => other.to_string(),
    })?;
    Ok(Created { client, secret: secret.map(crate::secret::Secret::new) })
}

/// A fresh secret for an existing confidential client; the old one stops working at once.
pub async fn rotate_secret(db: &Db, client_id: &str, now: i64) -> Result<crate::secret::Secret, String> {
    let secret = random_token();
    let hash = hash_token(&secret);
    let id = client_id.to_string();
    let found = db
        .run(move |c| match repo::find(c, &id)? {
            Some(client) if !client.is_public() => repo::set_secret_hash(c, &id, &hash, now),
            _ => Ok(false),
        })
        .await
        .map_err(|e| e.to_string())?;
    if !found {
        return Err(format!("no confidential client {client_id}"));
    }
    Ok(crate::secret::Secret::new(secret))
}

/// Upserts the `[[clients]]` of the configuration (their secrets are stored hashed).
pub async fn sync_static(db: &Db, settings: &Settings, now: i64) -> StoreResult<()> {
    let clients: Vec<Client> = settings.clients.iter().map(|c| from_config(c, now)).collect();
    db.run(move |conn| {
        for c in &clients {
            repo::upsert(conn, c)?;
        }
        Ok(())
    })
    .await
}

fn from_config(c: &StaticClient, now: i64) -> Client {
    Client {
        client_id: c.client_id.clone(),
        secret_hash: c.client_secret.as_ref().map(|s| hash_token(s.expose())),
        name: c.name.clone().unwrap_or_else(|| c.client_id.clone()),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        allowed_scopes: c.allowed_scopes.clone(),
        grant_types: c.grant_types.clone(),
        skip_consent: c.skip_consent,
        require_pkce: c.require_pkce || c.client_secret.is_none(),
        source: "config".into(),
        disabled: false,
        created_at: now,
        updated_at: now,
    }
}
