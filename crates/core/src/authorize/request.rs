//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), parsed and validated once into a typed value.
//! Only the parameters the broker understands are kept, each within a length limit; the stored form of a pending
//! request is this value serialised (never the raw query).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;
use crate::{pkce, redirect, scopes};

/// Longest `state` echoed back (longer: `invalid_request`, and the state is not echoed).
pub const MAX_STATE_LEN: usize = 4096;
/// Longest `nonce` (echoed into the ID token unchanged, [AZ-11]).
pub const MAX_NONCE_LEN: usize = 1024;
/// Longest `login_hint`, `idp_hint`, `ui_locales`.
pub const MAX_HINT_LEN: usize = 512;
/// The stored form of a request is refused beyond this size ([GC-2]).
pub const MAX_STORED_LEN: usize = 8 * 1024;

/// What the core needs to know about the client that sent the request.
#[derive(Debug, Clone, Copy)]
pub struct ClientView<'a> {
    pub client_id: &'a str,
    pub redirect_uris: &'a [String],
    pub public: bool,
    pub require_pkce: bool,
    pub allows_code_flow: bool,
    pub allowed_scopes: &'a [String],
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

impl Prompt {
    /// [AZ-12] Space-separated values; `none` alone; unknown values are an error.
    pub fn parse(s: &str) -> Result<Prompt, OAuthError> {
        let mut p = Prompt::default();
        for v in s.split(' ').filter(|s| !s.is_empty()) {
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => p.select_account = true,
                _ => return Err(OAuthError::invalid_request(format!("unsupported prompt value {v}"))),
            }
        }
        if p.none && (p.login || p.consent || p.select_account) {
            return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
        }
        Ok(p)
    }
}

/// How the response reaches the client: the default (`query`) for `response_type=code`, or [FP-1] `form_post`
/// (OAuth 2.0 Form Post Response Mode: an auto-submitted HTML form POSTed to the redirect URI).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

impl ResponseMode {
    /// [AZ-24] An unsupported `response_mode` is refused, never silently answered in the query.
    pub fn parse(s: Option<&str>) -> Result<ResponseMode, OAuthError> {
        match s {
            None | Some("query") => Ok(ResponseMode::Query),
            Some("form_post") => Ok(ResponseMode::FormPost),
            Some(other) => Err(OAuthError::invalid_request(format!("response_mode {other} is not supported"))),
        }
    }

    /// [FP-2] The mode an error is answered in: the one asked for when it is supported (also when another
    /// parameter was wrong), else the query.
    pub fn for_errors(params: &Params) -> ResponseMode {
        if params.is_duplicated("response_mode") {
            return ResponseMode::Query;
        }
        ResponseMode::parse(params.get("response_mode")).unwrap_or_default()
    }
}

/// A validated authorization request whose client and redirect URI are trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// Where to send the response.
    pub redirect_uri: String,
    /// The `redirect_uri` parameter as sent (bound to the code, [AC-3]), if sent.
    pub redirect_uri_sent: Option<String>,
    pub state: Option<String>,
    /// Narrowed to what the client may have, sorted ([AZ-9]).
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The subject of a verified `id_token_hint` ([AZ-15]).
    pub hint_sub: Option<String>,
    pub login_hint: Option<String>,
    /// Which upstream to go to straight away (`idp_hint`, Keycloak's `kc_idp_hint`).
    pub idp_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub response_mode: ResponseMode,
    /// [PAR-2] The SHA-256 of the `request_uri` this request came from, so that the push is spent when the
    /// authorization completes (set at `/authorize`, never part of the push itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_uri_hash: Option<String>,
    /// [DP-4] RFC 9449 §10: the thumbprint of the DPoP key the code is to be bound to (`dpop_jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// [RI-2] The resources (RFC 8707 `resource`, APIs of `[[apis]]`) the grant is for, sorted; set by
    /// [`crate::resource::apply_to_request`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

/// Why a request cannot even be answered by redirect: shown as a page, never redirected ([AZ-2], [AZ-4], [AZ-22]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswerable {
    RepeatedClientOrRedirect,
    MissingClientId,
    UnknownClient,
    UnregisteredRedirect,
    MissingRedirect,
}

impl Unanswerable {
    /// Title and text of the page a person sees.
    pub fn page_text(self) -> (&'static str, &'static str) {
        match self {
            Self::RepeatedClientOrRedirect => ("Invalid request", "The request repeats client_id or redirect_uri."),
            Self::MissingClientId => {
                ("Invalid request", "The request does not say which app is asking (client_id is missing).")
            }
            Self::UnknownClient => {
                ("Unknown application", "The app that sent you here is not registered with this service.")
            }
            Self::UnregisteredRedirect => (
                "Invalid redirect address",
                "The app asked to send you back to an address it has not registered. Nothing was sent.",
            ),
            Self::MissingRedirect => {
                ("Invalid request", "The request has no redirect_uri and the app registered several.")
            }
        }
    }
}

