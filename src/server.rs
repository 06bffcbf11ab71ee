//! Wiring: shared state, the actix `App` (the same one `serve`, tests and benchmarks run), middleware.

use std::net::TcpListener;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::clock::Clock;
use crate::respond::Templates;
use crate::settings::Settings;
pub use crate::state::{AppState, CLIENT_CACHE_SECS, Caches, RequestId, TOKEN_CACHE_SECS};

mod middleware;
use crate::store::{Db, StoreError};
use crate::tokens::KeyRing;
use middleware::{
    host_cookies, language, no_store_by_default, render_error_pages, request_ceiling, request_id_and_log,
    settings_snapshot,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A configuration problem found at start (templates, provider files).
    #[error("{0}")]
    Templates(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

impl AppState {
    /// Opens storage, applies migrations (if configured), makes sure signing keys exist, upserts the static
    /// clients and loads the templates.
    pub async fn prepare(settings: Settings, clock: Clock) -> Result<Arc<Self>, StartError> {
        let metrics = crate::metrics::Metrics::new().map_err(|e| StartError::Templates(format!("metrics: {e}")))?;
        let mut db = Db::open_with(&settings.database_url, &settings.database.pool_options())?;
        db.observe_waits(metrics.db_wait.clone());
        db.listen_for_invalidations();
        metrics.config_last_reload.set(clock.now());
        if settings.migrate_on_start {
            let d = db.clone();
            let n = tokio::task::spawn_blocking(move || d.migrate())
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            if n > 0 {
                tracing::info!(applied = n, "database migrations applied");
            }
        }
        let algs = settings.tokens.algs();
        let now = clock.now();
        let sealer = Arc::new(
            crate::crypto::Sealer::from_spec(settings.encryption_keys.expose()).map_err(StartError::Templates)?,
        );
        if !sealer.is_enabled() {
            tracing::warn!("encryption_keys is empty: signing keys and upstream refresh tokens are stored unencrypted");
        }
        let (ring, csrf_secret) = load_keys(&db, algs, now, sealer.clone()).await?;
        crate::accounts::clients::sync_static(&db, &settings, &[], now).await?;
        let templates = Templates::load(settings.templates_override()).map_err(StartError::Templates)?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        let mut upstreams = crate::upstream::Registry::load(
            &settings.providers_dir,
            settings.dev_mode,
            std::time::Duration::from_secs(settings.upstream_timeout_secs.max(1)),
            &env,
        )
        .map_err(StartError::Templates)?;
        if let Some(problem) = upstreams.sealing_problems(sealer.is_enabled()).into_iter().next() {
            return Err(StartError::Templates(problem));
        }
        upstreams.http.instrument(metrics.upstream.clone());
        warn_refresh_without_offline_access(&upstreams);
        crate::accounts::providers::reconcile(&db, sealer.clone(), &upstreams, now).await?;
        if !templates.locales().contains(&settings.default_locale) {
            return Err(StartError::Templates(format!(
                "key `default_locale`: no catalogue locales/{}.ftl (there are: {})",
                settings.default_locale,
                templates.locales().join(", ")
            )));
        }
        let discovery = discovery_bytes(&settings, &templates.locales());
        let limits = crate::ratelimit::Limits::new(&settings.rate_limits);
        Ok(Arc::new(AppState {
            upstreams: RwLock::new(Arc::new(upstreams)),
            sealer,
            limits: RwLock::new(Arc::new(limits)),
            passwords: Default::default(),
            caches: Caches::default(),
            logout_wake: Default::default(),
            static_clients: tokio::sync::Mutex::new(settings.clients.iter().map(|c| c.client_id.clone()).collect()),
            metrics,
            csrf_key: crate::accounts::session::csrf_key(&csrf_secret),
            dpop_nonce_key: crate::oauth::dpop::nonce_key(&csrf_secret),
            shared_keys: crate::ratelimit::SharedKeys::new(&csrf_secret),
            dpop_jtis: crate::store::replay_batch::Batcher::new(db.clone(), crate::store::dpop_jtis::remember_many),
            proxies: crate::client_addr::parse_proxies(&settings.trusted_proxies).map_err(StartError::Templates)?,
            settings: RwLock::new(Arc::new(settings)),
            db,
            clock,
            templates,
            keys: RwLock::new(Arc::new(ring)),
            discovery: RwLock::new(discovery),
        }))
    }

    /// Re-reads the keys from the database (after a rotation by another instance or the CLI).
    pub async fn reload_keys(&self) -> Result<(), StoreError> {
        let sealer = self.sealer.clone();
        let ring = self.db.run(move |c| KeyRing::load(c, &sealer)).await?;
        let discovery = discovery_bytes(&self.settings_in_force(), &self.templates.locales());
        match self.discovery.write() {
            Ok(mut d) => *d = discovery,
            Err(poisoned) => *poisoned.into_inner() = discovery,
        }
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
        Ok(())
    }
}

/// `refresh_upstream` at an OIDC provider that does not ask for `offline_access` may get no refresh token.
pub(crate) fn warn_refresh_without_offline_access(upstreams: &crate::upstream::Registry) {
    for p in upstreams.list().filter(|p| p.cfg.refresh_upstream) {
        if !p.cfg.scopes.iter().any(|s| s == "offline_access")
            && p.cfg.kind == crate::upstream::config::ProviderKind::Oidc
        {
            tracing::warn!(provider = %p.cfg.id, "refresh_upstream without offline_access in scopes: the upstream may issue no refresh token, and downstream refreshes would then fail");
        }
    }
}

/// Makes sure signing keys and the CSRF key exist; loads the key ring and the CSRF secret.
async fn load_keys(
    db: &Db,
    algs: Vec<crate::tokens::keys::Alg>,
    now: i64,
    sealer: Arc<crate::crypto::Sealer>,
) -> Result<(KeyRing, Vec<u8>), StoreError> {
    db.run(move |c| {
        crate::tokens::keyring::ensure_all(c, &algs, now, &sealer)?;
        let csrf =
            crate::accounts::server_secrets::get_or_create(c, &sealer, crate::accounts::server_secrets::CSRF_KEY, now)?;
        Ok((KeyRing::load(c, &sealer)?, csrf))
    })
    .await
}

fn discovery_bytes(settings: &Settings, locales: &[String]) -> Arc<[u8]> {
    let mut doc = crate::oauth::discovery::metadata(settings);
    // [LC-1] The languages of the pages (OpenID Connect Discovery §3).
    doc["ui_locales_supported"] = serde_json::json!(locales);
    serde_json::to_vec(&doc).unwrap_or_default().into()
}

/// The application, exactly as `serve` runs it.
pub fn build_app(
    state: Arc<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let https = state.settings().issuer.starts_with("https://");
    let mut headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", crate::respond::PAGE_CSP));
    if https {
        headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
    }
    let data = web::Data::from(state);
    App::new()
        .app_data(data)
        .app_data(web::FormConfig::default().limit(64 * 1024))
        .app_data(web::PayloadConfig::new(64 * 1024))
        .app_data(web::JsonConfig::default().limit(64 * 1024))
        .app_data(web::QueryConfig::default())
        .configure(crate::health::configure)
        .configure(crate::oauth::configure)
        .configure(crate::web::configure)
        .configure(crate::admin::configure)
        .wrap(from_fn(render_error_pages))
        .wrap(from_fn(language))
        .wrap(from_fn(host_cookies))
        .wrap(from_fn(request_ceiling))
        .wrap(headers)
        .wrap(from_fn(request_id_and_log))
        .wrap(from_fn(no_store_by_default))
        .wrap(from_fn(settings_snapshot))
}

/// Re-reads signing keys every `tokens.key_reload_secs`, so a rotation anywhere reaches this instance.
pub fn spawn_key_reloader(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.settings().tokens.key_reload_secs.max(1) as u64);
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = state.reload_keys().await {
                tracing::warn!(error = %e, "could not reload signing keys; keeping the ones loaded");
            }
        }
    })
}

