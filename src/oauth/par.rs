//! Pushed Authorization Requests (RFC 9126): `POST /par` validates an authorization request exactly as
//! `/authorize` would ([`super::authorize::trusted_redirect`]'s rule and [`super::authorize::validate`]) for the
//! authenticated client, stores it (`store::pushed`, shared by every instance) and answers with a one-time
//! `request_uri`; `/authorize?client_id=…&request_uri=…` takes it back ([`from_request_uri`]). Errors at `/par`
//! are JSON (RFC 9126 §2.3); a bad `request_uri` at `/authorize` is a page (nothing in that query is trusted).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bridgekeeper_core::authorize::pushed;
use bridgekeeper_core::authorize::request as core_req;
use bridgekeeper_core::authorize::{AuthorizationRequest, Unanswerable};

use super::params::Params;
use super::{OAuthError, OAuthJson, authorize, client_auth, token};
use crate::respond::PageError;
use crate::state::AppState;
use crate::store::pushed as repo;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/par").route(web::post().to(push)).default_service(web::to(token::post_only)));
}

/// `POST /par` ([PAR-1]..[PAR-3]): 201 with `request_uri` and `expires_in`. [DP-3] Every answer carries a fresh
/// `DPoP-Nonce` when nonces are required (a proof sent with a push needs one too, RFC 9449 §8).
async fn push(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut resp = match pushed_request(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => super::error::json_response(&e.0),
    };
    super::dpop::add_nonce(&state, &mut resp);
    resp
}

async fn pushed_request(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, OAuthJson> {
    let (state, req) = (state.clone(), req.clone());
    if !state.settings().par.enabled {
        return Ok(HttpResponse::NotFound().finish());
    }
    let params = token::form_params(&req, body)?;
    let client = client_auth::authenticate_limited(&state, &req, &params, true).await?;
    // [PAR-1] A public client pushes without credentials: its pushes are anonymous state, an authenticated
    // client's are not.
    if client.is_public() {
        state.limits().admit_anonymous(crate::ratelimit::client_ip(&req)).map_err(|w| {
            state.metrics.rate_limited.with_label_values(&["anonymous_state"]).inc();
            OAuthError::too_many(w)
        })?;
    }
    pushed::check_push(&params, &client.client_id)?;
    let mut request = validated(&state, &client, &params)?;
    bind_to_proof(&state, &req, &mut request, client.profile()).await?;
    let reference = crate::secret::random_token();
    let now = state.clock.now();
    let row = repo::PushedRequest {
        uri_hash: crate::secret::hash_token(&reference),
        client_id: client.client_id.clone(),
        params_json: request.to_stored(),
        created_at: now,
        expires_at: now + state.settings().par.ttl_secs,
        browser_hash: None,
    };
    state.db.run(move |c| repo::insert(c, &row)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(serde_json::json!({
            "request_uri": pushed::request_uri(&reference),
            "expires_in": state.settings().par.ttl_secs,
        })))
}

/// The pushed request, validated by the rules of `/authorize`; every failure is a JSON error (RFC 9126 §2.3), an
/// unregistered or missing redirect URI `invalid_request`.
fn validated(
    state: &AppState,
    client: &crate::store::clients::Client,
    params: &Params,
) -> Result<AuthorizationRequest, OAuthError> {
    if client.profile().requires_redirect_uri_in_push() && params.get("redirect_uri").is_none() {
        return Err(OAuthError::invalid_request("redirect_uri is required in a pushed request of this client"));
    }
    let redirect_uri = core_req::redirect_target(params, &authorize::client_view(client))
        .map_err(|u| OAuthError::invalid_request(u.page_text().1))?;
    authorize::validate(state, client, redirect_uri, params).map_err(|r| r.error)
}

/// [DP-6] A proof sent with a push (RFC 9449 §10.1) binds the code to its key: with `dpop_jkt` it must be that
/// key's, alone it sets `dpop_jkt`.
async fn bind_to_proof(
    state: &AppState,
    req: &HttpRequest,
    request: &mut AuthorizationRequest,
    profile: bridgekeeper_core::client_profile::Profile,
) -> Result<(), OAuthError> {
    let Some(proof) = super::dpop::verify(state, req, "/par", None).await? else { return Ok(()) };
    super::dpop::check_profile_alg(Some(&proof), profile)?;
    match &request.dpop_jkt {
        Some(jkt) if *jkt != proof.jkt => {
            Err(bridgekeeper_core::dpop::invalid("the DPoP proof's key is not the pushed dpop_jkt"))
        }
        Some(_) => Ok(()),
        None => {
            request.dpop_jkt = Some(proof.jkt);
            Ok(())
        }
    }
}

fn invalid_request_uri() -> PageError {
    PageError::bad_request(
        "Sign-in request unknown",
        "This sign-in request is unknown, was already used or has expired. Go back to the app and start again.",
    )
    .keyed("page-invalid-request-uri")
}

/// Does this authorization request refer to a pushed one (a `request_uri` in our URN namespace, PAR enabled)?
/// Any other `request_uri` is an ordinary request, refused with `request_uri_not_supported` ([AZ-17]).
pub fn refers_to_a_push(state: &AppState, params: &Params) -> bool {
    state.settings().par.enabled && params.get("request_uri").is_some_and(|u| u.starts_with(pushed::REQUEST_URI_PREFIX))
}

/// [PAR-4] `/authorize` with a `request_uri`: only `client_id` and `request_uri` are read; the pushed request is
/// claimed by this browser (its own client, unexpired, no other browser first: [PAR-2]), rechecked against the
/// client as it is now, and goes through the same decision as any request; it is spent when that completes.
pub async fn from_request_uri(state: &AppState, req: &HttpRequest, params: &Params) -> Result<HttpResponse, PageError> {
    let (client_id, reference) = pushed::at_authorize(params).map_err(|_| invalid_request_uri())?;
    let id = client_id.to_string();
    let client = state.db.run(move |c| crate::store::clients::find(c, &id)).await?;
    let client = client.filter(|c| !c.disabled).ok_or_else(|| {
        let (title, text) = Unanswerable::UnknownClient.page_text();
        PageError::bad_request(title, text).keyed("page-unknown-client")
    })?;
    let (hash, cid, now) = (crate::secret::hash_token(reference), client.client_id.clone(), state.clock.now());
    // The same value `authorize::save` binds the pending request to, when the flow goes on to login or consent.
    let browser = crate::secret::hash_token(&authorize::flow_browser(state, req).0);
    let h = hash.clone();
    let row = state.db.run(move |c| repo::claim(c, &h, &cid, &browser, now)).await?.ok_or_else(invalid_request_uri)?;
    let mut request = AuthorizationRequest::from_stored(&row.params_json)
        .filter(|r| r.still_valid_for(&authorize::client_view(&client)))
        .filter(|r| bridgekeeper_core::resource::request_still_allowed(r, &state.settings().apis))
        .ok_or_else(invalid_request_uri)?;
    request.pushed_uri_hash = Some(hash);
    let decision = authorize::decide_for(state, req, &client, &request, None, false).await?;
    authorize::carry_out(state, req, decision, &client, &request, None, false).await
}

/// [PAR-2] The authorization a pushed request started has completed (a code or an error is being sent): its
/// `request_uri` is spent, for the browser that used it too.
pub async fn spend(state: &AppState, request: &AuthorizationRequest) -> Result<(), crate::store::StoreError> {
    let Some(hash) = request.pushed_uri_hash.clone() else { return Ok(()) };
    state.db.run(move |c| repo::spend(c, &hash)).await
}
