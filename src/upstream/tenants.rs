//! [MS-1]–[MS-3] Microsoft multi-tenant (`{tenantid}`) issuers for `kind = "oidc"`: discovery of the shared
//! endpoint (whose document names the template as its issuer, which openidconnect's exact check refuses) and the
//! per-token tenant check of `bridgekeeper_core::tenants`.

use bridgekeeper_core::tenants::{TENANT_PLACEHOLDER, Tenants, subject};
use openidconnect::JsonWebKeySet;

use super::http::UpstreamHttp;
use super::oidc::Metadata;

/// Fetches `{issuer with the endpoint segment}/.well-known/openid-configuration`; its `issuer` must be the
/// configured template exactly; then the JWKS it names.
pub(super) async fn discover(template: &str, tenants: &Tenants, http: &UpstreamHttp) -> Result<Metadata, String> {
    let base = template.replace(TENANT_PLACEHOLDER, tenants.endpoint_segment());
    let url = format!("{}/.well-known/openid-configuration", base.trim_end_matches('/'));
    let doc = http.get_json(&url, None).await.map_err(|e| e.to_string())?;
    let meta: Metadata = serde_json::from_value(doc).map_err(|e| format!("discovery document: {e}"))?;
    if meta.issuer().as_str() != template {
        return Err("discovery names another issuer than the configured template".into());
    }
    let jwks = JsonWebKeySet::fetch_async(meta.jwks_uri(), http).await.map_err(|e| format!("jwks: {e}"))?;
    Ok(meta.set_jwks(jwks))
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
