//! The middlewares every request passes through, outermost last in `build_app`: the request ceiling, the
//! language of the pages, cookie prefixes, `Cache-Control: no-store` by default, the request id and log line,
//! and the branded error pages.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};

use crate::respond::PageError;
use crate::state::{AppState, RequestId};

/// 429 for an address over the request ceiling (`rate_limits.requests_per_second`), or over its budget for the
/// endpoints that create state for anonymous callers (`rate_limits.anonymous_state_per_minute`).
pub(super) async fn request_ceiling(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ip = req.extensions().get::<crate::client_addr::ClientAddr>().map(|a| a.ip);
    let ip = ip.or_else(|| req.peer_addr().map(|a| a.ip()));
    let ip = ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let verdict = req.app_data::<web::Data<AppState>>().map(|state| {
        state.limits().admit_request(ip).map_err(|w| ("requests", w)).and_then(|()| {
            if crate::ratelimit::creates_anonymous_state(req.method(), req.path()) {
                state.limits().admit_anonymous(ip).map_err(|w| ("anonymous_state", w))
            } else {
                Ok(())
            }
        })
    });
    if let Some(Err((limit, wait))) = verdict {
        if let Some(state) = req.app_data::<web::Data<AppState>>() {
            state.metrics.rate_limited.with_label_values(&[limit]).inc();
        }
        let resp = HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", wait.max(1).to_string()))
            .json(serde_json::json!({"error": "temporarily_unavailable", "error_description": "too many requests"}));
        return Ok(req.into_response(resp));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// [LC-1] Chooses the request's language (`i18n::choose`) and serves the request in it; a language an app asked
/// for with `ui_locales` (in the query, or in the form of a `POST /authorize`) is kept in a cookie for the sign-in
/// pages that follow — [LC-4] never on a response a shared cache may keep.
pub(super) async fn language(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // The form of an authorization request is read here and handed on unchanged to the handler.
    let mut params = req.query_string().to_string();
    if req.method() == actix_web::http::Method::POST && req.path() == "/authorize" {
        let body = match req.extract::<web::Bytes>().await {
            Ok(b) => b,
            Err(e) => return Ok(req.error_response(e)),
        };
        params = String::from_utf8_lossy(&body).into_owned();
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let cookie = req.cookie(crate::i18n::LANG_COOKIE);
    let locales = state.templates.locales();
    let (lang, keep) = crate::i18n::choose(
        &params,
        cookie.as_ref().map(|c| c.value()),
        accept,
        &locales,
        &state.settings().default_locale,
    );
    let mut res = crate::i18n::scope(lang.as_str().into(), next.call(req)).await?.map_into_boxed_body();
    if keep && !shared_cache_may_keep(res.headers()) {
        let c =
            crate::accounts::session::cookie(&state, crate::i18n::LANG_COOKIE, lang, state.settings().session.ttl_secs);
        let _ = res.response_mut().add_cookie(&c);
    }
    Ok(res)
}

/// A response with a `Cache-Control` that lets a shared cache store it (discovery, JWKS, the stylesheet): one
/// that must never carry a `Set-Cookie`. Responses without the header become `no-store` further out.
fn shared_cache_may_keep(headers: &actix_web::http::header::HeaderMap) -> bool {
    headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        !v.contains("no-store") && !v.contains("private")
    })
}

/// With an https issuer, handlers see only the `__Host-` cookies, under their plain names
/// (`accounts::session::host_cookies`).
pub(super) async fn host_cookies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let https = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.settings().issuer.starts_with("https://"));
    if https {
        let joined: Vec<String> = req
            .headers()
            .get_all(header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| crate::accounts::session::host_cookies(true, v))
            .filter(|v| !v.is_empty())
            .collect();
        let headers = req.headers_mut();
        headers.remove(header::COOKIE);
        if let Ok(v) = HeaderValue::from_str(&joined.join("; "))
            && !joined.is_empty()
        {
            headers.insert(header::COOKIE, v);
        }
    }
    next.call(req).await
}

