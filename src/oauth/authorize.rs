//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2), as HTTP around the protocol core: the request
//! is parsed and validated once into a [`AuthorizationRequest`] (failures before the redirect URI is trusted are
//! pages, later ones redirects with `error`, `state`, `iss`); [`decide_for`] asks the core's one decision
//! ([TB-4]) and [`carry_out`] turns it into a redirect. `/authorize`, `/authorize/resume` and `/consent` all go
//! through both.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bridgekeeper_core::authorize::pushed;
use bridgekeeper_core::authorize::request::{self as core_req, HintVerifier};
use bridgekeeper_core::authorize::{
    AuthorizationRequest, AuthorizeDecision, ClientView, ConsentState, ResponseMode, SessionView, Unanswerable, decide,
};

use super::params::Params;
use super::{OAuthError, redirect};
use crate::accounts::session;
use crate::respond::PageError;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::sessions::Session;
use crate::store::{auth_requests, codes, grants};
use crate::tokens::claims::verify_own_id_token;

/// How long a pending authorization request waits for the user to sign in or consent.
const PENDING_TTL_SECS: i64 = 600;
/// [TB-4b] Cookie naming the browser that started a pending request (SameSite=Lax: it comes back from upstreams).
const FLOW_COOKIE: &str = "bk_flow";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/authorize", web::get().to(get_authorize))
        .route("/authorize", web::post().to(post_authorize))
        .route("/authorize/resume", web::get().to(resume));
}

/// A pending request, loaded with its client and rechecked against the client as it is now.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub created_at: i64,
    /// The session that signed in for this request, if one did.
    pub login_session_hash: Option<String>,
    pub request: AuthorizationRequest,
    pub client: Client,
}

async fn get_authorize(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    start(&state, &req, &Params::parse(req.query_string())).await
}

async fn post_authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = req.content_type().eq_ignore_ascii_case("application/x-www-form-urlencoded");
    let text = std::str::from_utf8(&body).ok().filter(|_| form).ok_or_else(|| {
        PageError::bad_request(
            "Invalid request",
            "The authorization request must be a form post (application/x-www-form-urlencoded).",
        )
        .keyed("page-not-a-form")
    })?;
    start(&state, &req, &Params::parse(text)).await
}

#[derive(serde::Deserialize)]
struct ResumeQuery {
    req: String,
}

/// Continues a pending request after the user signed in.
async fn resume(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ResumeQuery>,
) -> Result<HttpResponse, PageError> {
    let pending = load(&state, &req, &q.req).await?;
    let decision = decide_for(&state, &req, &pending.client, &pending.request, Some(&pending), false).await?;
    carry_out(&state, &req, decision, &pending.client, &pending.request, Some(&pending), false).await
}

/// A fresh request: validate, decide, answer.
async fn start(state: &AppState, req: &HttpRequest, params: &Params) -> Result<HttpResponse, PageError> {
    if super::par::refers_to_a_push(state, params) {
        return super::par::from_request_uri(state, req, params).await;
    }
    let (client, redirect_uri) = trusted_redirect(state, params).await?;
    let request = pushed::plain_request_allowed(state.settings().par.require, client.requires_par())
        .map_err(|error| core_req::Redirectable {
            redirect_uri: redirect_uri.clone(),
            state: params.get("state").map(String::from).filter(|s| s.len() <= core_req::MAX_STATE_LEN),
            error,
            response_mode: ResponseMode::for_errors(params),
        })
        .and_then(|()| validate(state, &client, redirect_uri, params));
    let request = match request {
        Ok(r) => r,
        Err(r) => return Ok(answer_error(state, &r.redirect_uri, r.state.as_deref(), &r.error, r.response_mode)),
    };
    let decision = decide_for(state, req, &client, &request, None, false).await?;
    carry_out(state, req, decision, &client, &request, None, false).await
}

/// What the core needs to know of a client.
pub fn client_view(c: &Client) -> ClientView<'_> {
    ClientView {
        client_id: &c.client_id,
        redirect_uris: &c.redirect_uris,
        public: c.is_public(),
        require_pkce: c.requires_pkce(),
        allows_code_flow: c.allows_grant("authorization_code"),
        allowed_scopes: &c.allowed_scopes,
    }
}

fn unanswerable(u: Unanswerable) -> PageError {
    let (title, text) = u.page_text();
    let key = match u {
        Unanswerable::RepeatedClientOrRedirect => "page-repeated-client",
        Unanswerable::MissingClientId => "page-missing-client",
        Unanswerable::UnknownClient => "page-unknown-client",
        Unanswerable::UnregisteredRedirect => "page-unregistered-redirect",
        Unanswerable::MissingRedirect => "page-missing-redirect",
    };
    PageError::bad_request(title, text).keyed(key)
}

