//! Dynamic client registration rules (RFC 7591 §2, OIDC Registration §2): client metadata in, a validated client
//! out, and the registered metadata to echo. Nothing here is fetched (`jwks_uri`, `sector_identifier_uri` and
//! `request_uris` are never dereferenced), so registration cannot be turned into an SSRF probe.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::clients::{NewClient, self_service_scopes};
use crate::settings::{GRANT_TYPES, Settings};
use crate::store::clients::Client;
use bridgekeeper_core::redirect::validate_for_client;
use bridgekeeper_core::{ErrorCode, OAuthError};

/// Client metadata as sent (unknown members are ignored, RFC 7591 §2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub application_type: Option<String>,
    pub client_name: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub jwks_uri: Option<String>,
    pub jwks: Option<Value>,
    pub sector_identifier_uri: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub scope: Option<String>,
    pub contacts: Option<Vec<String>>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub dpop_bound_access_tokens: Option<bool>,
    /// [FA-1] `fapi2`: register as a FAPI 2.0 client (it must meet the profile).
    pub profile: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: Option<bool>,
    // Members a PUT (RFC 7592 §2.2) must or must not carry.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub registration_access_token: Option<Value>,
    pub registration_client_uri: Option<Value>,
    pub client_id_issued_at: Option<Value>,
    pub client_secret_expires_at: Option<Value>,
}

fn bad(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, d)
}

fn bad_uri(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, d)
}

