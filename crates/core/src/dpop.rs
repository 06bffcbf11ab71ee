//! DPoP (RFC 9449): the rules a proof's header and claims must meet, the `ath` and replay keys, the binding of
//! codes, refresh tokens and access tokens to a key thumbprint, and the time steps of server nonces. Signature
//! checking and the thumbprint are the server's (jsonwebtoken); remembering `jti`s is storage.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, OAuthError};

/// [DP-1] RFC 9449 §4.2: the explicit type of a proof.
pub const TYP: &str = "dpop+jwt";
/// [DP-1] The algorithms accepted by default (`[dpop] algs`); only asymmetric ones may ever be configured.
pub const DEFAULT_ALGS: &[&str] = &["ES256", "EdDSA", "PS256", "RS256"];
/// [DP-1] The algorithms this server can verify at all (what `[dpop] algs` may name).
pub const SUPPORTED_ALGS: &[&str] = &["ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"];
/// [DP-1] Longest proof accepted (an RSA-4096 key in the header fits easily).
pub const MAX_PROOF_LEN: usize = 8 * 1024;
/// [DP-1] Longest `jti` (it is hashed for storage; this only bounds what is hashed).
pub const MAX_JTI_LEN: usize = 256;
/// [DP-3] Longest `nonce` looked at.
pub const MAX_NONCE_LEN: usize = 256;
/// [DP-1] Members of a private or symmetric JWK: a proof's `jwk` carries none of them.
pub const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// `invalid_dpop_proof` (RFC 9449 §5, §7.1).
pub fn invalid(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// [DP-1] Can this algorithm name be configured as a proof algorithm (asymmetric, verifiable here; never `none`
/// or a MAC)?
pub fn alg_configurable(alg: &str) -> bool {
    SUPPORTED_ALGS.contains(&alg)
}

/// [DP-1] The proof header: `typ` exactly `dpop+jwt`, `alg` one of `allowed`, a `jwk` that is a JSON object
/// holding no private or symmetric key member, and, when the key names an `alg`, that one.
pub fn check_header(header: &serde_json::Value, allowed: &[String]) -> Result<(), OAuthError> {
    if header.get("typ").and_then(|t| t.as_str()) != Some(TYP) {
        return Err(invalid("the proof's typ must be dpop+jwt"));
    }
    let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or_default();
    if !alg_configurable(alg) || !allowed.iter().any(|a| a == alg) {
        return Err(invalid("the proof's alg is not allowed"));
    }
    let jwk = header.get("jwk").and_then(|j| j.as_object()).ok_or_else(|| invalid("the proof has no jwk"))?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the proof's jwk must be a public key"));
    }
    if jwk.get("alg").and_then(|a| a.as_str()).is_some_and(|a| a != alg) {
        return Err(invalid("the proof's jwk names another alg"));
    }
    if header.get("crit").is_some() {
        return Err(invalid("the proof's header names critical extensions this server does not understand"));
    }
    check_key_shape(alg, jwk)
}

/// [DP-1] Longest RSA modulus accepted in a proof, in bytes (4096 bits: bounds the cost of a check).
pub const MAX_RSA_MODULUS_BYTES: usize = 512;

/// [DP-1] One key, one thumbprint: the JWK is of the alg's type and curve (`kty`, `crv` exactly), with
/// coordinates of the curve's length, and RSA integers minimal (no leading zero byte) with `n` ≤ 4096 bits.
fn check_key_shape(alg: &str, jwk: &serde_json::Map<String, serde_json::Value>) -> Result<(), OAuthError> {
    let text = |m: &str| jwk.get(m).and_then(|v| v.as_str());
    let bytes = |m: &str| text(m).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok()).unwrap_or_default();
    let (kty, crv, len) = match alg {
        "ES256" => ("EC", Some("P-256"), 32),
        "ES384" => ("EC", Some("P-384"), 48),
        "EdDSA" => ("OKP", Some("Ed25519"), 32),
        _ => ("RSA", None, 0),
    };
    if text("kty") != Some(kty) || text("crv") != crv {
        return Err(invalid("the proof's jwk is not a key of its alg's type and curve"));
    }
    let sane = match kty {
        "EC" => bytes("x").len() == len && bytes("y").len() == len,
        "OKP" => bytes("x").len() == len,
        _ => {
            let minimal = |b: &[u8]| b.first().is_some_and(|f| *f != 0);
            let (n, e) = (bytes("n"), bytes("e"));
            minimal(&n) && minimal(&e) && n.len() <= MAX_RSA_MODULUS_BYTES && e.len() <= 8
        }
    };
    if !sane {
        return Err(invalid("the proof's jwk has malformed or oversized key members"));
    }
    Ok(())
}

/// The claims of a proof (RFC 9449 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ProofClaims {
    pub jti: Option<String>,
    pub htm: Option<String>,
    pub htu: Option<String>,
    pub iat: Option<i64>,
    pub ath: Option<String>,
    pub nonce: Option<String>,
}