/// An error that goes back to the client by redirect ([AZ-6]): where, with which `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirectable {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: OAuthError,
    /// How to answer: [FP-2].
    pub response_mode: ResponseMode,
}

/// Phase 1, step 1: the `client_id` to look up. Repeated `client_id`/`redirect_uri` or a missing `client_id`
/// is a page; [CL-1] one that cannot name a client (over 255 bytes) is the unknown client's page, unlooked-up.
pub fn client_id(params: &Params) -> Result<&str, Unanswerable> {
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return Err(Unanswerable::RepeatedClientOrRedirect);
    }
    let id = params.get("client_id").ok_or(Unanswerable::MissingClientId)?;
    if !crate::client_id::may_name_a_client(id) {
        return Err(Unanswerable::UnknownClient);
    }
    Ok(id)
}

/// Phase 1, step 2 ([AZ-2] [AZ-3] [AZ-4]): the redirect URI is one the client registered (exact match; the
/// loopback port may vary for public clients); without one, the only registered URI.
pub fn redirect_target(params: &Params, client: &ClientView<'_>) -> Result<String, Unanswerable> {
    match params.get("redirect_uri") {
        Some(uri) if redirect::matches_registered(uri, client.redirect_uris, client.public) => Ok(uri.to_string()),
        Some(_) => Err(Unanswerable::UnregisteredRedirect),
        None => match client.redirect_uris {
            [only] => Ok(only.clone()),
            _ => Err(Unanswerable::MissingRedirect),
        },
    }
}

/// Verifies an `id_token_hint`: `Some((sub, aud))` when this server issued it (expired ones included).
pub type HintVerifier<'a> = &'a dyn Fn(&str) -> Option<(String, Vec<String>)>;

/// Phase 2: every other parameter, once the redirect URI is trusted. Errors are redirected with the state.
pub fn validate(
    params: &Params,
    client: &ClientView<'_>,
    redirect_uri: String,
    catalogue: &BTreeMap<String, String>,
    verify_hint: HintVerifier<'_>,
) -> Result<AuthorizationRequest, Redirectable> {
    let state = params.get("state").map(String::from).filter(|s| s.len() <= MAX_STATE_LEN);
    let response_mode = ResponseMode::for_errors(params);
    let fail = |error: OAuthError| Redirectable {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        response_mode,
    };
    let req = build(params, client, &redirect_uri, state.clone(), catalogue, verify_hint).map_err(fail)?;
    if req.to_stored().len() > MAX_STORED_LEN {
        return Err(fail(OAuthError::invalid_request("the authorization request is too large")));
    }
    Ok(req)
}

fn build(
    params: &Params,
    client: &ClientView<'_>,
    redirect_uri: &str,
    state: Option<String>,
    catalogue: &BTreeMap<String, String>,
    verify_hint: HintVerifier<'_>,
) -> Result<AuthorizationRequest, OAuthError> {
    // RFC 8707 §2: `resource` may repeat ([RI-2]).
    if let Some(d) = params.first_duplicate_except(&["resource"]) {
        return Err(OAuthError::invalid_request(format!("parameter {d} is repeated")));
    }
    if params.get("state").is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(OAuthError::invalid_request("state is too long"));
    }
    check_request_objects(params)?;
    check_response_type(params.get("response_type"))?;
    let response_mode = ResponseMode::parse(params.get("response_mode"))?;
    if !client.allows_code_flow {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let scopes = browser_scopes(params.get("scope"), client, catalogue)?;
    let code_challenge = check_pkce(params, client)?;
    let prompt = params.get("prompt").map(Prompt::parse).transpose()?.unwrap_or_default();
    let max_age = params.get("max_age").map(parse_max_age).transpose()?;
    let nonce = bounded(params, "nonce", MAX_NONCE_LEN)?;
    let hint_sub = params.get("id_token_hint").map(|h| check_hint(h, client.client_id, verify_hint)).transpose()?;
    let dpop_jkt = params.get("dpop_jkt").map(String::from);
    if dpop_jkt.as_deref().is_some_and(|j| !crate::dpop::is_thumbprint(j)) {
        return Err(OAuthError::invalid_request("dpop_jkt is not a SHA-256 JWK thumbprint"));
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        redirect_uri_sent: params.get("redirect_uri").map(String::from),
        state,
        scopes,
        nonce,
        code_challenge,
        prompt,
        max_age,
        hint_sub,
        login_hint: bounded(params, "login_hint", MAX_HINT_LEN)?,
        idp_hint: bounded(params, "idp_hint", MAX_HINT_LEN)?,
        ui_locales: bounded(params, "ui_locales", MAX_HINT_LEN)?,
        response_mode,
        pushed_uri_hash: None,
        dpop_jkt,
        resources: Vec::new(),
    })
}