/// Parses the JSON body; anything but a JSON object of the right member types is `invalid_client_metadata`.
pub fn parse(body: &[u8]) -> Result<Metadata, OAuthError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("the body must be a JSON object"))?;
    if !v.is_object() {
        return Err(bad("the body must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| bad(format!("malformed client metadata ({e})")))
}

fn https_url(name: &str, v: &Option<String>) -> Result<(), OAuthError> {
    match v {
        Some(u) if url::Url::parse(u).map(|u| u.scheme() != "https").unwrap_or(true) => {
            Err(bad(format!("{name} must be an https URL")))
        }
        _ => Ok(()),
    }
}

/// A redirect URI for this application type (OIDC Registration §2): web clients https and not loopback; native
/// clients loopback http or a custom scheme (custom schemes for public clients only).
fn check_redirect(uri: &str, native: bool, public: bool) -> Result<(), OAuthError> {
    if uri.contains('#') {
        return Err(bad_uri(format!("{uri}: must not contain a fragment")));
    }
    let url = url::Url::parse(uri).map_err(|_| bad_uri(format!("{uri}: not an absolute URI")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    if !native && (url.scheme() != "https" || loopback) {
        return Err(bad_uri(format!("{uri}: a web client needs https redirect URIs on a public host")));
    }
    validate_for_client(uri, public).map_err(|e| bad_uri(format!("{uri}: {e}")))
}

/// The validated registration: the client to create (or the fields to replace) and the metadata to echo.
#[derive(Debug)]
pub struct Registration {
    pub client: NewClient,
    pub metadata: Map<String, Value>,
}

/// Applies the rules; `existing` (on a PUT) keeps scopes an admin already approved.
pub fn validate(settings: &Settings, m: Metadata, existing: Option<&Client>) -> Result<Registration, OAuthError> {
    let native = match m.application_type.as_deref() {
        None | Some("web") => false,
        Some("native") => true,
        Some(other) => return Err(bad(format!("application_type {other} is not supported"))),
    };
    let method = m.token_endpoint_auth_method.clone().unwrap_or_else(|| "client_secret_basic".into());
    check_profile(settings, &m, &method)?;
    if !matches!(method.as_str(), "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none") {
        return Err(bad(format!("token_endpoint_auth_method {method} is not supported")));
    }
    // [PJ-1] A self-registered private_key_jwt client sends its keys inline: a jwks_uri would be fetched.
    if method == "private_key_jwt" {
        let jwks = m.jwks.as_ref().ok_or_else(|| bad("private_key_jwt needs jwks (jwks_uri is not fetched)"))?;
        crate::tokens::client_keys::parse_jwks(&jwks.to_string()).map_err(bad)?;
    } else if m.jwks.is_some() {
        return Err(bad("jwks is only used with token_endpoint_auth_method private_key_jwt"));
    }
    let public = method == "none";
    let grants = m.grant_types.clone().unwrap_or_else(|| vec!["authorization_code".into()]);
    if grants.is_empty() {
        return Err(bad("grant_types must not be empty"));
    }
    if let Some(g) = grants.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(bad(format!("grant type {g} is not supported")));
    }
    let code_flow = grants.iter().any(|g| g == "authorization_code");
    let responses = m.response_types.clone().unwrap_or_else(|| if code_flow { vec!["code".into()] } else { vec![] });
    if responses.iter().any(|r| r != "code") {
        return Err(bad("only the response type code is supported"));
    }
    if code_flow != responses.iter().any(|r| r == "code") {
        return Err(bad("grant_types and response_types are inconsistent (authorization_code goes with code)"));
    }
    if public && grants.iter().any(|g| g == "client_credentials") {
        return Err(bad("a public client (token_endpoint_auth_method none) cannot use client_credentials"));
    }
    // [RG-5] The device grant only where the configuration opens it to self-registration, or on a PUT of a client
    // that already holds it (an admin gave it).
    let device = bridgekeeper_core::device::GRANT_TYPE;
    let kept = existing.is_some_and(|c| c.allows_grant(device));
    if grants.iter().any(|g| g == device) && !settings.registration.allow_device_grant && !kept {
        return Err(bad("the device grant is not open to self-registered clients; an administrator can give it"));
    }
    let redirects = m.redirect_uris.clone().unwrap_or_default();
    if code_flow && redirects.is_empty() {
        return Err(bad_uri("redirect_uris is required for the authorization_code grant"));
    }
    for uri in &redirects {
        check_redirect(uri, native, public)?;
    }
    let logouts = m.post_logout_redirect_uris.clone().unwrap_or_default();
    for uri in &logouts {
        validate_for_client(uri, public).map_err(|e| bad(format!("post_logout_redirect_uri {uri}: {e}")))?;
    }
    if m.jwks.is_some() && m.jwks_uri.is_some() {
        return Err(bad("jwks and jwks_uri must not both be present"));
    }
    if m.sector_identifier_uri.is_some() {
        return Err(bad("sector_identifier_uri is not supported (subjects are public)"));
    }
    for (name, v) in [
        ("logo_uri", &m.logo_uri),
        ("client_uri", &m.client_uri),
        ("policy_uri", &m.policy_uri),
        ("tos_uri", &m.tos_uri),
        ("jwks_uri", &m.jwks_uri),
        ("initiate_login_uri", &m.initiate_login_uri),
    ] {
        https_url(name, v)?;
    }
    let requested: Vec<String> =
        m.scope.as_deref().unwrap_or("openid").split(' ').filter(|s| !s.is_empty()).map(String::from).collect();
    let (mut allowed, mut pending) = self_service_scopes(settings, &requested).map_err(bad)?;
    if let Some(c) = existing {
        let approved: Vec<String> = pending.iter().filter(|p| c.allowed_scopes.contains(p)).cloned().collect();
        pending.retain(|p| !approved.contains(p));
        allowed.extend(approved);
    }
    let name = m.client_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "Unnamed app".into());
    let mut metadata = Map::new();
    metadata.insert("token_endpoint_auth_method".into(), method.into());
    metadata.insert("application_type".into(), if native { "native" } else { "web" }.into());
    metadata.insert("response_types".into(), json!(responses));
    for (k, v) in [
        ("client_uri", &m.client_uri),
        ("policy_uri", &m.policy_uri),
        ("tos_uri", &m.tos_uri),
        ("jwks_uri", &m.jwks_uri),
        ("initiate_login_uri", &m.initiate_login_uri),
        ("software_id", &m.software_id),
        ("software_version", &m.software_version),
    ] {
        if let Some(v) = v {
            metadata.insert(k.into(), v.clone().into());
        }
    }
    if let Some(c) = &m.contacts {
        metadata.insert("contacts".into(), json!(c));
    }
    if let Some(j) = &m.jwks {
        metadata.insert("jwks".into(), j.clone());
    }
    if m.require_pushed_authorization_requests == Some(true) {
        metadata.insert("require_pushed_authorization_requests".into(), true.into());
    }
    if m.dpop_bound_access_tokens == Some(true) {
        metadata.insert("dpop_bound_access_tokens".into(), true.into());
    }
    if let Some(p) = m.profile.as_deref().filter(|p| !p.is_empty()) {
        metadata.insert(crate::store::clients::PROFILE.into(), p.into());
    }
    let frontchannel = frontchannel_uri(&m, &redirects)?;
    let client = NewClient {
        name,
        redirect_uris: redirects,
        post_logout_redirect_uris: logouts,
        allowed_scopes: allowed,
        pending_scopes: pending,
        grant_types: grants,
        public,
        logo_uri: m.logo_uri.clone(),
        source: "dynamic".into(),
        metadata_json: Some(Value::Object(metadata.clone()).to_string()),
        token_endpoint_auth_method: metadata
            .get("token_endpoint_auth_method")
            .and_then(|m| m.as_str())
            .map(String::from),
        backchannel_logout_uri: backchannel_uri(&m)?,
        backchannel_logout_session_required: m.backchannel_logout_session_required.unwrap_or(false),
        frontchannel_logout_uri: frontchannel,
        frontchannel_logout_session_required: m.frontchannel_logout_session_required.unwrap_or(false),
        ..Default::default()
    };
    Ok(Registration { client, metadata })
}

/// [FA-1] The profile asked for is known and the metadata meets it (first, so the profile's reason is named).
fn check_profile(settings: &Settings, m: &Metadata, method: &str) -> Result<(), OAuthError> {
    use bridgekeeper_core::client_profile::{ClientFacts, Profile, check_client};
    let profile = Profile::parse(m.profile.as_deref()).map_err(|e| bad(e.to_string()))?;
    let code_only = vec!["authorization_code".to_string()];
    let facts = ClientFacts {
        token_endpoint_auth_method: method,
        has_secret: false,
        grant_types: m.grant_types.as_ref().unwrap_or(&code_only),
        par_enabled: settings.par.enabled,
        dpop_enabled: settings.dpop.enabled,
        token_algs: [settings.tokens.id_token_alg().as_str(), settings.tokens.access_token_alg().as_str()],
    };
    check_client(profile, &facts).map_err(|e| bad(e.to_string()))
}

/// [BL-6] [BL-9] `backchannel_logout_uri` (Back-Channel Logout 1.0 §2.2) follows the redirect-URI rules, https
/// only and never at an internal address literal (the broker would call it).
fn backchannel_uri(m: &Metadata) -> Result<Option<String>, OAuthError> {
    match &m.backchannel_logout_uri {
        Some(uri) => {
            bridgekeeper_core::backchannel::validate_self_service_logout_uri(uri)
                .map_err(|e| bad(format!("backchannel_logout_uri {uri}: {e}")))?;
            Ok(Some(uri.clone()))
        }
        None => Ok(None),
    }
}

/// [FL-1] `frontchannel_logout_uri` (Front-Channel Logout 1.0 §2): the redirect-URI rules and the origin of one
/// of the (already checked) redirect URIs.
fn frontchannel_uri(m: &Metadata, redirects: &[String]) -> Result<Option<String>, OAuthError> {
    match &m.frontchannel_logout_uri {
        Some(uri) => {
            bridgekeeper_core::frontchannel::validate_frontchannel_uri(uri, redirects)
                .map_err(|e| bad(format!("frontchannel_logout_uri {uri}: {e}")))?;
            Ok(Some(uri.clone()))
        }
        None => Ok(None),
    }
}

/// The client's registered metadata (RFC 7591 §3.2.1), without secrets.
pub fn describe(c: &Client, base: &str) -> Map<String, Value> {
    let mut m: Map<String, Value> = match serde_json::from_str(&c.metadata_json) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    m.remove(super::clients::ADMIN_SET);
    m.insert("client_id".into(), c.client_id.clone().into());
    m.insert("client_id_issued_at".into(), c.created_at.into());
    if !c.is_public() {
        m.insert("client_secret_expires_at".into(), 0.into());
    }
    m.insert("client_name".into(), c.name.clone().into());
    m.insert("redirect_uris".into(), json!(c.redirect_uris));
    m.insert("post_logout_redirect_uris".into(), json!(c.post_logout_redirect_uris));
    m.insert("grant_types".into(), json!(c.grant_types));
    if let Some(uri) = &c.backchannel_logout_uri {
        m.insert("backchannel_logout_uri".into(), uri.clone().into());
        m.insert("backchannel_logout_session_required".into(), c.backchannel_logout_session_required.into());
    }
    if let Some(uri) = &c.frontchannel_logout_uri {
        m.insert("frontchannel_logout_uri".into(), uri.clone().into());
        m.insert("frontchannel_logout_session_required".into(), c.frontchannel_logout_session_required.into());
    }
    m.insert("scope".into(), c.allowed_scopes.join(" ").into());
    if !c.pending_scopes.is_empty() {
        m.insert("pending_scope".into(), c.pending_scopes.join(" ").into());
    }
    if let Some(l) = &c.logo_uri {
        m.insert("logo_uri".into(), l.clone().into());
    }
    m.insert("registration_client_uri".into(), format!("{base}/register/{}", c.client_id).into());
    m
}
