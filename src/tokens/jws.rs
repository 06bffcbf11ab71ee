//! Compact JWS: encoding with our pre-parsed keys, verification with jsonwebtoken against our JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::keys::{KeyError, SigningKey};

/// Signs `claims` as a compact JWS with header `{alg, typ, kid}`.
pub fn sign<C: Serialize>(key: &SigningKey, typ: &str, claims: &C) -> Result<String, KeyError> {
    let header = serde_json::json!({"alg": key.alg.as_str(), "typ": typ, "kid": key.kid});
    let header = serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?;
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
    let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 400);
    URL_SAFE_NO_PAD.encode_string(header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut out);
    Ok(out)
}

/// OIDC `at_hash`/`c_hash` with SHA-256 (RS256, ES256): left half of the hash of the ASCII value, base64url
/// (OIDC Core §3.1.3.6).
pub fn half_hash(value: &str) -> String {
    half_hash_for(super::keys::Alg::Rs256, value)
}

/// `at_hash`/`c_hash` for a token signed with `alg`: the hash is the one of the JWS algorithm, and for EdDSA
/// with Ed25519 that is SHA-512 (OIDC Core errata; what openidconnect-rs and other certified RPs check).
pub fn half_hash_for(alg: super::keys::Alg, value: &str) -> String {
    let hash = match alg {
        super::keys::Alg::Rs256 | super::keys::Alg::Es256 => &aws_lc_rs::digest::SHA256,
        super::keys::Alg::EdDsa => &aws_lc_rs::digest::SHA512,
    };
    let digest = aws_lc_rs::digest::digest(hash, value.as_bytes());
    let full = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&full[..full.len() / 2])
}

/// base64url(SHA-256(verifier)) == challenge, compared in constant time (RFC 7636 §4.6).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    crate::secret::ct_eq(URL_SAFE_NO_PAD.encode(digest.as_ref()).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches("wrong", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }

    #[test]
    fn at_hash_uses_the_hash_of_the_signing_alg() {
        // OIDC Core §3.1.3.6 example value for RS256; SHA-512's left half (32 bytes) for Ed25519.
        assert_eq!(half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
        let ed = half_hash_for(super::super::keys::Alg::EdDsa, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y");
        assert_eq!(URL_SAFE_NO_PAD.decode(ed).unwrap().len(), 32);
    }

    #[test]
    fn every_alg_signs_tokens_that_jsonwebtoken_verifies() {
        for alg in [super::super::keys::Alg::Rs256, super::super::keys::Alg::Es256, super::super::keys::Alg::EdDsa] {
            let row = super::super::keys::generate(alg, 0, crate::store::keys::KeyState::Current).unwrap();
            let key = SigningKey::from_row(&row).unwrap();
            let token = sign(&key, "JWT", &serde_json::json!({"sub": "u1", "exp": 4_000_000_000u64})).unwrap();
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&row.public_jwk).unwrap();
            let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let mut v = jsonwebtoken::Validation::new(alg.jwt_algorithm());
            v.validate_aud = false;
            let data = jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &v).unwrap();
            assert_eq!(data.claims["sub"], "u1");
            assert_eq!(data.header.kid.as_deref(), Some(row.kid.as_str()));
        }
    }
}
