//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2). Client and redirect URI are checked first and
//! failures shown as a page (never redirected); every later error is redirected with `error`, `state`, `iss`.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::params::Params;
use super::{ErrorCode, OAuthError, redirect};
use crate::accounts::session;
use crate::server::AppState;
use crate::store::clients::Client;
use crate::store::{auth_requests, codes, consents, grants, users};
use crate::tokens::claims::verify_own_id_token;
use crate::web::PageError;

/// How long a pending authorization request waits for the user to sign in or consent.
const PENDING_TTL_SECS: i64 = 600;
const MAX_STATE_LEN: usize = 4096;
const MAX_NONCE_LEN: usize = 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/authorize", web::get().to(get_authorize))
        .route("/authorize", web::post().to(post_authorize))
        .route("/authorize/resume", web::get().to(resume));
}

#[derive(Debug, Clone, Default)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

/// An authorization request whose client and redirect URI are trusted and whose parameters are valid.
#[derive(Debug, Clone)]
pub struct Validated {
    pub client: Client,
    /// Where to send the response.
    pub redirect_uri: String,
    /// The redirect_uri parameter as sent (bound to the code), if sent.
    pub redirect_uri_sent: Option<String>,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub hint_sub: Option<String>,
    pub params: Params,
}

async fn get_authorize(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    handle(&state, &req, Params::parse(req.query_string()), None).await
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
    })?;
    handle(&state, &req, Params::parse(text), None).await
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
    let pending = load_pending(&state, &q.req).await?;
    handle(&state, &req, Params::parse(&pending.params_json), Some(pending.created_at)).await
}

pub async fn load_pending(state: &AppState, id: &str) -> Result<auth_requests::PendingRequest, PageError> {
    let (id, now) = (id.to_string(), state.clock.now());
    state.db.run(move |c| auth_requests::find(c, &id, now)).await?.ok_or_else(|| {
        PageError::bad_request(
            "Sign-in expired",
            "This sign-in request is unknown or has expired. Go back to the app and start again.",
        )
    })
}

/// Stores the validated request so that login and consent can come back to it.
pub async fn save_pending(state: &AppState, v: &Validated) -> Result<String, PageError> {
    let now = state.clock.now();
    let p = auth_requests::PendingRequest {
        id: crate::secret::random_token(),
        client_id: v.client.client_id.clone(),
        params_json: v.params.to_query(),
        created_at: now,
        expires_at: now + PENDING_TTL_SECS,
    };
    let id = p.id.clone();
    state.db.run(move |c| auth_requests::insert(c, &p)).await?;
    Ok(id)
}

/// Validates the request and decides: login, consent, or a code.
pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
    login_after: Option<i64>,
) -> Result<HttpResponse, PageError> {
    let (client, redirect_uri) = trusted_redirect(state, &params).await?;
    let v = match validate(state, client, redirect_uri, params) {
        Ok(v) => v,
        Err((uri, st, e)) => return Ok(error_redirect(state, &uri, st.as_deref(), &e)),
    };
    let now = state.clock.now();
    let session = session::current(state, req).await?;
    let user = match &session {
        Some(s) => {
            let id = s.user_id.clone();
            state.db.run(move |c| users::find(c, &id)).await?.filter(|u| !u.disabled)
        }
        None => None,
    };
    // Signed in after this request began (5 s allowance for an upstream's clock and its auth_time).
    let fresh = matches!((&session, login_after), (Some(s), Some(t)) if s.auth_time + 5 >= t);
    let needs_login = match (&session, &user) {
        (Some(s), Some(u)) => {
            ((v.prompt.login || v.prompt.select_account) && !fresh)
                || v.max_age.is_some_and(|m| (m == 0 || now - s.auth_time > m) && !fresh)
                || v.hint_sub.as_ref().is_some_and(|sub| sub != &u.id)
        }
        _ => true,
    };
    if needs_login {
        if v.prompt.none {
            return Ok(error_redirect(
                state,
                &v.redirect_uri,
                v.state.as_deref(),
                &OAuthError::new(ErrorCode::LoginRequired, "the user must sign in"),
            ));
        }
        let id = save_pending(state, &v).await?;
        return Ok(see_other(&format!("/login?req={id}")));
    }
    let (Some(session), Some(user)) = (session, user) else {
        return Err(PageError::bad_request("Sign-in needed", "Please sign in again."));
    };
    if !v.client.skip_consent {
        let (uid, cid) = (user.id.clone(), v.client.client_id.clone());
        let remembered = state.db.run(move |c| consents::find(c, &uid, &cid)).await?;
        let covered = remembered.is_some_and(|c| {
            let granted: Vec<&str> = c.scope.split(' ').collect();
            v.scopes.iter().all(|s| granted.contains(&s.as_str()))
        });
        if v.prompt.consent || !covered {
            if v.prompt.none {
                return Ok(error_redirect(
                    state,
                    &v.redirect_uri,
                    v.state.as_deref(),
                    &OAuthError::new(ErrorCode::ConsentRequired, "the user must consent"),
                ));
            }
            let id = save_pending(state, &v).await?;
            return Ok(see_other(&format!("/consent?req={id}")));
        }
    }
    let url = issue_code(state, &v, &user.id, &session.id_hash, session.auth_time).await?;
    Ok(found(&url))
}