/// [MT-1] The metrics listener (`metrics_bind`): `/metrics` alone, in the Prometheus text format. The public
/// listener never serves it.
pub fn start_metrics(state: Arc<AppState>, listener: TcpListener) -> Result<Server, StartError> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let server = HttpServer::new(move || {
        App::new().app_data(web::Data::from(state.clone())).route("/metrics", web::get().to(metrics_page))
    })
    .workers(1)
    .shutdown_timeout(2)
    .listen(listener)
    .map_err(|e| StartError::Bind(addr, e))?
    .run();
    Ok(server)
}

async fn metrics_page(state: web::Data<AppState>) -> HttpResponse {
    let (open, idle) = state.db.pool_state();
    let m = &state.metrics;
    m.db_connections.with_label_values(&["idle"]).set(i64::from(idle));
    m.db_connections.with_label_values(&["in_use"]).set(i64::from(open.saturating_sub(idle)));
    m.invalidation_listener_up.set(i64::from(state.db.listening()));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(m.render())
}

/// Binds and starts the HTTP server; graceful shutdown on SIGTERM/SIGINT is actix's default.
pub fn start(state: Arc<AppState>, listener: TcpListener, workers: Option<usize>) -> Result<Server, StartError> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let s = state.clone();
    let mut server = HttpServer::new(move || build_app(s.clone()))
        .shutdown_timeout(10)
        .client_request_timeout(Duration::from_secs(10));
    if let Some(w) = workers {
        server = server.workers(w);
    }
    let server = server.listen(listener).map_err(|e| StartError::Bind(addr, e))?.run();
    let warm = state.clone();
    tokio::spawn(async move { warm.upstreams().warm_up().await });
    let tidy = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            tidy.limits().tidy();
        }
    });
    crate::logout::spawn(state.clone());
    spawn_key_reloader(state);
    Ok(server)
}
