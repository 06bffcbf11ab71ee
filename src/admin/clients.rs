//! `/admin/api/clients`: list (paged, filtered), show, create, update, delete, rotate the secret, approve a scope.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::{Paging, no_store};
use crate::accounts::clients::{self as svc, ClientUpdate, NewClient};
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::clients::{self as repo, Client, Filter};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/clients").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/clients/{client_id}")
                .route(web::get().to(show))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        )
        .service(web::resource("/clients/{client_id}/secret").route(web::post().to(rotate)))
        .service(web::resource("/clients/{client_id}/scopes/{scope}/approve").route(web::post().to(approve)));
}

/// A client as the admin API shows it (never a secret or a hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    /// "public" or "confidential".
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    /// Scopes requested by the developer that wait for approval.
    pub pending_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub skip_consent: bool,
    pub require_pkce: bool,
    /// config, cli, api, portal or dynamic.
    pub source: String,
    pub disabled: bool,
    pub owner_id: Option<String>,
    pub logo_uri: Option<String>,
    /// Until when the secret before the last rotation still works.
    pub previous_secret_expires_at: Option<i64>,
    /// client_secret_basic, client_secret_post, none, or client_secret_basic_or_post (clients from before the
    /// method was recorded: either secret method).
    pub token_endpoint_auth_method: String,
    /// client_credentials allowed by an admin (needed by portal and dynamically registered clients).
    pub client_credentials_allowed: bool,
    /// Where the broker POSTs back-channel logout tokens (OpenID Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// Where the signed-out page's iframe goes for this app (OpenID Front-Channel Logout 1.0).
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// The public keys of a private_key_jwt client (a JWK Set), when registered inline.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Where the broker fetches a private_key_jwt client's keys, when registered by URI.
    pub jwks_uri: Option<String>,
    pub require_pushed_authorization_requests: bool,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// The client's profile: `fapi2` (FAPI 2.0 Security Profile), or absent.
    pub profile: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        let jwks_uri = c.registered_jwks_uri();
        ClientView {
            jwks: c.jwks(),
            jwks_uri,
            require_pushed_authorization_requests: c.requires_par(),
            dpop_bound_access_tokens: c.dpop_bound(),
            profile: c.profile().as_str().map(String::from),
            require_pkce: c.requires_pkce(),
            client_type: if c.is_public() { "public" } else { "confidential" }.into(),
            client_id: c.client_id,
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            allowed_scopes: c.allowed_scopes,
            pending_scopes: c.pending_scopes,
            grant_types: c.grant_types,
            skip_consent: c.skip_consent,
            source: c.source,
            disabled: c.disabled,
            owner_id: c.owner_id,
            logo_uri: c.logo_uri,
            previous_secret_expires_at: c.previous_secret_expires_at,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            client_credentials_allowed: c.client_credentials_allowed,
            backchannel_logout_uri: c.backchannel_logout_uri,
            backchannel_logout_session_required: c.backchannel_logout_session_required,
            frontchannel_logout_uri: c.frontchannel_logout_uri,
            frontchannel_logout_session_required: c.frontchannel_logout_session_required,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub items: Vec<ClientView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientQuery {
    /// Substring of the client id or name (case-insensitive).
    pub q: Option<String>,
    /// Only clients owned by this user.
    pub owner_id: Option<String>,
    pub disabled: Option<bool>,
    /// config, cli, api, portal or dynamic.
    pub source: Option<String>,
}

/// A new client.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientCreate {
    /// Generated when absent.
    pub client_id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: openid profile email. `admin` needs a confidential client_credentials client.
    pub allowed_scopes: Option<Vec<String>>,
    /// Default: authorization_code refresh_token.
    pub grant_types: Option<Vec<String>>,
    /// A public client has no secret and must use PKCE.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub skip_consent: bool,
    pub logo_uri: Option<String>,
    pub owner_id: Option<String>,
    /// client_secret_basic (default for confidential clients), client_secret_post, private_key_jwt (with `jwks`,
    /// no secret); public clients use none.
    pub token_endpoint_auth_method: Option<String>,
    /// https (or http on loopback): where the broker POSTs back-channel logout tokens.
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// The client's public keys (a JWK Set) for private_key_jwt.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Instead of `jwks`: where the broker fetches the client's keys (https, or http on loopback; fetched with the
    /// upstream timeouts and size limit, cached for 5 minutes, refetched at most every 30 s on an unknown key).
    pub jwks_uri: Option<String>,
    /// Plain authorization requests are refused: the client must push them (PAR, RFC 9126).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// `fapi2`: the FAPI 2.0 Security Profile (private_key_jwt, authorization code and refresh only; PAR, PKCE
    /// and DPoP required; refresh tokens not rotated).
    pub profile: Option<String>,
    /// The signed-out page's iframe address (same scheme, host and port as a redirect URI).
    pub frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
}

