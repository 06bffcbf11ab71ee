//! The demo: the broker on `config/demo.toml` (embedded SQLite, the `dev` upstream) and a tiny app that signs
//! in through it with the openidconnect crate, shows the claims, calls a protected API that validates the access
//! token through JWKS, and refreshes. Run: `cargo run --example demo`, then open http://127.0.0.1:9000/.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, web};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse,
};

const APP: &str = "http://127.0.0.1:9000";
type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

#[derive(Default)]
struct Browser {
    pending: Option<(String, String, String)>,
    id_claims: Option<serde_json::Value>,
    access_token: Option<String>,
    refresh_token: Option<String>,
}

struct Demo {
    client: Client,
    http: openidconnect::reqwest::Client,
    issuer: String,
    jwks: jsonwebtoken::jwk::JwkSet,
    browsers: Mutex<HashMap<String, Browser>>,
}

fn page(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><meta charset=utf-8><title>Demo app</title><body style=\"font-family:sans-serif;max-width:50rem;margin:2rem auto\">\
         <h1>Demo app</h1>{body}</body>"
    ))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn browser_id(req: &HttpRequest) -> (String, bool) {
    match req.cookie("demo_browser") {
        Some(c) => (c.value().to_string(), false),
        None => (bridgekeeper::secret::random_token(), true),
    }
}

fn with_cookie(mut r: HttpResponse, id: &str, new: bool) -> HttpResponse {
    if new {
        let c = actix_web::cookie::Cookie::build("demo_browser", id.to_string()).path("/").http_only(true).finish();
        let _ = r.add_cookie(&c);
    }
    r
}

async fn home(demo: web::Data<Demo>, req: HttpRequest) -> HttpResponse {
    let (id, new) = browser_id(&req);
    let browsers = demo.browsers.lock().unwrap_or_else(|p| p.into_inner());
    let body = match browsers.get(&id).and_then(|b| b.id_claims.clone()) {
        None => "<p>You are not signed in.</p><p><a href=\"/login\">Sign in with Bridgekeeper</a></p>".to_string(),
        Some(claims) => format!(
            "<p>Signed in. <code>sub</code> is the broker's stable id for you.</p><h2>ID token claims</h2><pre>{}</pre>\
             <p><a href=\"/call-api\">Call the protected API</a> · <a href=\"/refresh\">Refresh the tokens</a> · \
             <a href=\"/logout\">Sign out</a></p>",
            esc(&serde_json::to_string_pretty(&claims).unwrap_or_default())
        ),
    };
    with_cookie(page(body), &id, new)
}

async fn login(demo: web::Data<Demo>, req: HttpRequest) -> HttpResponse {
    let (id, new) = browser_id(&req);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = demo
        .client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browsers = demo.browsers.lock().unwrap_or_else(|p| p.into_inner());
    browsers.entry(id.clone()).or_default().pending =
        Some((state.secret().clone(), nonce.secret().clone(), verifier.secret().clone()));
    with_cookie(HttpResponse::Found().insert_header(("Location", url.to_string())).finish(), &id, new)
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(demo: web::Data<Demo>, req: HttpRequest, q: web::Query<Callback>) -> HttpResponse {
    let (id, _) = browser_id(&req);
    if let Some(e) = &q.error {
        return page(format!("<p>The broker said: <code>{}</code></p><p><a href=\"/\">Back</a></p>", esc(e)));
    }
    let pending = demo.browsers.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&id).and_then(|b| b.pending.take());
    let Some((state, nonce, verifier)) = pending else { return page("<p>No sign-in in progress.</p>".into()) };
    if q.state.as_deref() != Some(state.as_str()) {
        return page("<p>State mismatch: refused.</p>".into());
    }
    let Ok(exchange) = demo.client.exchange_code(AuthorizationCode::new(q.code.clone().unwrap_or_default())) else {
        return page("<p>No token endpoint.</p>".into());
    };
    let token = match exchange.set_pkce_verifier(PkceCodeVerifier::new(verifier)).request_async(&demo.http).await {
        Ok(t) => t,
        Err(e) => return page(format!("<p>Code exchange failed: {}</p>", esc(&e.to_string()))),
    };
    let Some(id_token) = token.id_token() else { return page("<p>No ID token.</p>".into()) };
    if let Err(e) = id_token.claims(&demo.client.id_token_verifier(), &Nonce::new(nonce)) {
        return page(format!("<p>ID token rejected: {}</p>", esc(&e.to_string())));
    }
    let claims = id_token.to_string().split('.').nth(1).and_then(|p| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok())
    });
    let mut browsers = demo.browsers.lock().unwrap_or_else(|p| p.into_inner());
    let b = browsers.entry(id).or_default();
    b.id_claims = claims;
    b.access_token = Some(token.access_token().secret().clone());
    b.refresh_token = token.refresh_token().map(|r| r.secret().clone());
    HttpResponse::Found().insert_header(("Location", "/")).finish()
}

