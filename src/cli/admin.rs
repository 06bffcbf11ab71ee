//! Admin subcommands that work on the database directly: migrate, clients, providers, keys, users.

use clap::{Args, Subcommand};

use super::CliError;
use crate::accounts::clients::{self, NewClient};
use crate::clock::Clock;
use crate::settings::Settings;
use crate::store::audit::AuditKind;
use crate::store::{self, Db};

#[derive(Debug, Subcommand)]
pub enum ClientsCmd {
    /// Register a client; prints its id and (once) its secret.
    Add(AddClient),
    /// List registered clients.
    List,
    /// Show one client.
    Show { client_id: String },
    /// Delete a client and everything issued to it.
    Remove { client_id: String },
    /// Issue a new secret for a confidential client; the old one stops working (after `--grace` seconds).
    RotateSecret {
        client_id: String,
        /// Seconds the old secret keeps working.
        #[arg(long, default_value_t = 0)]
        grace: i64,
    },
    /// Grant a client a scope that waits for approval (or any catalogue scope, e.g. `admin`).
    ApproveScope { client_id: String, scope: String },
    /// Allow (or, with `--deny`, forbid again) client_credentials for a portal or dynamically registered client.
    AllowClientCredentials {
        client_id: String,
        #[arg(long)]
        deny: bool,
    },
    /// Set how a client must authenticate: client_secret_basic, client_secret_post, none (public clients), or
    /// client_secret_basic_or_post (either secret method).
    SetAuthMethod { client_id: String, method: String },
}

