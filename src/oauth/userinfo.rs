//! UserInfo (OIDC Core §5.3) with RFC 6750 bearer rules.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::{bearer, params::Params, token::authorization_header};
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

fn header_token(req: &HttpRequest) -> Option<Result<String, ()>> {
    let h = authorization_header(req)?;
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Some(Err(()));
    }
    let t = rest.trim();
    Some(if t.is_empty() { Err(()) } else { Ok(t.to_string()) })
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

async fn respond(state: &AppState, req: &HttpRequest, body_token: Option<String>) -> HttpResponse {
    use actix_web::http::StatusCode;
    if Params::parse(req.query_string()).has("access_token") {
        return challenge(
            StatusCode::BAD_REQUEST,
            Some(("invalid_request", "access tokens are not accepted in the query string")),
        );
    }
    let token = match (header_token(req), body_token) {
        (Some(_), Some(_)) => {
            return challenge(StatusCode::BAD_REQUEST, Some(("invalid_request", "use one way to send the token")));
        }
        (Some(Ok(t)), None) | (None, Some(t)) => t,
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
    let Some(user) = user.filter(|_| claims.has_scope("openid")) else {
        return challenge(StatusCode::FORBIDDEN, Some(("insufficient_scope", "the token lacks the openid scope")));
    };
    let scopes: Vec<&str> = claims.scopes().collect();
    HttpResponse::Ok().json(claims_for_scopes(&user, &scopes))
}