/// The protected API: validates the bearer token locally through the broker's JWKS (RFC 9068).
async fn api(demo: web::Data<Demo>, req: HttpRequest) -> HttpResponse {
    let token =
        req.headers().get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
    let Some(token) = token else { return HttpResponse::Unauthorized().finish() };
    let verified = (|| {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        let key = jsonwebtoken::DecodingKey::from_jwk(demo.jwks.find(header.kid.as_deref()?)?).ok()?;
        let mut v = jsonwebtoken::Validation::new(header.alg);
        v.set_issuer(&[&demo.issuer]);
        v.set_audience(&[&demo.issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).ok()
    })();
    match verified {
        Some(data) => HttpResponse::Ok().json(serde_json::json!({
            "message": "hello from the protected API",
            "sub": data.claims["sub"], "scope": data.claims["scope"], "client_id": data.claims["client_id"],
        })),
        None => HttpResponse::Unauthorized().json(serde_json::json!({"error": "invalid_token"})),
    }
}

async fn call_api(demo: web::Data<Demo>, req: HttpRequest) -> HttpResponse {
    let (id, _) = browser_id(&req);
    let at = demo.browsers.lock().unwrap_or_else(|p| p.into_inner()).get(&id).and_then(|b| b.access_token.clone());
    let Some(at) = at else { return page("<p>Sign in first.</p>".into()) };
    let resp = demo.http.get(format!("{APP}/api/hello")).bearer_auth(at).send().await;
    let text = match resp {
        Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
        Err(e) => e.to_string(),
    };
    page(format!("<h2>API answer</h2><pre>{}</pre><p><a href=\"/\">Back</a></p>", esc(&text)))
}

async fn refresh(demo: web::Data<Demo>, req: HttpRequest) -> HttpResponse {
    let (id, _) = browser_id(&req);
    let rt = demo.browsers.lock().unwrap_or_else(|p| p.into_inner()).get(&id).and_then(|b| b.refresh_token.clone());
    let Some(rt) = rt else { return page("<p>No refresh token (sign in first).</p>".into()) };
    let rt = RefreshToken::new(rt);
    let Ok(req) = demo.client.exchange_refresh_token(&rt) else {
        return page("<p>No token endpoint.</p>".into());
    };
    match req.request_async(&demo.http).await {
        Ok(t) => {
            let mut browsers = demo.browsers.lock().unwrap_or_else(|p| p.into_inner());
            let b = browsers.entry(id).or_default();
            b.access_token = Some(t.access_token().secret().clone());
            b.refresh_token = t.refresh_token().map(|r| r.secret().clone());
            page("<p>Refreshed: new access token and a rotated refresh token.</p><p><a href=\"/\">Back</a></p>".into())
        }
        Err(e) => page(format!("<p>Refresh failed: {}</p>", esc(&e.to_string()))),
    }
}

async fn logout(demo: web::Data<Demo>, req: HttpRequest) -> HttpResponse {
    let (id, _) = browser_id(&req);
    demo.browsers.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    let url = format!("{}/logout?client_id=demo-app&post_logout_redirect_uri={APP}/", demo.issuer);
    HttpResponse::Found().insert_header(("Location", url)).finish()
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = bridgekeeper::settings::Settings::load(Some(std::path::Path::new("config/demo.toml")))?;
    bridgekeeper::cli::init_logging(&settings);
    let issuer = settings.issuer.clone();
    let listener = std::net::TcpListener::bind(&settings.bind)?;
    let state = bridgekeeper::server::AppState::prepare(settings, bridgekeeper::clock::Clock::System).await?;
    let broker = bridgekeeper::server::start(state, listener, None)?;
    tokio::spawn(broker);

    let http =
        openidconnect::reqwest::Client::builder().redirect(openidconnect::reqwest::redirect::Policy::none()).build()?;
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone())?, &http).await?;
    let jwks: jsonwebtoken::jwk::JwkSet = http.get(format!("{issuer}/jwks.json")).send().await?.json().await?;
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("demo-app".into()),
        Some(ClientSecret::new("demo-secret".into())),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{APP}/callback"))?);
    let demo = web::Data::new(Demo { client, http, issuer, jwks, browsers: Mutex::new(HashMap::new()) });
    let app = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(demo.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/call-api", web::get().to(call_api))
            .route("/api/hello", web::get().to(api))
            .route("/refresh", web::get().to(refresh))
            .route("/logout", web::get().to(logout))
    })
    .bind("127.0.0.1:9000")?
    .run();
    println!(
        "\n  Bridgekeeper demo is running.\n  Open {APP}/ in a browser (the broker itself is at http://127.0.0.1:8080).\n"
    );
    app.await?;
    Ok(())
}