/// A new client and, for a confidential one, its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCreated {
    pub client: ClientView,
    pub client_secret: Option<String>,
}

/// Changes to a client; absent members stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub skip_consent: Option<bool>,
    pub disabled: Option<bool>,
    /// An https URL, or "" to remove the logo.
    pub logo_uri: Option<String>,
    /// client_secret_basic, client_secret_post, none (public clients) or client_secret_basic_or_post.
    pub token_endpoint_auth_method: Option<String>,
    /// Allow client_credentials for a portal or dynamically registered client.
    pub client_credentials_allowed: Option<bool>,
    /// https (or http on loopback) for back-channel logout tokens, or "" to remove it.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    /// The signed-out page's iframe address (same origin as a redirect URI), or "" to remove it.
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: Option<bool>,
    /// New public keys (a JWK Set) for a private_key_jwt client, replacing `jwks` or `jwks_uri`; null removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Option<serde_json::Value>>,
    /// A new address of the client's keys, replacing `jwks`; "" removes it.
    pub jwks_uri: Option<String>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub dpop_bound_access_tokens: Option<bool>,
    /// `fapi2` makes the client a FAPI 2.0 client (it must meet the profile); a fapi2 client cannot leave it.
    pub profile: Option<String>,
}

/// A member that is present, even as `null` (`Some(None)`); absent members stay `None` through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RotateRequest {
    /// Seconds the old secret keeps working (default: `developers.secret_grace_secs`; 0 ends it at once).
    #[schema(minimum = 0, maximum = 31536000)]
    pub grace_secs: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    pub previous_secret_expires_at: Option<i64>,
}

#[utoipa::path(get, path = "/admin/api/clients", tag = "clients", params(Paging, ClientQuery),
    responses((status = 200, body = ClientList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _: Admin,
    page: web::Query<Paging>,
    q: web::Query<ClientQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = page.checked()?;
    let q = q.into_inner();
    let f = Filter { q: q.q, owner_id: q.owner_id, disabled: q.disabled, source: q.source };
    let (items, total) = state.db.run(move |c| repo::page(c, &f, limit, offset)).await?;
    Ok(no_store(&ClientList { items: items.into_iter().map(Into::into).collect(), total, limit, offset }))
}

#[utoipa::path(get, path = "/admin/api/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn show(state: web::Data<AppState>, _: Admin, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(no_store(&ClientView::from(svc::get(&state.db, &id).await?)))
}