/// Phase 1: the client exists and the redirect URI is one it registered. Failures are pages, never redirects.
pub async fn trusted_redirect(state: &AppState, params: &Params) -> Result<(Client, String), PageError> {
    let client_id = core_req::client_id(params).map_err(unanswerable)?.to_string();
    // Read, not cached: a client disabled, or a redirect URI removed, by another process counts at once.
    let client = state.db.run(move |c| crate::store::clients::find(c, &client_id)).await?;
    let client = client.filter(|c| !c.disabled).ok_or_else(|| unanswerable(Unanswerable::UnknownClient))?;
    let uri = core_req::redirect_target(params, &client_view(&client)).map_err(unanswerable)?;
    Ok((client, uri))
}

/// Phase 2: every other parameter, by the core's rules.
pub fn validate(
    state: &AppState,
    client: &Client,
    redirect_uri: String,
    params: &Params,
) -> Result<AuthorizationRequest, core_req::Redirectable> {
    let ring = state.keys();
    let settings = state.settings();
    let issuer = settings.issuer.as_str();
    let verify: HintVerifier<'_> = &|hint: &str| verify_own_id_token(&ring, issuer, hint);
    let mut request = core_req::validate(params, &client_view(client), redirect_uri, &settings.scopes, verify)?;
    // [RI-2] [RI-3] RFC 8707 resources, once the redirect URI is trusted: an error here is redirected.
    if let Err(error) = bridgekeeper_core::resource::apply_to_request(&mut request, params, &settings.apis) {
        return Err(core_req::Redirectable {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            error,
            response_mode: request.response_mode,
        });
    }
    // [DP-4] With DPoP off no code can be bound to a key: a dpop_jkt is refused, never silently dropped.
    if request.dpop_jkt.is_some() && !settings.dpop.enabled {
        return Err(core_req::Redirectable {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            error: OAuthError::invalid_request("dpop_jkt is not supported: DPoP is disabled"),
            response_mode: request.response_mode,
        });
    }
    Ok(request)
}

/// Loads a pending request; an unknown, expired or no longer valid one (the client was disabled or changed), or
/// one started in another browser ([TB-4b]), is a page.
pub async fn load(state: &AppState, req: &HttpRequest, id: &str) -> Result<Pending, PageError> {
    let expired = || {
        PageError::bad_request(
            "Sign-in expired",
            "This sign-in request is unknown or has expired. Go back to the app and start again.",
        )
        .keyed("page-request-expired")
    };
    let (id, now) = (id.to_string(), state.clock.now());
    let row = state.db.run(move |c| auth_requests::find(c, &id, now)).await?.ok_or_else(expired)?;
    let browser = req.cookie(FLOW_COOKIE).map(|c| crate::secret::hash_token(c.value())).unwrap_or_default();
    let same_browser =
        row.browser_hash.as_deref().is_some_and(|h| crate::secret::ct_eq(h.as_bytes(), browser.as_bytes()));
    if !same_browser {
        return Err(PageError::bad_request(
            "Sign-in expired",
            "This sign-in request was started in another browser, or has expired. Go back to the app and start again.",
        )
        .keyed("page-other-browser"));
    }
    let request = AuthorizationRequest::from_stored(&row.params_json).ok_or_else(expired)?;
    let cid = row.client_id.clone();
    let client = state.db.run(move |c| crate::store::clients::find(c, &cid)).await?;
    // [PAR-5] [FA-2] A plain request waiting at sign-in is not answered once its client must push.
    let pushed_if_needed = |c: &Client| {
        request.pushed_uri_hash.is_some()
            || pushed::plain_request_allowed(state.settings().par.require, c.requires_par()).is_ok()
    };
    let apis = &state.settings().apis;
    let client = client
        .filter(|c| !c.disabled && request.still_valid_for(&client_view(c)) && pushed_if_needed(c))
        .filter(|_| bridgekeeper_core::resource::request_still_allowed(&request, apis))
        .ok_or_else(expired)?;
    Ok(Pending { id: row.id, created_at: row.created_at, login_session_hash: row.login_session_hash, request, client })
}

/// A browser flow value chosen while answering this request, before its cookie is set.
#[derive(Clone)]
struct NewFlowBrowser(String);