/// [TK-2] `Cache-Control: no-store` on every response that does not say otherwise (tokens, errors, pages, redirects
/// with codes): set here once, not by each handler. Discovery, JWKS and the stylesheet set their own.
pub(super) async fn no_store_by_default(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    if !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Gives every request an id, logs one line per request (path only: queries carry codes and state).
pub(super) async fn request_id_and_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = crate::secret::random_token_bytes(9);
    req.extensions_mut().insert(RequestId(id.clone()));
    let client = believed_client(&req);
    req.extensions_mut().insert(client);
    let method = req.method().clone();
    let path = req.path().to_string();
    let started = std::time::Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    // [OT-1] [OT-4] The trace's server span, inside the log span (log lines keep their `request{request_id}`).
    let trust = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.settings().otel.trust_traceparent);
    let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok());
    let server = span.in_scope(|| crate::telemetry::server_span(method.as_str(), traceparent, &id, trust));
    let inner = tracing::Instrument::instrument(next.call(req), server.clone());
    let mut res = tracing::Instrument::instrument(inner, span.clone()).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let elapsed_ms = elapsed * 1000.0;
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        // [MT-2] The route template, never the path: paths carry ids.
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        state.metrics.request(&route, method.as_str(), status, elapsed);
        crate::telemetry::finish_server_span(&server, method.as_str(), &route, status);
    }
    let ip = client.ip;
    span.in_scope(|| tracing::info!(target: "http", %method, %path, status, elapsed_ms, client = %ip, "request"));
    drop(server);
    Ok(res)
}

/// The request's source as `client_addr` believes it (forwarding headers only from trusted proxies).
fn believed_client(req: &ServiceRequest) -> crate::client_addr::ClientAddr {
    let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return crate::client_addr::ClientAddr { ip: peer, https: None };
    };
    let values = |name: &str| -> Vec<&str> { req.headers().get_all(name).filter_map(|v| v.to_str().ok()).collect() };
    // [RL-2] Only the header the proxies write: one they pass through untouched is the client's own words.
    let headers = if state.settings().proxy_header == "forwarded" {
        crate::client_addr::Headers { forwarded: values("forwarded"), ..Default::default() }
    } else {
        crate::client_addr::Headers {
            x_forwarded_for: values("x-forwarded-for"),
            x_forwarded_proto: values("x-forwarded-proto"),
            ..Default::default()
        }
    };
    crate::client_addr::resolve(&state.proxies, peer, &headers)
}

/// Replaces the fallback body of a `PageError` with the branded `error.html`, carrying the request id.
pub(super) async fn render_error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(err) = res.response().extensions().get::<PageError>().cloned() else {
        return Ok(res);
    };
    let request_id = res.request().extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let Some(state) = res.request().app_data::<web::Data<AppState>>().cloned() else {
        return Ok(res);
    };
    let mut ctx = tera::Context::new();
    // [LC-3] The page in the request's language when the catalogue has it, else the English of the code.
    let lang = crate::i18n::current();
    let lang = lang.as_deref().unwrap_or(crate::i18n::BASE_LOCALE);
    let says = |part: &str, english: &str| {
        err.key
            .and_then(|k| state.templates.catalogue().message(lang, &format!("{k}-{part}"), None))
            .unwrap_or_else(|| english.to_string())
    };
    ctx.insert("title", &says("title", &err.title));
    ctx.insert("message", &says("message", &err.message));
    ctx.insert("request_id", &request_id);
    ctx.insert("dev_mode", &state.settings().dev_mode);
    let Ok(html) = state.templates.render("error.html", &ctx) else {
        return Ok(res);
    };
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(old.status());
    for (k, v) in old.headers() {
        if k != header::CONTENT_LENGTH {
            new.insert_header((k.clone(), v.clone()));
        }
    }
    new.content_type("text/html; charset=utf-8");
    Ok(ServiceResponse::new(req, new.body(html)))
}

/// [HR-7] The request's settings: it reads the snapshot in force when it arrived, whatever a reload swaps in while
/// it runs.
pub(super) async fn settings_snapshot(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match req.app_data::<web::Data<AppState>>().cloned() {
        Some(state) => state.keep_settings(next.call(req)).await,
        None => next.call(req).await,
    }
}