#[utoipa::path(post, path = "/admin/api/clients", tag = "clients", request_body = ClientCreate,
    responses((status = 201, body = ClientCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<ClientCreate>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let req = NewClient {
        client_id: b.client_id,
        name: b.name,
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        allowed_scopes: b.allowed_scopes.unwrap_or_else(|| strings(&["openid", "profile", "email"])),
        grant_types: b.grant_types.unwrap_or_else(|| strings(&["authorization_code", "refresh_token"])),
        public: b.public,
        skip_consent: b.skip_consent,
        logo_uri: b.logo_uri.filter(|l| !l.is_empty()),
        owner_id: b.owner_id,
        source: "api".into(),
        token_endpoint_auth_method: b.token_endpoint_auth_method,
        backchannel_logout_uri: b.backchannel_logout_uri.filter(|u| !u.is_empty()),
        backchannel_logout_session_required: b.backchannel_logout_session_required,
        metadata_json: Some(svc::with_profile(
            &svc::with_dpop_bound(
                &svc::key_and_par_metadata(b.jwks, b.jwks_uri, b.require_pushed_authorization_requests),
                b.dpop_bound_access_tokens,
            ),
            b.profile.as_deref(),
        )),
        frontchannel_logout_uri: b.frontchannel_logout_uri.filter(|u| !u.is_empty()),
        frontchannel_logout_session_required: b.frontchannel_logout_session_required,
        ..Default::default()
    };
    let now = state.clock.now();
    let created = svc::create(&state.db, &state.settings(), req, now).await?;
    svc::audit_action(&state.db, now, AuditKind::ClientAdded, &created.client.client_id, &admin.actor()).await?;
    let body =
        ClientCreated { client: created.client.into(), client_secret: created.secret.map(|s| s.expose().to_string()) };
    Ok(HttpResponse::Created().json(body))
}

#[utoipa::path(patch, path = "/admin/api/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    request_body = ClientPatch,
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<ClientPatch>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let u = ClientUpdate {
        name: b.name,
        redirect_uris: b.redirect_uris,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
        allowed_scopes: b.allowed_scopes,
        grant_types: b.grant_types,
        skip_consent: b.skip_consent,
        disabled: b.disabled,
        logo_uri: b.logo_uri.map(|l| Some(l).filter(|l| !l.is_empty())),
        token_endpoint_auth_method: b.token_endpoint_auth_method,
        client_credentials_allowed: b.client_credentials_allowed,
        backchannel_logout_uri: b.backchannel_logout_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
        backchannel_logout_session_required: b.backchannel_logout_session_required,
        frontchannel_logout_uri: b.frontchannel_logout_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
        frontchannel_logout_session_required: b.frontchannel_logout_session_required,
        jwks: b.jwks,
        jwks_uri: b.jwks_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
        require_pushed_authorization_requests: b.require_pushed_authorization_requests,
        dpop_bound_access_tokens: b.dpop_bound_access_tokens,
        profile: b.profile,
    };
    if *id == admin.client_id
        && (u.disabled == Some(true) || u.allowed_scopes.as_ref().is_some_and(|s| !s.iter().any(|x| x == "admin")))
    {
        return Err(ApiError::conflict("an admin client cannot disable itself or drop its own admin scope"));
    }
    let now = state.clock.now();
    let c = svc::update(&state.db, &state.settings(), &id, u.clone(), now).await?;
    svc::audit_update(&state.db, now, &id, &admin.actor(), &u).await?;
    Ok(no_store(&ClientView::from(c)))
}

#[utoipa::path(delete, path = "/admin/api/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 204, description = "Deleted, with its grants, codes and consents"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "An admin client cannot delete itself")))]
pub async fn delete(state: web::Data<AppState>, admin: Admin, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if *id == admin.client_id {
        return Err(ApiError::conflict("an admin client cannot delete itself"));
    }
    svc::delete(&state.db, &id).await?;
    svc::audit_action(&state.db, state.clock.now(), AuditKind::ClientRemoved, &id, &admin.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/admin/api/clients/{client_id}/secret", tag = "clients",
    params(("client_id" = String, Path)), request_body(content = Option<RotateRequest>),
    responses((status = 200, body = RotatedSecret), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The body is optional; when present it must be a valid RotateRequest.
    let req: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest { grace_secs: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON body ({e})")))?
    };
    let grace = req.grace_secs.unwrap_or(state.settings().developers.secret_grace_secs);
    if !(0..=31_536_000).contains(&grace) {
        return Err(ApiError::bad_request("grace_secs must be between 0 and 31536000"));
    }
    let now = state.clock.now();
    let secret = svc::rotate_secret(&state.db, &id, now, grace).await?;
    svc::audit_action(&state.db, now, AuditKind::ClientSecretRotated, &id, &admin.actor()).await?;
    Ok(no_store(&RotatedSecret {
        client_id: id.into_inner(),
        client_secret: secret.expose().to_string(),
        previous_secret_expires_at: (grace > 0).then_some(now + grace),
    }))
}

#[utoipa::path(post, path = "/admin/api/clients/{client_id}/scopes/{scope}/approve", tag = "clients",
    params(("client_id" = String, Path), ("scope" = String, Path)),
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn approve(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, scope) = path.into_inner();
    let now = state.clock.now();
    let c = svc::approve_scope(&state.db, &state.settings(), &id, &scope, now).await?;
    svc::audit_action(&state.db, now, AuditKind::ClientScopeApproved, &id, &admin.actor()).await?;
    Ok(no_store(&ClientView::from(c)))
}
