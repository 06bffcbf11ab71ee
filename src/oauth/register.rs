//! Dynamic client registration (RFC 7591) at `POST /register`, guarded by an initial access token unless
//! registration is open, and its management API (RFC 7592) at `/register/{client_id}` with the registration access
//! token (stored as SHA-256). Served only when `[registration] enabled = true`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::OAuthError;
use super::token::authorization_header;
use crate::accounts::clients::{self as svc, ClientError};
use crate::accounts::registration::{self, Metadata};
use crate::secret::{hash_token, random_token, verify_token_hash};
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::clients::Client;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/register", web::post().to(register)).service(
        web::resource("/register/{client_id}")
            .route(web::get().to(read))
            .route(web::put().to(replace))
            .route(web::delete().to(remove)),
    );
}

/// Either a protocol error (400 JSON), a bearer failure (401), or registration switched off (404).
#[derive(Debug)]
enum RegError {
    Protocol(OAuthError),
    Unauthorized,
    Disabled,
}

impl From<OAuthError> for RegError {
    fn from(e: OAuthError) -> Self {
        RegError::Protocol(e)
    }
}

impl From<crate::store::StoreError> for RegError {
    fn from(e: crate::store::StoreError) -> Self {
        RegError::Protocol(e.into())
    }
}

impl From<ClientError> for RegError {
    fn from(e: ClientError) -> Self {
        use super::ErrorCode::*;
        match e {
            ClientError::InvalidRedirect(d) => OAuthError::new(InvalidRedirectUri, d).into(),
            ClientError::Invalid(d) | ClientError::Conflict(d) => OAuthError::new(InvalidClientMetadata, d).into(),
            ClientError::NotFound => RegError::Unauthorized,
            ClientError::Store(s) => s.into(),
        }
    }
}

