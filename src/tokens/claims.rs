//! Claims of the tokens we issue, and verification of our own JWT access tokens.

use serde::{Deserialize, Serialize};

use super::KeyRing;

/// RFC 9068 JWT access token claims. `gid` ties the token to its grant so that revoking the grant (code
/// reuse, refresh-token reuse, consent withdrawal, logout) makes it inactive at userinfo and introspection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// [TX-8] RFC 8693 §4.1: the actor of a delegated token (nested for earlier actors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// [DP-4] RFC 9449 §6.1: the DPoP key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 `cnf` with the RFC 9449 §6.1 `jkt` member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl Confirmation {
    pub fn jkt(jkt: &str) -> Self {
        Confirmation { jkt: Some(jkt.to_string()) }
    }
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// [DP-5] The DPoP key the token is bound to, if it is.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().and_then(|c| c.jkt.as_deref())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Verifies signature (against our published keys), `typ: at+jwt`, `iss`, `exp`. Does not look at revocation.
pub fn verify_access_token(ring: &KeyRing, issuer: &str, token: &str, now: i64) -> Option<AccessClaims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)) {
        return None;
    }
    let (key, alg) = ring.verifier(header.kid.as_deref()?)?;
    if header.alg != *alg {
        return None;
    }
    let mut v = jsonwebtoken::Validation::new(*alg);
    v.validate_aud = false;
    v.validate_exp = false;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data = jsonwebtoken::decode::<AccessClaims>(token, key, &v).ok()?;
    (data.claims.exp > now).then_some(data.claims)
}

/// Verifies an ID token we issued (for `id_token_hint`): our signature and issuer; expiry is NOT checked
/// (an expired hint of ours is still a good hint). Returns (sub, aud list).
pub fn verify_own_id_token(ring: &KeyRing, issuer: &str, token: &str) -> Option<(String, Vec<String>)> {
    own_id_token_hint(ring, issuer, token).map(|h| (h.sub, h.aud))
}

/// What an `id_token_hint` of ours says: who, for which apps, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: Vec<String>,
    /// `exp` of the hint (0 when absent): an expired hint still names its user, but proves less.
    pub exp: i64,
}

/// As `verify_own_id_token`, with the hint's expiry.
pub fn own_id_token_hint(ring: &KeyRing, issuer: &str, token: &str) -> Option<IdTokenHint> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)) {
        return None;
    }
    let (key, alg) = ring.verifier(header.kid.as_deref()?)?;
    if header.alg != *alg {
        return None;
    }
    let mut v = jsonwebtoken::Validation::new(*alg);
    v.validate_aud = false;
    v.validate_exp = false;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["iss", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &v).ok()?;
    let sub = data.claims.get("sub")?.as_str()?.to_string();
    let aud = match data.claims.get("aud")? {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => return None,
    };
    let exp = data.claims.get("exp").and_then(|e| e.as_i64()).unwrap_or(0);
    Some(IdTokenHint { sub, aud, exp })
}
