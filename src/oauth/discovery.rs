//! Discovery (OIDC Discovery, RFC 8414) and JWKS. Both are served as pre-serialised bytes.

use actix_web::{HttpResponse, get, web};

use crate::settings::Settings;
use crate::state::AppState;

/// The provider metadata: only what is really supported.
pub fn metadata(s: &Settings) -> serde_json::Value {
    let base = s.issuer_base();
    let scopes: Vec<&String> = s.scopes.keys().filter(|k| !crate::scopes::is_reserved(k)).collect();
    let mut doc = serde_json::json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks.json"),
        "introspection_endpoint": format!("{base}/introspect"),
        "revocation_endpoint": format!("{base}/revoke"),
        "end_session_endpoint": format!("{base}/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", bridgekeeper_core::token::token_exchange::GRANT_TYPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [s.tokens.id_token_alg().as_str()],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": bridgekeeper_core::client_assertion::ALGS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": bridgekeeper_core::client_assertion::ALGS,
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": bridgekeeper_core::client_assertion::ALGS,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "azp", "sid",
            "name", "preferred_username", "picture", "updated_at", "email", "email_verified", "groups"
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    });
    if s.registration.enabled
        && let Some(m) = doc.as_object_mut()
    {
        m.insert("registration_endpoint".into(), format!("{base}/register").into());
    }
    // RFC 9126 §5.
    if s.par.enabled
        && let Some(m) = doc.as_object_mut()
    {
        m.insert("pushed_authorization_request_endpoint".into(), format!("{base}/par").into());
        m.insert("require_pushed_authorization_requests".into(), s.par.require.into());
    }
    // [DP-6] RFC 9449 §5.1.
    if s.dpop.enabled
        && let Some(m) = doc.as_object_mut()
    {
        m.insert("dpop_signing_alg_values_supported".into(), serde_json::json!(s.dpop.algs));
    }
    super::device::advertise(s, &mut doc);
    doc
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openid_configuration).service(oauth_metadata).service(jwks);
}

fn json_bytes(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(body)
}

#[get("/.well-known/openid-configuration")]
async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    json_bytes(state.discovery_json().to_vec())
}

#[get("/.well-known/oauth-authorization-server")]
async fn oauth_metadata(state: web::Data<AppState>) -> HttpResponse {
    json_bytes(state.discovery_json().to_vec())
}

#[get("/jwks.json")]
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("Cache-Control", "public, max-age=60"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(state.keys().jwks_json.to_vec())
}
