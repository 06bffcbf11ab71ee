//! [UL-2] Verifying a Logout Token an upstream sent to `POST /backchannel/{provider}` (Back-Channel Logout 1.0 §2.6):
//! the signature with the same cached JWKS as the provider's ID tokens (fetched again when no key verifies:
//! one fetch at a time and at most every `REFETCH_MIN_AGE` per provider, [UL-9]), then the header and claim
//! rules of `core::upstream_logout`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bridgekeeper_core::upstream_logout::{Expected, LogoutSubject, Refusal, check_claims, check_header};
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use serde_json::Value;

use super::Registry;
use super::connector::{Fut, LogoutConnector};
use super::http::UpstreamHttp;
use super::oidc::{Discovered, Oidc};

/// Why a logout token was not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutError {
    /// No such provider, or it does not accept back-channel logout.
    NotHere,
    /// The provider's keys cannot be fetched now.
    Unavailable,
    Refused(Refusal),
}

/// How old a Logout Token's `iat` may be, and the clock skew allowed.
pub const MAX_AGE_SECS: i64 = 300;
pub const SKEW_SECS: i64 = 60;

struct Parts {
    header: Value,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn parts(token: &str) -> Result<Parts, Refusal> {
    let mut it = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(Refusal::Malformed);
    };
    let json = |p: &str| -> Result<Value, Refusal> {
        let bytes = URL_SAFE_NO_PAD.decode(p).map_err(|_| Refusal::Malformed)?;
        serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object).ok_or(Refusal::Malformed)
    };
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| Refusal::Malformed)?;
    if signature.is_empty() {
        return Err(Refusal::Alg);
    }
    Ok(Parts { header: json(h)?, claims: json(c)?, signing_input: format!("{h}.{c}"), signature })
}

/// Does some key of the provider (the one named by `kid`, or any when none is named) verify the signature?
fn signed_by(d: &Discovered, p: &Parts, alg: &CoreJwsSigningAlgorithm) -> bool {
    let kid = p.header.get("kid").and_then(Value::as_str);
    let keys: &[CoreJsonWebKey] = d.meta.jwks().keys();
    keys.iter()
        .filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid)
        .any(|k| k.verify_signature(alg, p.signing_input.as_bytes(), &p.signature).is_ok())
}

fn allowed_algs(d: &Discovered) -> Vec<String> {
    d.meta
        .id_token_signing_alg_values_supported()
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok().and_then(|v| v.as_str().map(String::from)))
        .collect()
}

impl Registry {
    /// [UL-5] [UL-7] The provider's `end_session_endpoint` when this broker sign-out goes on to it
    /// (`logout_upstream = "always"`, or `"ask"` and the person ticked the box).
    pub async fn end_session_endpoint(&self, provider: &str, ticked: bool) -> Option<String> {
        let p = self.get(provider).filter(|p| p.cfg.logout_upstream.wanted(ticked))?;
        p.logout()?.end_session_endpoint(&self.http).await
    }

    /// [UL-7] The name to show in "Also sign out of …" when sessions of `provider` leave it to the person.
    pub fn asks_to_sign_out(&self, provider: &str) -> Option<&str> {
        let p = self.get(provider).filter(|p| p.cfg.logout_upstream == super::config::LogoutUpstream::Ask)?;
        p.logout().map(|_| p.cfg.display_name.as_str())
    }

    /// Verifies `token` from `provider` at `now`; what it asks to end, or why not.
    pub async fn verify_logout_token(
        &self,
        provider: &str,
        token: &str,
        now: i64,
    ) -> Result<LogoutSubject, LogoutError> {
        let p = self.get(provider).filter(|p| p.cfg.backchannel_logout).ok_or(LogoutError::NotHere)?;
        let logout = p.logout().ok_or(LogoutError::NotHere)?;
        logout.verify_logout_token(&self.http, token, now).await
    }
}

impl LogoutConnector for Oidc {
    fn end_session_endpoint<'a>(&'a self, http: &'a UpstreamHttp) -> Fut<'a, Option<String>> {
        Box::pin(async move {
            let d = self.discovered(http, false).await.ok()?;
            d.meta.additional_metadata().end_session_endpoint.clone()
        })
    }

    fn verify_logout_token<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        token: &'a str,
        now: i64,
    ) -> Fut<'a, Result<LogoutSubject, LogoutError>> {
        Box::pin(async move {
            let parts = parts(token).map_err(LogoutError::Refused)?;
            let d = self.discovered(http, false).await.map_err(|_| LogoutError::Unavailable)?;
            let d = signature_checked(http, self, d, &parts, now).await?;
            let e = Expected {
                issuer: d.meta.issuer().as_str(),
                client_id: &self.cfg.client_id,
                now,
                max_age_secs: MAX_AGE_SECS,
                skew_secs: SKEW_SECS,
            };
            check_claims(&parts.claims, &e).map_err(LogoutError::Refused)
        })
    }
}

/// Header rules, then the signature (with one JWKS refetch when no key verifies, [UL-9]).
async fn signature_checked(
    http: &UpstreamHttp,
    oidc: &Oidc,
    d: std::sync::Arc<Discovered>,
    parts: &Parts,
    now: i64,
) -> Result<std::sync::Arc<Discovered>, LogoutError> {
    let algs = allowed_algs(&d);
    let algs: Vec<&str> = algs.iter().map(String::as_str).collect();
    check_header(&parts.header, &algs).map_err(LogoutError::Refused)?;
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(parts.header["alg"].clone()).map_err(|_| LogoutError::Refused(Refusal::Alg))?;
    if signed_by(&d, parts, &alg) {
        return Ok(d);
    }
    match oidc.refetch_keys(http, &d, now).await.map_err(|_| LogoutError::Unavailable)? {
        Some(fresh) if signed_by(&fresh, parts, &alg) => Ok(fresh),
        // [UL-9] Not fetched now (the limit): a token naming a key we hold failed on that key, so it is refused;
        // one naming no key we know may come from a rotation we have not seen yet, so "try later", not final.
        None if !names_a_known_key(&d, parts) => Err(LogoutError::Unavailable),
        _ => Err(LogoutError::Refused(Refusal::Signature)),
    }
}

/// Does the token's `kid` name one of the cached keys?
fn names_a_known_key(d: &Discovered, p: &Parts) -> bool {
    let Some(kid) = p.header.get("kid").and_then(Value::as_str) else { return false };
    d.meta.jwks().keys().iter().any(|k| k.key_id().map(|id| id.as_str()) == Some(kid))
}
