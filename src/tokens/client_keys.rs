//! [PJ-1] [PJ-5] The public keys a client registers for `private_key_jwt` (RFC 7523) and the signature check of its
//! client assertions, with jsonwebtoken (aws-lc). The claim rules are `bridgekeeper_core::client_assertion`.

use bridgekeeper_core::client_assertion::{AssertionClaims, alg_allowed, typ_allowed};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};

/// A client registers at most this many keys (enough for a rotation).
const MAX_KEYS: usize = 10;
/// … in at most this much JSON.
const MAX_JWKS_LEN: usize = 32 * 1024;
/// Members of private (or symmetric) keys: a registered JWK Set carries none of them.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Parses and checks a JWK Set a client registers: JSON `{"keys": [...]}`, 1 to 10 public RSA, EC or OKP keys
/// (never a symmetric key, never a private part), each usable by the verifier.
pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    if text.len() > MAX_JWKS_LEN {
        return Err("jwks is too large".into());
    }
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("jwks is not JSON ({e})"))?;
    let keys = raw.get("keys").and_then(|k| k.as_array()).ok_or("jwks must be an object with a keys array")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("jwks must hold 1 to {MAX_KEYS} keys"));
    }
    if keys.iter().any(|k| PRIVATE_MEMBERS.iter().any(|m| k.get(m).is_some())) {
        return Err("jwks must hold public keys only (no private or symmetric key material)".into());
    }
    let set: JwkSet = serde_json::from_value(raw).map_err(|e| format!("jwks holds a malformed key ({e})"))?;
    for k in &set.keys {
        if !matches!(
            k.algorithm,
            AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_) | AlgorithmParameters::OctetKeyPair(_)
        ) {
            return Err("jwks keys must be RSA, EC or OKP public keys".into());
        }
        jsonwebtoken::DecodingKey::from_jwk(k).map_err(|e| format!("jwks holds an unusable key ({e})"))?;
    }
    Ok(set)
}

/// [PJ-7] A `jwks_uri` an admin registers: an absolute https URL (http only on a loopback host), no user
/// information or fragment, at most 2000 characters.
pub fn check_jwks_uri(uri: &str) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|_| format!("jwks_uri {uri} is not an absolute URL"))?;
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    let ok = uri.len() <= 2000
        && (u.scheme() == "https" || (u.scheme() == "http" && loopback))
        && u.username().is_empty()
        && u.password().is_none()
        && u.fragment().is_none();
    if ok {
        Ok(())
    } else {
        Err(format!("jwks_uri {uri} must be https (http only on loopback), without user or fragment"))
    }
}

/// Verifies the signature of a client assertion with one of the client's keys: the header's `alg` and `typ` must
/// be allowed ([PJ-5]) and match the key's `alg` when the key names one; a `kid` in the header picks that key, else every
/// key is tried. Returns the claims, unchecked (see `core::client_assertion::check_claims`).
pub fn verify_assertion(jwks: &serde_json::Value, assertion: &str) -> Result<AssertionClaims, &'static str> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "the client assertion is not a JWT")?;
    let alg_name = format!("{:?}", header.alg);
    if !alg_allowed(&alg_name) {
        return Err("the client assertion's alg is not allowed");
    }
    if !typ_allowed(header.typ.as_deref()) {
        return Err("the client assertion's typ names another kind of JWT");
    }
    let set = parse_jwks(&jwks.to_string()).map_err(|_| "the client's registered keys are unusable")?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_required_spec_claims::<&str>(&[]);
    let candidates = set.keys.iter().filter(|k| match (&header.kid, &k.common.key_id) {
        (Some(want), Some(have)) => want == have,
        (Some(_), None) => false,
        (None, _) => true,
    });
    for k in candidates {
        let for_signing = !matches!(k.common.public_key_use, Some(jsonwebtoken::jwk::PublicKeyUse::Encryption));
        if !for_signing || k.common.key_algorithm.is_some_and(|ka| format!("{ka:?}") != alg_name) {
            continue;
        }
        let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(k) else { continue };
        if let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v) {
            return Ok(data.claims);
        }
    }
    Err("the client assertion's signature does not verify with the client's registered keys")
}

/// [PJ-7] Does this assertion (well-formed, with an allowed `alg`) name a `kid` that none of these keys has? Only
/// then may fetched keys be fetched again.
pub fn names_unknown_kid(jwks: &serde_json::Value, assertion: &str) -> bool {
    let Ok(header) = jsonwebtoken::decode_header(assertion) else { return false };
    let Some(kid) = header.kid else { return false };
    if !alg_allowed(&format!("{:?}", header.alg)) {
        return false;
    }
    let keys = jwks.get("keys").and_then(|k| k.as_array()).map(Vec::as_slice).unwrap_or_default();
    !keys.iter().any(|k| k.get("kid").and_then(|v| v.as_str()) == Some(kid.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::KeyState;
    use crate::tokens::keys::{Alg, SigningKey, generate};

    fn key() -> (SigningKey, serde_json::Value) {
        let row = generate(Alg::Es256, 0, KeyState::Next).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).unwrap();
        (SigningKey::from_row(&row).unwrap(), serde_json::json!({ "keys": [jwk] }))
    }

    #[test]
    fn pj_1_registered_sets_hold_public_asymmetric_keys_only() {
        let (_, set) = key();
        assert!(parse_jwks(&set.to_string()).is_ok());
        let mut private = set.clone();
        private["keys"][0]["d"] = "AAAA".into();
        assert!(parse_jwks(&private.to_string()).is_err());
        assert!(parse_jwks(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
        assert!(parse_jwks(r#"{"keys":[]}"#).is_err());
        assert!(parse_jwks("[1]").is_err());
        let many = serde_json::json!({ "keys": vec![set["keys"][0].clone(); 11] });
        assert!(parse_jwks(&many.to_string()).is_err());
    }

    #[test]
    fn pj_2_the_signature_must_verify_with_a_registered_signing_key() {
        let (k, set) = key();
        let claims = serde_json::json!({"iss": "a", "sub": "a", "aud": "x", "exp": 1, "jti": "j"});
        let jwt = crate::tokens::jws::sign(&k, "JWT", &claims).unwrap();
        assert_eq!(verify_assertion(&set, &jwt).unwrap().jti.as_deref(), Some("j"));
        let (_, other) = key();
        assert!(verify_assertion(&other, &jwt).is_err(), "another key");
        let mut enc = set.clone();
        enc["keys"][0]["use"] = "enc".into();
        assert!(verify_assertion(&enc, &jwt).is_err(), "an encryption key never verifies a signature");
        let mut es384 = set.clone();
        es384["keys"][0]["alg"] = "ES384".into();
        assert!(verify_assertion(&es384, &jwt).is_err(), "the key's alg must match");
    }

    #[test]
    fn pj_7_jwks_uris_are_https_or_loopback_http() {
        assert!(check_jwks_uri("https://keys.example/jwks").is_ok());
        assert!(check_jwks_uri("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_jwks_uri("http://keys.example/jwks").is_err());
        assert!(check_jwks_uri("https://u:p@keys.example/jwks").is_err());
        assert!(check_jwks_uri("https://keys.example/jwks#f").is_err());
        assert!(check_jwks_uri("file:///etc/passwd").is_err());
    }
}