/// What a proof must match: the request it came with.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The HTTP method (`POST`, `GET`).
    pub method: &'a str,
    /// The endpoint's public URL (issuer + path), without query.
    pub url: &'a str,
    /// At a resource endpoint, the access token the proof must be bound to (`ath`).
    pub access_token: Option<&'a str>,
    pub now: i64,
    /// [DP-1] How far `iat` may be from now, either way.
    pub window_secs: i64,
}

/// [DP-1] The claims: `jti` present and bounded, `htm` the request's method, `htu` its URL (query and fragment
/// ignored), `iat` within the window, and `ath` the hash of the access token at a resource endpoint. Returns the
/// `jti`.
pub fn check_claims<'c>(c: &'c ProofClaims, e: &Expected<'_>) -> Result<&'c str, OAuthError> {
    let jti = c
        .jti
        .as_deref()
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or_else(|| invalid("the proof has no usable jti"))?;
    if c.htm.as_deref() != Some(e.method) {
        return Err(invalid("the proof's htm is not this request's method"));
    }
    if !c.htu.as_deref().is_some_and(|u| htu_matches(u, e.url)) {
        return Err(invalid("the proof's htu is not this endpoint"));
    }
    let iat = c.iat.ok_or_else(|| invalid("the proof has no iat"))?;
    if iat.abs_diff(e.now) > e.window_secs.unsigned_abs() {
        return Err(invalid("the proof's iat is outside the accepted window"));
    }
    if let Some(token) = e.access_token {
        let want = ath_of(token);
        if !c.ath.as_deref().is_some_and(|a| bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), want.as_bytes()))) {
            return Err(invalid("the proof's ath does not match the access token"));
        }
    }
    Ok(jti)
}

/// [DP-1] RFC 9449 §4.3 (9): `htu` matches the endpoint, ignoring query and fragment (compared as parsed URLs, so
/// the host's case and a default port do not matter).
pub fn htu_matches(htu: &str, expected: &str) -> bool {
    let strip = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    match (strip(htu), strip(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// [DP-1] `ath`: base64url(SHA-256(ASCII access token)) (RFC 9449 §4.2).
pub fn ath_of(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// [DP-2] The key under which a proof's `jti` is remembered: SHA-256 of (thumbprint, `jti`), hex.
pub fn replay_key(jkt: &str, jti: &str) -> String {
    let mut h = Sha256::new();
    h.update(jkt.as_bytes());
    h.update([0u8]);
    h.update(jti.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// [DP-1] [DP-2] The widest `[dpop] iat_window_secs` that may be configured (the setting is reloadable).
pub const MAX_IAT_WINDOW_SECS: i64 = 300;

/// [DP-2] Until when a proof's `jti` must be remembered: a proof is accepted while its `iat` is within the
/// window of an instance's clock, so at least until `iat` + the widest window any reload may set; `skew` more
/// covers an instance whose clock is behind the one that remembered it.
pub fn remember_until(iat: i64, now: i64, skew_secs: i64) -> i64 {
    iat.max(now).saturating_add(MAX_IAT_WINDOW_SECS).saturating_add(skew_secs)
}

/// [DP-4] Is `s` shaped like a SHA-256 JWK thumbprint (43 base64url characters)? For `dpop_jkt`.
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// [DP-7] A delegation of a DPoP-bound subject token needs a proof (of the exchanging API's own key: the API holds
/// the token, never the key of the client it was issued to), and the delegated token is bound to that key, so a
/// sender-constrained token never yields a bearer token.
pub fn check_delegation_binding(subject: Option<&str>, presented: Option<&str>) -> Result<(), OAuthError> {
    match (subject, presented) {
        (Some(_), None) => Err(invalid("the subject token is DPoP-bound: send a DPoP proof to bind the new token")),
        _ => Ok(()),
    }
}

/// [DP-4] A code redeemed, or a refresh token used, that is bound to a key (`dpop_jkt` at /authorize or /par, a
/// public client's bound refresh token) needs a proof with that very key.
pub fn check_binding(bound: Option<&str>, presented: Option<&str>, what: &str) -> Result<(), OAuthError> {
    match (bound, presented) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(invalid(&format!("the {what} is bound to a DPoP key: send a DPoP proof"))),
        (Some(b), Some(p)) if b == p => Ok(()),
        (Some(_), Some(_)) => Err(invalid(&format!("the DPoP proof's key is not the one the {what} is bound to"))),
    }
}

/// [DP-4] RFC 9449 §5: refresh tokens are bound to the proof's key only for public clients (a confidential
/// client's refresh tokens are already bound to its credentials).
pub fn refresh_binding(public_client: bool, presented: Option<&str>) -> Option<&str> {
    presented.filter(|_| public_client)
}

/// [DP-3] The time steps a server nonce may be from: the current one and the one before, for `step_secs`.
pub fn nonce_steps(now: i64, step_secs: i64) -> [i64; 2] {
    let step = now.div_euclid(step_secs.max(1));
    [step, step - 1]
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