#[derive(Debug, Args)]
pub struct AddClient {
    /// Display name shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// Client id (generated when omitted).
    #[arg(long = "id")]
    pub client_id: Option<String>,
    /// Redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scope (repeatable; default openid profile email).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Grant type (repeatable; default authorization_code refresh_token).
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// Public client (no secret, PKCE required).
    #[arg(long)]
    pub public: bool,
    /// First-party app: skip the consent page.
    #[arg(long)]
    pub skip_consent: bool,
    /// How the client authenticates: client_secret_basic (default) or client_secret_post; public clients: none.
    #[arg(long = "auth-method")]
    pub auth_method: Option<String>,
    /// Where the broker POSTs back-channel logout tokens (https, or http on loopback).
    #[arg(long = "backchannel-logout-uri")]
    pub backchannel_logout_uri: Option<String>,
    /// The app needs `sid` in its logout tokens (the broker always sends it).
    #[arg(long)]
    pub backchannel_logout_session_required: bool,
    /// Where the signed-out page's iframe goes for this app (same scheme, host and port as a redirect URI).
    #[arg(long = "frontchannel-logout-uri")]
    pub frontchannel_logout_uri: Option<String>,
    /// The iframe's address gets `iss` and `sid`.
    #[arg(long)]
    pub frontchannel_logout_session_required: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCmd {
    /// List provider files and whether each is enabled.
    List,
    /// Validate every provider file.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// List signing keys and their state.
    List,
    /// Promote the published `next` key to signing, retire the current one, publish a new `next`.
    Rotate,
    /// Re-encrypt stored secrets (signing keys, upstream refresh tokens) with the first of `encryption_keys`.
    Reseal,
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// List local users.
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Show one user and their linked identities.
    Show { user_id: String },
}

fn failed(e: clients::ClientError) -> CliError {
    CliError::Failed(match e {
        clients::ClientError::NotFound => "no such client".into(),
        other => other.to_string(),
    })
}

fn sealer(settings: &Settings) -> Result<crate::crypto::Sealer, CliError> {
    crate::crypto::Sealer::from_spec(settings.encryption_keys.expose()).map_err(CliError::Config)
}

pub(super) fn open(settings: &Settings) -> Result<Db, CliError> {
    let db = Db::open_with(&settings.database_url, &settings.database.pool_options())?;
    db.migrate()?;
    Ok(db)
}

fn audit(db: &Db, event: AuditKind, client: Option<&str>) {
    let mut e = store::audit::AuditEvent::new(Clock::System.now(), event).provider("cli");
    if let Some(c) = client {
        e = e.client(c);
    }
    if let Ok(mut conn) = db.conn() {
        let _ = store::audit::record(&mut conn, &e);
    }
}

pub async fn migrate(settings: &Settings) -> Result<(), CliError> {
    let db = Db::open_with(&settings.database_url, &settings.database.pool_options())?;
    let n = tokio::task::spawn_blocking(move || db.migrate()).await.map_err(|e| CliError::Failed(e.to_string()))??;
    println!("applied {n} migration(s)");
    Ok(())
}

pub async fn clients(settings: &Settings, cmd: ClientsCmd) -> Result<(), CliError> {
    let db = open(settings)?;
    let now = Clock::System.now();
    match cmd {
        ClientsCmd::Add(a) => {
            let or =
                |v: Vec<String>, d: &[&str]| if v.is_empty() { d.iter().map(|s| s.to_string()).collect() } else { v };
            let req = NewClient {
                client_id: a.client_id,
                name: a.name,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                allowed_scopes: or(a.scopes, &["openid", "profile", "email"]),
                grant_types: or(a.grants, &["authorization_code", "refresh_token"]),
                public: a.public,
                skip_consent: a.skip_consent,
                source: "cli".into(),
                token_endpoint_auth_method: a.auth_method,
                backchannel_logout_uri: a.backchannel_logout_uri,
                backchannel_logout_session_required: a.backchannel_logout_session_required,
                frontchannel_logout_uri: a.frontchannel_logout_uri,
                frontchannel_logout_session_required: a.frontchannel_logout_session_required,
                ..Default::default()
            };
            let created = clients::create(&db, settings, req, now).await.map_err(failed)?;
            audit(&db, AuditKind::ClientAdded, Some(&created.client.client_id));
            println!("client_id: {}", created.client.client_id);
            match created.secret {
                Some(s) => println!("client_secret: {}\n(store it now: it is not shown again)", s.expose()),
                None => println!("public client: no secret, PKCE required"),
            }
        }
        ClientsCmd::List => {
            let list = db.run(store::clients::list).await?;
            for c in list {
                let kind = if c.is_public() { "public" } else { "confidential" };
                println!("{}\t{}\t{}\t{}", c.client_id, kind, c.source, c.name);
            }
        }
        ClientsCmd::Show { client_id } => {
            let id = client_id.clone();
            let c = db
                .run(move |conn| store::clients::find(conn, &id))
                .await?
                .ok_or_else(|| CliError::Failed(format!("no client {client_id}")))?;
            println!("client_id: {}", c.client_id);
            println!("name: {}", c.name);
            println!("type: {}", if c.is_public() { "public" } else { "confidential" });
            println!("source: {}", c.source);
            println!("redirect_uris: {}", c.redirect_uris.join(" "));
            println!("post_logout_redirect_uris: {}", c.post_logout_redirect_uris.join(" "));
            println!("allowed_scopes: {}", c.allowed_scopes.join(" "));
            println!("grant_types: {}", c.grant_types.join(" "));
            println!("token_endpoint_auth_method: {}", c.token_endpoint_auth_method);
            println!("client_credentials_allowed: {}", c.client_credentials_allowed);
            println!("backchannel_logout_uri: {}", c.backchannel_logout_uri.as_deref().unwrap_or(""));
            println!("frontchannel_logout_uri: {}", c.frontchannel_logout_uri.as_deref().unwrap_or(""));
            println!("pending_scopes: {}", c.pending_scopes.join(" "));
            println!("skip_consent: {}", c.skip_consent);
            println!("disabled: {}", c.disabled);
            println!("owner: {}", c.owner_id.as_deref().unwrap_or("-"));
        }
        ClientsCmd::Remove { client_id } => {
            let id = client_id.clone();
            if !db.write(move |conn| store::clients::delete(conn, &id)).await? {
                return Err(CliError::Failed(format!("no client {client_id}")));
            }
            audit(&db, AuditKind::ClientRemoved, Some(&client_id));
            println!("removed {client_id}");
        }
        ClientsCmd::ApproveScope { client_id, scope } => {
            let c = clients::approve_scope(&db, settings, &client_id, &scope, now).await.map_err(failed)?;
            audit(&db, AuditKind::ClientScopeApproved, Some(&client_id));
            println!("{client_id}: allowed scopes {}", c.allowed_scopes.join(" "));
        }
        ClientsCmd::AllowClientCredentials { client_id, deny } => {
            let u = clients::ClientUpdate { client_credentials_allowed: Some(!deny), ..Default::default() };
            clients::update(&db, settings, &client_id, u, now).await.map_err(failed)?;
            audit(
                &db,
                if deny { AuditKind::ClientCredentialsDenied } else { AuditKind::ClientCredentialsAllowed },
                Some(&client_id),
            );
            println!("{client_id}: client_credentials {}", if deny { "not allowed" } else { "allowed" });
        }
        ClientsCmd::SetAuthMethod { client_id, method } => {
            let u = clients::ClientUpdate { token_endpoint_auth_method: Some(method.clone()), ..Default::default() };
            clients::update(&db, settings, &client_id, u, now).await.map_err(failed)?;
            audit(&db, AuditKind::ClientUpdated, Some(&client_id));
            println!("{client_id}: token_endpoint_auth_method {method}");
        }
        ClientsCmd::RotateSecret { client_id, grace } => {
            if grace < 0 {
                return Err(CliError::Failed("--grace must not be negative".into()));
            }
            let secret = clients::rotate_secret(&db, &client_id, now, grace).await.map_err(failed)?;
            audit(&db, AuditKind::ClientSecretRotated, Some(&client_id));
            println!(
                "client_id: {client_id}\nclient_secret: {}\n(store it now: it is not shown again)",
                secret.expose()
            );
        }
    }
    Ok(())
}

pub async fn providers(settings: &Settings, cmd: ProvidersCmd) -> Result<(), CliError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let list = crate::upstream::config::load_dir(&settings.providers_dir, &env).map_err(CliError::Config)?;
    match cmd {
        ProvidersCmd::List => {
            for p in &list {
                let state = if p.enabled { "enabled" } else { "disabled" };
                println!("{}\t{:?}\t{}\t{}", p.id, p.kind, state, p.display_name);
            }
        }
        ProvidersCmd::Check => {
            let registry = crate::upstream::Registry::load(
                &settings.providers_dir,
                settings.dev_mode,
                std::time::Duration::from_secs(settings.upstream_timeout_secs.max(1)),
                &env,
            )
            .map_err(CliError::Config)?;
            for p in &list {
                for w in crate::upstream::ldap::config::warnings(p) {
                    println!("{w}");
                }
            }
            let mut failed = 0;
            for p in registry.list() {
                match registry.check(&p.cfg.id).await {
                    Ok(()) => println!("{}\tok", p.cfg.id),
                    Err(e) => {
                        failed += 1;
                        println!("{}\tunreachable: {}", p.cfg.id, e.detail);
                    }
                }
            }
            println!("{} provider file(s) valid in {}", list.len(), settings.providers_dir.display());
            if failed > 0 {
                return Err(CliError::Failed(format!("{failed} provider(s) unreachable")));
            }
        }
    }
    Ok(())
}

