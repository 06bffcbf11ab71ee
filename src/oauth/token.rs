//! The token endpoint (RFC 6749 §3.2): form POST only, one client authentication method, errors as JSON with
//! `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::params::Params;
use super::{ErrorCode, OAuthError, OAuthJson, client_auth, grants};
use crate::state::AppState;
use bridgekeeper_core::token::{GrantType, TokenRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/token").route(web::post().to(token)).default_service(web::to(post_only)));
}

/// 405 for anything but POST, still in the RFC's JSON shape.
pub async fn post_only() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .json(OAuthError::invalid_request("this endpoint accepts POST only").json_body())
}

/// Reads an `application/x-www-form-urlencoded` body; anything else is `invalid_request`.
pub fn form_params(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    if !req.content_type().eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let text = std::str::from_utf8(body).map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
    Ok(Params::parse(text))
}

pub fn authorization_header(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

pub fn no_store_json<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Pragma", "no-cache")).json(body)
}

/// [DP-3] Every answer carries a fresh `DPoP-Nonce` when nonces are required.
async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut resp = match grant(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => super::error::json_response(&e.0),
    };
    super::dpop::add_nonce(&state, &mut resp);
    resp
}

/// [DP-2] A public client authenticates nothing: a proof it sends (a signature check and a stored `jti` before the
/// code or refresh token is looked at) is anonymous state, held to the per-address budget.
pub(super) fn charge_anonymous_proof(
    state: &AppState,
    req: &HttpRequest,
    client: &crate::store::clients::Client,
) -> Result<(), OAuthError> {
    if !(client.is_public() && state.settings().dpop.enabled && req.headers().contains_key(super::dpop::HEADER)) {
        return Ok(());
    }
    state.limits().admit_anonymous(crate::ratelimit::client_ip(req)).map_err(|w| {
        state.metrics.rate_limited.with_label_values(&["anonymous_state"]).inc();
        OAuthError::too_many(w)
    })
}

async fn grant(state: &web::Data<AppState>, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, OAuthJson> {
    let (state, req) = (state.clone(), req.clone());
    let params = form_params(&req, body)?;
    if super::device::poll::is_device_grant(&params) {
        return super::device::poll::grant(&state, &req, &params).await;
    }
    let grant_type = GrantType::from_params(&params)?;
    let client = client_auth::authenticate_limited(&state, &req, &params, grant_type.allows_public_client()).await?;
    if let Some(d) = params.first_duplicate_except(grant_type.repeatable_params()) {
        return Err(OAuthError::invalid_request(format!("parameter {d} is repeated")).into());
    }
    if !client.allows_grant(grant_type.as_str()) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type").into());
    }
    if grant_type == GrantType::ClientCredentials && !client.may_use_client_credentials() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials for this client waits for an admin's approval",
        )
        .into());
    }
    let request = TokenRequest::parse(grant_type, &params)?;
    charge_anonymous_proof(&state, &req, &client)?;
    // [DP-1] [DP-4] A proof binds what is issued to its key; a client registered as DPoP-bound must send one.
    let proof = super::dpop::verify(&state, &req, "/token", None).await?;
    super::dpop::check_profile_alg(proof.as_ref(), client.profile())?;
    if proof.is_none() && client.dpop_bound() {
        return Err(bridgekeeper_core::dpop::invalid("this client must send a DPoP proof").into());
    }
    let resp = grants::exchange(&state, &client, &request, proof.as_ref().map(|p| p.jkt.as_str())).await?;
    state.metrics.token_issued(grant_type.as_str(), &client.client_id, &client.source);
    Ok(no_store_json(&resp))
}
