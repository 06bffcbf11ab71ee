//! UserInfo (OIDC Core §5.3) with RFC 6750 bearer rules and RFC 9449 DPoP-bound tokens ([DP-5]).

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::{ErrorCode, OAuthError, bearer, params::Params, token::authorization_header};
use crate::accounts::users::claims_for_scopes;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/userinfo").route(web::get().to(get)).route(web::post().to(post)));
}

fn challenge(status: actix_web::http::StatusCode, error: Option<(&str, &str)>) -> HttpResponse {
    let value = match error {
        None => "Bearer realm=\"bridgekeeper\"".to_string(),
        Some((code, desc)) => format!("Bearer realm=\"bridgekeeper\", error=\"{code}\", error_description=\"{desc}\""),
    };
    let mut r = HttpResponse::build(status);
    r.insert_header((header::WWW_AUTHENTICATE, value));
    match error {
        Some((code, desc)) => r.json(serde_json::json!({"error": code, "error_description": desc})),
        None => r.finish(),
    }
}

/// The schemes a token can come with: RFC 6750 `Bearer`, RFC 9449 §7.1 `DPoP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

fn header_token(req: &HttpRequest, dpop_on: bool) -> Option<Result<(Scheme, String), ()>> {
    let h = authorization_header(req)?;
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if dpop_on && scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Some(Err(()));
    };
    let t = rest.trim();
    Some(if t.is_empty() { Err(()) } else { Ok((scheme, t.to_string())) })
}

/// [DP-5] RFC 9449 §7.1: a DPoP error at a resource endpoint is a 401 with a `DPoP` challenge naming the
/// algorithms (and, for `use_dpop_nonce`, a `DPoP-Nonce` header).
fn dpop_challenge(state: &AppState, e: &OAuthError) -> HttpResponse {
    let algs = state.settings().dpop.algs.join(" ");
    let (code, desc) = (e.code.as_str(), &e.description);
    let value = format!("DPoP algs=\"{algs}\", error=\"{code}\", error_description=\"{desc}\"");
    let mut r = HttpResponse::Unauthorized();
    r.insert_header((header::WWW_AUTHENTICATE, value));
    if e.code == ErrorCode::UseDpopNonce {
        r.insert_header((super::dpop::NONCE_HEADER, super::dpop::current_nonce(state)));
    }
    r.json(serde_json::json!({"error": code, "error_description": desc}))
}

/// [DP-5] The token's binding (`super::dpop::check_presentation`). `None`: go on; `Some(r)`: answer `r`.
async fn check_binding(
    state: &AppState,
    req: &HttpRequest,
    scheme: Scheme,
    token: &str,
    bound: Option<&str>,
) -> Option<HttpResponse> {
    match super::dpop::check_presentation(state, req, "/userinfo", scheme == Scheme::Dpop, token, bound).await {
        Ok(()) => None,
        // The replay check could not reach the database (logged where it failed).
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => Some(super::error::json_response(&e)),
        Err(e) => Some(dpop_challenge(state, &e)),
    }
}

async fn get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    respond(&state, &req, None).await
}

async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = req.content_type().eq_ignore_ascii_case("application/x-www-form-urlencoded");
    let body_token = form
        .then(|| std::str::from_utf8(&body).ok().map(Params::parse))
        .flatten()
        .and_then(|p| p.get("access_token").map(String::from));
    respond(&state, &req, body_token).await
}

/// [DP-3] Every answer carries a fresh `DPoP-Nonce` when nonces are required.
async fn respond(state: &AppState, req: &HttpRequest, body_token: Option<String>) -> HttpResponse {
    let mut resp = answer(state, req, body_token).await;
    super::dpop::add_nonce(state, &mut resp);
    resp
}

async fn answer(state: &AppState, req: &HttpRequest, body_token: Option<String>) -> HttpResponse {
    use actix_web::http::StatusCode;
    if Params::parse(req.query_string()).has("access_token") {
        return challenge(
            StatusCode::BAD_REQUEST,
            Some(("invalid_request", "access tokens are not accepted in the query string")),
        );
    }
    let (scheme, token) = match (header_token(req, state.settings().dpop.enabled), body_token) {
        (Some(_), Some(_)) => {
            return challenge(StatusCode::BAD_REQUEST, Some(("invalid_request", "use one way to send the token")));
        }
        (Some(Ok(t)), None) => t,
        (None, Some(t)) => (Scheme::Bearer, t),
        (Some(Err(())), None) => {
            return challenge(StatusCode::UNAUTHORIZED, Some(("invalid_token", "expected a Bearer token")));
        }
        (None, None) => return challenge(StatusCode::UNAUTHORIZED, None),
    };
    let checked = match bearer::check(state, &token).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "storage failure");
            return HttpResponse::ServiceUnavailable().json(serde_json::json!({"error": "temporarily_unavailable"}));
        }
    };
    let Some((claims, user)) = checked else {
        return challenge(
            StatusCode::UNAUTHORIZED,
            Some(("invalid_token", "the access token is invalid, expired or revoked")),
        );
    };
    // [RI-7] A token for an API (RFC 8707 audience) is not for the broker's own resource.
    if !bridgekeeper_core::resource::for_the_broker(&claims.aud, &state.settings().issuer) {
        return challenge(
            StatusCode::UNAUTHORIZED,
            Some(("invalid_token", "the access token is for another audience")),
        );
    }
    if let Some(refused) = check_binding(state, req, scheme, &token, claims.dpop_jkt()).await {
        return refused;
    }
    let Some(user) = user.filter(|_| claims.has_scope("openid")) else {
        return challenge(StatusCode::FORBIDDEN, Some(("insufficient_scope", "the token lacks the openid scope")));
    };
    let scopes: Vec<&str> = claims.scopes().collect();
    HttpResponse::Ok().json(claims_for_scopes(&user, &scopes))
}