pub async fn keys(settings: &Settings, cmd: KeysCmd) -> Result<(), CliError> {
    let db = open(settings)?;
    let now = Clock::System.now();
    let algs = settings.tokens.algs();
    match cmd {
        KeysCmd::Reseal => {
            let sealer = sealer(settings)?;
            if !sealer.is_enabled() {
                return Err(CliError::Config("encryption_keys is empty: nothing to seal with".into()));
            }
            let n = db
                .run(move |c| {
                    let keys = crate::tokens::keyring::reseal(c, &sealer)?;
                    let tokens = crate::accounts::upstream_tokens::reseal(c, &sealer)?;
                    let server = crate::accounts::server_secrets::reseal(c, &sealer)?;
                    let id_tokens = crate::accounts::session::reseal_id_tokens(c, &sealer)?;
                    let vault = crate::accounts::vault::reseal(c, &sealer)?;
                    Ok(keys + tokens + server + id_tokens + vault)
                })
                .await?;
            audit(&db, AuditKind::SecretsResealed, None);
            println!("re-encrypted {n} secret(s) with the current key");
        }
        KeysCmd::List => {
            for k in db.run(store::keys::list).await? {
                println!("{}\t{}\t{}\tcreated {}", k.kid, k.alg, k.state, k.created_at);
            }
        }
        KeysCmd::Rotate => {
            let keep = settings.tokens.access_token_ttl_secs.max(settings.tokens.id_token_ttl_secs) + 60;
            let sealer = sealer(settings)?;
            let kid = db.run(move |c| crate::tokens::keyring::rotate_all(c, &algs, now, keep, &sealer)).await?;
            audit(&db, AuditKind::KeysRotated, None);
            println!("now signing with {kid}");
        }
    }
    Ok(())
}

pub async fn users(settings: &Settings, cmd: UsersCmd) -> Result<(), CliError> {
    let db = open(settings)?;
    match cmd {
        UsersCmd::List { limit, offset } => {
            for u in db.run(move |c| store::users::list(c, limit, offset)).await? {
                let state = if u.disabled { "disabled" } else { "active" };
                println!(
                    "{}\t{}\t{}\t{}",
                    u.id,
                    u.email.as_deref().unwrap_or("-"),
                    u.name.as_deref().unwrap_or("-"),
                    state
                );
            }
        }
        UsersCmd::Show { user_id } => {
            let id = user_id.clone();
            let (user, ids) =
                db.run(move |c| Ok((store::users::find(c, &id)?, store::identities::list_for_user(c, &id)?))).await?;
            let u = user.ok_or_else(|| CliError::Failed(format!("no user {user_id}")))?;
            println!("id: {}\nemail: {} (verified: {})", u.id, u.email.as_deref().unwrap_or("-"), u.email_verified);
            println!(
                "name: {}\ndisabled: {}\ngroups: {}",
                u.name.as_deref().unwrap_or("-"),
                u.disabled,
                u.groups().join(" ")
            );
            for i in ids {
                println!("identity: {} {} (last used {})", i.provider, i.subject, i.last_used_at);
            }
        }
    }
    Ok(())
}

pub async fn audit_log(settings: &Settings, limit: i64, event: Option<String>, json: bool) -> Result<(), CliError> {
    let db = open(settings)?;
    let events = db.run(move |c| store::audit::list(c, limit.clamp(1, 100_000))).await?;
    for e in events.iter().filter(|e| event.as_deref().is_none_or(|want| e.event == want)) {
        if json {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        } else {
            let d = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            println!(
                "{}\t{}\tuser={}\tclient={}\tprovider={}",
                e.at,
                e.event,
                d(&e.user_id),
                d(&e.client_id),
                d(&e.provider)
            );
        }
    }
    Ok(())
}