/// Phase 1: the client exists and the redirect URI is one it registered. Failures are pages, never redirects.
pub async fn trusted_redirect(state: &AppState, params: &Params) -> Result<(Client, String), PageError> {
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return Err(PageError::bad_request("Invalid request", "The request repeats client_id or redirect_uri."));
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| {
            PageError::bad_request(
                "Invalid request",
                "The request does not say which app is asking (client_id is missing).",
            )
        })?
        .to_string();
    let client = state.db.run(move |c| crate::store::clients::find(c, &client_id)).await?;
    let client = client.filter(|c| !c.disabled).ok_or_else(|| {
        PageError::bad_request("Unknown application", "The app that sent you here is not registered with this service.")
    })?;
    let uri = match params.get("redirect_uri") {
        Some(uri) if redirect::matches_registered(uri, &client.redirect_uris, client.is_public()) => uri.to_string(),
        Some(_) => {
            return Err(PageError::bad_request(
                "Invalid redirect address",
                "The app asked to send you back to an address it has not registered. Nothing was sent.",
            ));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(PageError::bad_request(
                "Invalid request",
                "The request has no redirect_uri and the app registered several.",
            ));
        }
    };
    Ok((client, uri))
}

type Redirectable = (String, Option<String>, OAuthError);

/// Phase 2: every other parameter. Errors carry the trusted redirect URI and the state to echo.
pub fn validate(
    state: &AppState,
    client: Client,
    redirect_uri: String,
    params: Params,
) -> Result<Validated, Redirectable> {
    let st = params.get("state").map(String::from).filter(|s| s.len() <= MAX_STATE_LEN);
    let fail = |e: OAuthError| (redirect_uri.clone(), st.clone(), e);
    if let Some(d) = params.first_duplicate() {
        return Err(fail(OAuthError::invalid_request(format!("parameter {d} is repeated"))));
    }
    if params.get("state").is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(fail(OAuthError::invalid_request("state is too long")));
    }
    if params.has("request") {
        return Err(fail(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported")));
    }
    if params.has("request_uri") {
        return Err(fail(OAuthError::new(ErrorCode::RequestUriNotSupported, "request_uri is not supported")));
    }
    match params.get("response_type") {
        None => return Err(fail(OAuthError::invalid_request("response_type is required"))),
        Some("code") => {}
        Some(_) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )));
        }
    }
    if !client.allows_grant("authorization_code") {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        )));
    }
    // Reserved scopes (`admin`) are never granted through the browser, whatever the client may hold.
    let browser_scopes: Vec<String> =
        client.allowed_scopes.iter().filter(|s| !crate::scopes::is_reserved(s)).cloned().collect();
    let scopes = crate::scopes::narrow(params.get("scope"), &browser_scopes, &state.settings.scopes)
        .map_err(|e| fail(OAuthError::invalid_scope(e)))?;
    let challenge = params.get("code_challenge").map(String::from);
    match (params.get("code_challenge_method"), &challenge) {
        (Some("S256"), Some(c)) if valid_pkce_value(c) => {}
        (Some("S256"), Some(_)) => return Err(fail(OAuthError::invalid_request("code_challenge is malformed"))),
        (Some("S256"), None) => return Err(fail(OAuthError::invalid_request("code_challenge is missing"))),
        (Some(_), _) | (None, Some(_)) => {
            return Err(fail(OAuthError::invalid_request("only code_challenge_method=S256 is supported")));
        }
        (None, None) if client.is_public() || client.require_pkce => {
            return Err(fail(OAuthError::invalid_request(
                "PKCE (code_challenge with S256) is required for this client",
            )));
        }
        (None, None) => {}
    }
    let mut prompt = Prompt::default();
    if let Some(p) = params.get("prompt") {
        for v in p.split(' ').filter(|s| !s.is_empty()) {
            match v {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                _ => return Err(fail(OAuthError::invalid_request(format!("unsupported prompt value {v}")))),
            }
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return Err(fail(OAuthError::invalid_request("prompt=none cannot be combined with other values")));
        }
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(m) => Some(
            m.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| fail(OAuthError::invalid_request("max_age must be a non-negative integer")))?,
        ),
    };
    let nonce = params.get("nonce").map(String::from);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(fail(OAuthError::invalid_request("nonce is too long")));
    }
    let hint_sub = match params.get("id_token_hint") {
        None => None,
        Some(h) => {
            let ring = state.keys();
            let (sub, aud) = verify_own_id_token(&ring, &state.settings.issuer, h)
                .ok_or_else(|| fail(OAuthError::invalid_request("id_token_hint was not issued by this server")))?;
            if !aud.contains(&client.client_id) {
                return Err(fail(OAuthError::invalid_request("id_token_hint was issued to another client")));
            }
            Some(sub)
        }
    };
    Ok(Validated {
        redirect_uri_sent: params.get("redirect_uri").map(String::from),
        client,
        redirect_uri,
        state: st,
        scopes,
        nonce,
        code_challenge: challenge,
        prompt,
        max_age,
        hint_sub,
        params,
    })
}