/// This browser's `bk_flow` value, and the cookie to set when the browser had none. The value made for a browser
/// without the cookie is kept with the request, so that every caller answering it agrees on one value.
pub fn flow_browser(state: &AppState, req: &HttpRequest) -> (String, Option<actix_web::cookie::Cookie<'static>>) {
    use actix_web::HttpMessage;
    if let Some(c) = req.cookie(FLOW_COOKIE).filter(|c| c.value().len() >= 32) {
        return (c.value().to_string(), None);
    }
    let known = req.extensions().get::<NewFlowBrowser>().cloned();
    let v = match known {
        Some(NewFlowBrowser(v)) => v,
        None => {
            let v = crate::secret::random_token();
            req.extensions_mut().insert(NewFlowBrowser(v.clone()));
            v
        }
    };
    (v.clone(), Some(session::cookie(state, FLOW_COOKIE, v, state.settings().session.ttl_secs)))
}

/// Stores the validated request so that login and consent can come back to it, bound to this browser; returns its
/// id and the browser cookie to set when the browser had none.
async fn save(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthorizationRequest,
) -> Result<(String, Option<actix_web::cookie::Cookie<'static>>), PageError> {
    let (browser, cookie) = flow_browser(state, req);
    let now = state.clock.now();
    let p = auth_requests::PendingRequest {
        id: crate::secret::random_token(),
        client_id: request.client_id.clone(),
        params_json: request.to_stored(),
        created_at: now,
        expires_at: now + PENDING_TTL_SECS,
        login_session_hash: None,
        browser_hash: Some(crate::secret::hash_token(&browser)),
    };
    let id = p.id.clone();
    state.db.run(move |c| auth_requests::insert(c, &p)).await?;
    Ok((id, cookie))
}

/// The core's decision for this request, this browser's session and the person's consent, with the session it
/// was made for. [TB-5b] Only a session started by signing in *for this pending request* counts as the fresh login
/// it asked for: a sign-in elsewhere (a silent one at a provider that was never asked for `prompt=login`) does not.
pub async fn decide_for(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    request: &AuthorizationRequest,
    pending: Option<&Pending>,
    just_consented: bool,
) -> Result<(AuthorizeDecision, Option<Session>), PageError> {
    let (session, remembered) = signed_in(state, req, client, !client.skip_consent && !just_consented).await?;
    let view = session.as_ref().map(|s| SessionView { user_id: &s.user_id, auth_time: s.auth_time });
    let consent =
        ConsentState { skip: client.skip_consent, remembered: remembered.as_deref(), just_given: just_consented };
    let login_after = pending.and_then(|p| {
        let signed_in_for_it =
            session.as_ref().zip(p.login_session_hash.as_ref()).is_some_and(|(s, h)| &s.id_hash == h);
        signed_in_for_it.then_some(p.created_at)
    });
    let decision = decide(request, view, consent, login_after, state.clock.now());
    Ok((decision, session))
}

/// This browser's live session if its person's account is enabled, with the scope they consented to for
/// `client` (when `consent_needed`): one statement ([DB-5]).
async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    consent_needed: bool,
) -> Result<(Option<Session>, Option<String>), PageError> {
    let Some(hash) = session::cookie_hash(state, req) else { return Ok((None, None)) };
    let (cid, now) = (client.client_id.clone(), state.clock.now());
    let found = state.db.run(move |c| crate::store::sessions::find_active_with_consent(c, &hash, &cid, now)).await?;
    Ok(match found {
        Some((s, false, remembered)) => (Some(s), remembered.filter(|_| consent_needed)),
        _ => (None, None),
    })
}

