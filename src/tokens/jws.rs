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

/// OIDC `at_hash`/`c_hash`: left half of the hash of the ASCII value, base64url (OIDC Core §3.1.3.6).
/// All our algorithms (RS256, ES256, EdDSA with Ed25519) use SHA-256 here.
pub fn half_hash(value: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
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
    fn every_alg_signs_tokens_that_jsonwebtoken_verifies() {
        for alg in [super::super::keys::Alg::Rs256, super::super::keys::Alg::Es256, super::super::keys::Alg::EdDsa] {
            let row = super::super::keys::generate(alg, 0, "current").unwrap();
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