impl std::fmt::Display for RegError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl actix_web::ResponseError for RegError {
    fn status_code(&self) -> StatusCode {
        match self {
            RegError::Protocol(e) => super::error::status_of(e),
            RegError::Unauthorized => StatusCode::UNAUTHORIZED,
            RegError::Disabled => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            RegError::Protocol(e) => super::error::json_response(e),
            RegError::Unauthorized => HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer realm=\"bridgekeeper\", error=\"invalid_token\""))
                .json(serde_json::json!({"error": "invalid_token", "error_description": "a valid token is required"})),
            RegError::Disabled => HttpResponse::NotFound().finish(),
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let (scheme, token) = authorization_header(req)?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn enabled(state: &AppState) -> Result<(), RegError> {
    if state.settings().registration.enabled { Ok(()) } else { Err(RegError::Disabled) }
}

fn respond(status: StatusCode, body: serde_json::Map<String, Value>) -> HttpResponse {
    HttpResponse::build(status).insert_header(("Pragma", "no-cache")).json(Value::Object(body))
}

/// RFC 7591 §3: 201 with the client id, secret, registration access token and every registered member.
async fn register(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, RegError> {
    enabled(&state)?;
    let reg = &state.settings().registration;
    if !reg.open {
        let expected = hash_token(reg.initial_access_token.expose());
        match bearer(&req) {
            Some(t) if verify_token_hash(t, &expected) => {}
            _ => return Err(RegError::Unauthorized),
        }
    }
    let meta = registration::parse(&body)?;
    let r = registration::validate(&state.settings(), meta, None)?;
    let now = state.clock.now();
    let created = svc::create(&state.db, &state.settings(), r.client, now).await?;
    let rat = random_token();
    let mut client = created.client;
    client.registration_token_hash = Some(hash_token(&rat));
    let client = svc::save(&state.db, client).await?;
    svc::audit_action(&state.db, now, AuditKind::ClientRegistered, &client.client_id, "dynamic").await?;
    let mut out = registration::describe(&client, state.settings().issuer_base());
    if let Some(s) = created.secret {
        out.insert("client_secret".into(), s.expose().into());
    }
    out.insert("registration_access_token".into(), rat.into());
    Ok(respond(StatusCode::CREATED, out))
}

/// The client named in the path, if the registration access token is its own; 401 otherwise (no oracle).
async fn authorized(state: &AppState, req: &HttpRequest, client_id: &str) -> Result<Client, RegError> {
    enabled(state)?;
    let token = bearer(req).ok_or(RegError::Unauthorized)?.to_string();
    let id = client_id.to_string();
    let client = state.db.run(move |c| crate::store::clients::find(c, &id)).await?;
    match client {
        Some(c) if c.registration_token_hash.as_deref().is_some_and(|h| verify_token_hash(&token, h)) => Ok(c),
        _ => Err(RegError::Unauthorized),
    }
}

async fn read(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> Result<HttpResponse, RegError> {
    let c = authorized(&state, &req, &id).await?;
    Ok(respond(StatusCode::OK, registration::describe(&c, state.settings().issuer_base())))
}

/// RFC 7592 §2.2: the body replaces the metadata; it names the client and carries no server-issued members.
async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, RegError> {
    let current = authorized(&state, &req, &id).await?;
    let meta: Metadata = registration::parse(&body)?;
    if meta.client_id.as_deref() != Some(current.client_id.as_str()) {
        return Err(OAuthError::invalid_request("client_id must be present and match the registration").into());
    }
    if meta.registration_access_token.is_some()
        || meta.registration_client_uri.is_some()
        || meta.client_id_issued_at.is_some()
        || meta.client_secret_expires_at.is_some()
    {
        return Err(OAuthError::invalid_request(
            "registration_access_token, registration_client_uri, client_id_issued_at and client_secret_expires_at \
             must not be sent",
        )
        .into());
    }
    let now = state.clock.now();
    if let Some(s) = &meta.client_secret
        && !current.secret_matches(s, now)
    {
        return Err(OAuthError::invalid_request("client_secret does not match").into());
    }
    let put_flags = [
        ("require_pushed_authorization_requests", meta.require_pushed_authorization_requests),
        ("dpop_bound_access_tokens", meta.dpop_bound_access_tokens),
    ];
    let put_profile = meta.profile.clone();
    let r = registration::validate(&state.settings(), meta, Some(&current))?;
    let n = r.client;
    // [FA-1] A fapi2 client's own PUT keeps the profile and what it requires.
    let next_profile = bridgekeeper_core::client_profile::Profile::from_stored(put_profile.as_deref());
    bridgekeeper_core::client_profile::check_change(current.profile(), next_profile, put_flags[0].1, put_flags[1].1)
        .map_err(|e| OAuthError::new(super::ErrorCode::InvalidClientMetadata, e.to_string()))?;
    let mut next = current.clone();
    if let Some(m) = n.token_endpoint_auth_method {
        next.token_endpoint_auth_method = m;
    }
    // [PJ-1] A public or private_key_jwt client has no secret; a client moving to a secret method from one
    // without (public, or private_key_jwt) is given a fresh one.
    let mut new_secret = None;
    if n.public || next.token_endpoint_auth_method == crate::store::clients::PRIVATE_KEY_JWT {
        (next.secret_hash, next.previous_secret_hash, next.previous_secret_expires_at) = (None, None, None);
    } else if next.secret_hash.is_none() {
        let s = random_token();
        next.secret_hash = Some(hash_token(&s));
        new_secret = Some(s);
    }
    next.require_pkce = n.public || current.require_pkce;
    (next.name, next.redirect_uris, next.post_logout_redirect_uris) =
        (n.name, n.redirect_uris, n.post_logout_redirect_uris);
    (next.allowed_scopes, next.pending_scopes, next.grant_types) = (n.allowed_scopes, n.pending_scopes, n.grant_types);
    next.logo_uri = n.logo_uri;
    next.metadata_json =
        svc::keep_admin_settings(&current.metadata_json, n.metadata_json.as_deref().unwrap_or("{}"), &put_flags)
            .map_err(|e| OAuthError::new(super::ErrorCode::InvalidClientMetadata, e))?;
    (next.backchannel_logout_uri, next.backchannel_logout_session_required) =
        (n.backchannel_logout_uri, n.backchannel_logout_session_required);
    (next.frontchannel_logout_uri, next.frontchannel_logout_session_required) =
        (n.frontchannel_logout_uri, n.frontchannel_logout_session_required);
    next.updated_at = now;
    let saved = svc::save_checked(&state.db, &state.settings(), next).await?;
    svc::audit_action(&state.db, now, AuditKind::ClientUpdated, &saved.client_id, "dynamic").await?;
    let mut out = registration::describe(&saved, state.settings().issuer_base());
    if let Some(s) = new_secret {
        out.insert("client_secret".into(), s.into());
    }
    Ok(respond(StatusCode::OK, out))
}

/// RFC 7592 §2.3: 204; the client, its grants and its registration access token are gone.
async fn remove(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> Result<HttpResponse, RegError> {
    let c = authorized(&state, &req, &id).await?;
    svc::delete(&state.db, &c.client_id).await?;
    svc::audit_action(&state.db, state.clock.now(), AuditKind::ClientRemoved, &c.client_id, "dynamic").await?;
    Ok(HttpResponse::NoContent().finish())
}