/// RFC 7636 §4.2: 43–128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
pub fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Issues a single-use code bound to client, redirect URI, PKCE challenge, nonce, scope and session.
pub async fn issue_code(
    state: &AppState,
    v: &Validated,
    user_id: &str,
    session_hash: &str,
    auth_time: i64,
) -> Result<String, PageError> {
    let now = state.clock.now();
    let code = crate::secret::random_token();
    let grant = grants::Grant {
        id: crate::store::new_id(),
        client_id: v.client.client_id.clone(),
        user_id: Some(user_id.to_string()),
        session_hash: Some(session_hash.to_string()),
        scope: v.scopes.join(" "),
        auth_time: Some(auth_time),
        created_at: now,
        expires_at: now + state.settings.tokens.refresh_absolute_ttl_secs,
        revoked_at: None,
    };
    let row = codes::AuthCode {
        code_hash: crate::secret::hash_token(&code),
        grant_id: grant.id.clone(),
        client_id: v.client.client_id.clone(),
        user_id: user_id.to_string(),
        session_hash: Some(session_hash.to_string()),
        redirect_uri: v.redirect_uri_sent.clone(),
        scope: grant.scope.clone(),
        nonce: v.nonce.clone(),
        code_challenge: v.code_challenge.clone(),
        auth_time,
        created_at: now,
        expires_at: now + state.settings.tokens.code_ttl_secs,
        used_at: None,
    };
    state
        .db
        .run(move |c| {
            grants::insert(c, &grant)?;
            codes::insert(c, &row)
        })
        .await?;
    let mut out = vec![("code", code.as_str())];
    if let Some(s) = &v.state {
        out.push(("state", s));
    }
    out.push(("iss", &state.settings.issuer));
    Ok(redirect::with_params(&v.redirect_uri, &out))
}

/// An error redirect to a trusted URI: `error`, `error_description`, `state` (if sent), `iss`.
pub fn error_redirect(state: &AppState, uri: &str, st: Option<&str>, e: &OAuthError) -> HttpResponse {
    let mut out = vec![("error", e.code.as_str()), ("error_description", e.description.as_str())];
    if let Some(s) = st {
        out.push(("state", s));
    }
    out.push(("iss", &state.settings.issuer));
    found(&redirect::with_params(uri, &out))
}

pub fn found(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// 303: the redirect after a form post (RFC 9700 §4.12).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}