/// Carries out a decision: a code (the pending request is spent), the login or consent page (keeping the pending
/// request and its start time), or an error redirect. `after_post` answers with 303 ([AZ-21]).
pub async fn carry_out(
    state: &AppState,
    req: &HttpRequest,
    (decision, session): (AuthorizeDecision, Option<Session>),
    client: &Client,
    request: &AuthorizationRequest,
    pending: Option<&Pending>,
    after_post: bool,
) -> Result<HttpResponse, PageError> {
    let to_page = |page: &'static str| async move {
        let (id, cookie) = match pending {
            Some(p) => (p.id.clone(), None),
            None => save(state, req, request).await?,
        };
        let mut r = see_other(&format!("{page}?req={id}"));
        if let Some(c) = cookie {
            let _ = r.add_cookie(&c);
        }
        Ok::<HttpResponse, PageError>(r)
    };
    match decision {
        AuthorizeDecision::Login => to_page("/login").await,
        AuthorizeDecision::Consent => to_page("/consent").await,
        AuthorizeDecision::Error(e) => {
            super::par::spend(state, request).await?;
            Ok(error_to(state, request, &e, after_post))
        }
        AuthorizeDecision::IssueCode => {
            let Some(s) = session else {
                return Err(
                    PageError::bad_request("Sign-in needed", "Please sign in again.").keyed("page-sign-in-needed")
                );
            };
            if let Some(p) = pending {
                let id = p.id.clone();
                state.db.run(move |c| auth_requests::delete(c, &id)).await?;
            }
            super::par::spend(state, request).await?;
            let code = issue_code(state, client, request, &s).await?;
            let mut out = vec![("code", code.as_str())];
            if let Some(st) = &request.state {
                out.push(("state", st));
            }
            let settings = state.settings();
            out.push(("iss", &settings.issuer));
            Ok(answer(state, request.response_mode, &request.redirect_uri, &out, after_post))
        }
    }
}

/// [AZ-23] Issues a single-use code bound to client, redirect URI, PKCE challenge, nonce, scope and session;
/// its grant remembers the resources asked for ([RI-2]). Returns the code.
async fn issue_code(
    state: &AppState,
    client: &Client,
    v: &AuthorizationRequest,
    session: &Session,
) -> Result<String, PageError> {
    let now = state.clock.now();
    let code = crate::secret::random_token();
    let grant = grants::Grant {
        id: crate::store::new_id(),
        client_id: client.client_id.clone(),
        user_id: Some(session.user_id.clone()),
        session_hash: Some(session.id_hash.clone()),
        scope: v.scopes.join(" "),
        auth_time: Some(session.auth_time),
        created_at: now,
        expires_at: now + state.settings().tokens.refresh_absolute_ttl_secs,
        revoked_at: None,
    };
    let row = codes::AuthCode {
        code_hash: crate::secret::hash_token(&code),
        grant_id: grant.id.clone(),
        client_id: client.client_id.clone(),
        user_id: session.user_id.clone(),
        session_hash: Some(session.id_hash.clone()),
        redirect_uri: v.redirect_uri_sent.clone(),
        scope: grant.scope.clone(),
        nonce: v.nonce.clone(),
        code_challenge: v.code_challenge.clone(),
        auth_time: session.auth_time,
        created_at: now,
        expires_at: now + client.profile().code_ttl(state.settings().tokens.code_ttl_secs),
        used_at: None,
        dpop_jkt: v.dpop_jkt.clone(),
    };
    let resources = v.resources.clone();
    state.db.run(move |c| codes::insert_with_grant(c, &grant, &resources, &row)).await?;
    Ok(code)
}

/// [FP-1] The response, at the client's trusted redirect URI, in the mode it asked for: a redirect with the
/// parameters in the query (303 after a POST, [AZ-21]) or the auto-submitting form page of `form_post`.
pub fn answer(state: &AppState, mode: ResponseMode, uri: &str, out: &[(&str, &str)], after_post: bool) -> HttpResponse {
    match mode {
        ResponseMode::Query if after_post => see_other(&redirect::with_params(uri, out)),
        ResponseMode::Query => found(&redirect::with_params(uri, out)),
        ResponseMode::FormPost => crate::respond::form_post(&state.templates, &state.settings(), uri, out)
            .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e)),
    }
}

/// [AZ-6] [AZ-19] An error to a trusted URI: `error`, `error_description`, `state` (if sent), `iss`; [FP-2] in
/// the response mode asked for.
pub fn answer_error(state: &AppState, uri: &str, st: Option<&str>, e: &OAuthError, mode: ResponseMode) -> HttpResponse {
    let mut out = vec![("error", e.code.as_str()), ("error_description", e.description.as_str())];
    if let Some(s) = st {
        out.push(("state", s));
    }
    let settings = state.settings();
    out.push(("iss", &settings.issuer));
    answer(state, mode, uri, &out, false)
}

/// An error answer to a validated request, in its response mode (303 for a query redirect after a POST).
pub fn error_to(state: &AppState, request: &AuthorizationRequest, e: &OAuthError, after_post: bool) -> HttpResponse {
    let mut r = answer_error(state, &request.redirect_uri, request.state.as_deref(), e, request.response_mode);
    if after_post && request.response_mode == ResponseMode::Query {
        r.head_mut().status = actix_web::http::StatusCode::SEE_OTHER;
    }
    r
}

pub use crate::respond::{found, see_other};