/// [AZ-17] Request objects are not supported, and say so rather than being ignored.
fn check_request_objects(params: &Params) -> Result<(), OAuthError> {
    if params.has("request") {
        return Err(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported"));
    }
    if params.has("request_uri") {
        return Err(OAuthError::new(ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
    }
    Ok(())
}

/// [AZ-7] `response_type=code` only.
fn check_response_type(rt: Option<&str>) -> Result<(), OAuthError> {
    match rt {
        None => Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => Ok(()),
        Some(_) => Err(OAuthError::new(ErrorCode::UnsupportedResponseType, "only response_type=code is supported")),
    }
}

/// [AZ-9] [AZ-18] Scopes narrowed to what the client may have; reserved scopes (`admin`) are never granted
/// through the browser, whatever the client may hold.
fn browser_scopes(
    requested: Option<&str>,
    client: &ClientView<'_>,
    catalogue: &BTreeMap<String, String>,
) -> Result<Vec<String>, OAuthError> {
    let allowed: Vec<String> = client.allowed_scopes.iter().filter(|s| !scopes::is_reserved(s)).cloned().collect();
    scopes::narrow(requested, &allowed, catalogue).map_err(OAuthError::invalid_scope)
}

/// [PK-1] [PK-2] [PK-3] S256 only; required for public clients and clients configured with `require_pkce`.
fn check_pkce(params: &Params, client: &ClientView<'_>) -> Result<Option<String>, OAuthError> {
    let challenge = params.get("code_challenge");
    match (params.get("code_challenge_method"), challenge) {
        (Some("S256"), Some(c)) if pkce::valid_pkce_value(c) => Ok(Some(c.to_string())),
        (Some("S256"), Some(_)) => Err(OAuthError::invalid_request("code_challenge is malformed")),
        (Some("S256"), None) => Err(OAuthError::invalid_request("code_challenge is missing")),
        (Some(_), _) | (None, Some(_)) => {
            Err(OAuthError::invalid_request("only code_challenge_method=S256 is supported"))
        }
        (None, None) if client.public || client.require_pkce => {
            Err(OAuthError::invalid_request("PKCE (code_challenge with S256) is required for this client"))
        }
        (None, None) => Ok(None),
    }
}

/// [AZ-14] `max_age` is a non-negative integer (seconds).
fn parse_max_age(m: &str) -> Result<i64, OAuthError> {
    m.parse::<i64>()
        .ok()
        .filter(|m| *m >= 0)
        .ok_or_else(|| OAuthError::invalid_request("max_age must be a non-negative integer"))
}

/// [AZ-15] An `id_token_hint` must be one of ours, issued to this client.
fn check_hint(hint: &str, client_id: &str, verify: HintVerifier<'_>) -> Result<String, OAuthError> {
    let (sub, aud) =
        verify(hint).ok_or_else(|| OAuthError::invalid_request("id_token_hint was not issued by this server"))?;
    if !aud.iter().any(|a| a == client_id) {
        return Err(OAuthError::invalid_request("id_token_hint was issued to another client"));
    }
    Ok(sub)
}

/// [GC-2] A kept parameter within its length limit.
fn bounded(params: &Params, key: &str, max: usize) -> Result<Option<String>, OAuthError> {
    match params.get(key) {
        Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!("{key} is too long"))),
        v => Ok(v.map(String::from)),
    }
}

impl AuthorizationRequest {
    /// The stored form of a pending request.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stored request, if it parses.
    pub fn from_stored(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }

    /// A stored request is still answerable for the client as it is now: it may still use the code flow, PKCE is
    /// there if the client now needs it, the redirect URI is still registered, every scope is still allowed.
    pub fn still_valid_for(&self, client: &ClientView<'_>) -> bool {
        client.client_id == self.client_id
            && client.allows_code_flow
            && (self.code_challenge.is_some() || !(client.public || client.require_pkce))
            && redirect::matches_registered(&self.redirect_uri, client.redirect_uris, client.public)
            && self.scopes.iter().all(|s| client.allowed_scopes.contains(s) && !scopes::is_reserved(s))
    }

    /// How fresh the sign-in must be, for the upstream ([`crate::freshness`]).
    pub fn freshness(&self) -> crate::freshness::Freshness {
        crate::freshness::Freshness::new(self.prompt.login || self.prompt.select_account, self.max_age)
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
