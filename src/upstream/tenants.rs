//! [MS-1]–[MS-3] Microsoft multi-tenant (`{tenantid}`) issuers for `kind = "oidc"`: discovery of the shared
//! endpoint (whose document names the template as its issuer, which openidconnect's exact check refuses) and the
//! per-token tenant check of `bridgekeeper_core::tenants`.

use bridgekeeper_core::tenants::{TENANT_PLACEHOLDER, Tenants, key_signs_for, subject};
use openidconnect::JsonWebKeySet;
use openidconnect::core::CoreJsonWebKey;

use super::http::UpstreamHttp;
use super::oidc::Metadata;

/// The keys of a JWKS that carry an `issuer` member, with it ([MS-3] key-level issuer binding).
pub(super) type KeyIssuers = Vec<(CoreJsonWebKey, String)>;

/// Fetches `{issuer with the endpoint segment}/.well-known/openid-configuration`; its `issuer` must be the
/// configured template exactly; then the JWKS it names, keeping each key's `issuer` member.
pub(super) async fn discover(
    template: &str,
    tenants: &Tenants,
    http: &UpstreamHttp,
) -> Result<(Metadata, KeyIssuers), String> {
    let base = template.replace(TENANT_PLACEHOLDER, tenants.endpoint_segment());
    let url = format!("{}/.well-known/openid-configuration", base.trim_end_matches('/'));
    let doc = http.get_json(&url, None).await.map_err(|e| e.to_string())?;
    let meta: Metadata = serde_json::from_value(doc).map_err(|e| format!("discovery document: {e}"))?;
    if meta.issuer().as_str() != template {
        return Err("discovery names another issuer than the configured template".into());
    }
    let raw = http.get_json(meta.jwks_uri().as_str(), None).await.map_err(|e| format!("jwks: {e}"))?;
    let issuers = key_issuers(&raw);
    let jwks: JsonWebKeySet<CoreJsonWebKey> = serde_json::from_value(raw).map_err(|e| format!("jwks: {e}"))?;
    Ok((meta.set_jwks(jwks), issuers))
}

/// The keys of the JWKS `raw` that name an issuer (an `issuer` that is not a string matches no token, so that key
/// verifies nothing).
fn key_issuers(raw: &serde_json::Value) -> KeyIssuers {
    let keys = raw.get("keys").and_then(|k| k.as_array()).map(Vec::as_slice).unwrap_or_default();
    keys.iter()
        .filter_map(|k| {
            let issuer = k.get("issuer")?;
            let key = serde_json::from_value::<CoreJsonWebKey>(k.clone()).ok()?;
            Some((key, issuer.as_str().unwrap_or_default().to_string()))
        })
        .collect()
}

/// [MS-3] The key that verified the token (`key`) signs for the token's issuer: every `issuer` member the JWKS
/// gave that key names the token's `iss` (with `{tenantid}` as the token's `tid`).
pub(super) fn check_signing_key(
    issuers: &KeyIssuers,
    key: &CoreJsonWebKey,
    doc: &serde_json::Value,
) -> Result<(), String> {
    let named: Vec<&str> = issuers.iter().filter(|(k, _)| k == key).map(|(_, i)| i.as_str()).collect();
    let claim = |k: &str| doc.get(k).and_then(|v| v.as_str());
    if key_signs_for(&named, claim("iss"), claim("tid")) {
        Ok(())
    } else {
        Err("the signing key is another issuer's".into())
    }
}

/// The subject `tid:oid` of a signature-verified ID token, after [MS-2] (tenant allowed) and [MS-3] (`iss` is the
/// template with the token's `tid`; an RFC 9207 `iss` parameter, when sent, is that same issuer).
pub(super) fn subject_of(
    template: &str,
    tenants: &Tenants,
    iss_param: Option<&str>,
    doc: &serde_json::Value,
) -> Result<String, String> {
    let claim = |k: &str| doc.get(k).and_then(|v| v.as_str());
    let s = subject(template, tenants, claim("iss"), claim("tid"), claim("oid")).map_err(|e| e.to_string())?;
    if iss_param.is_some_and(|p| Some(p) != claim("iss")) {
        return Err("authorization response iss does not match the id_token's issuer".into());
    }
    Ok(s)
}
