//! [DP-1] The signature of a DPoP proof (RFC 9449 §4.3) with the key in its own header, and that key's RFC 7638
//! thumbprint, with jsonwebtoken (aws-lc). The header and claim rules are `bridgekeeper_core::dpop`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bridgekeeper_core::OAuthError;
use bridgekeeper_core::dpop::{self, MAX_PROOF_LEN, ProofClaims, invalid};
use jsonwebtoken::jwk::ThumbprintHash;

/// A proof whose header passed [`dpop::check_header`] and whose signature verifies with the header's `jwk`.
#[derive(Debug, Clone)]
pub struct Verified {
    /// base64url(SHA-256) JWK thumbprint of the proof's key.
    pub jkt: String,
    /// The proof's `alg`, as jsonwebtoken names it (`ES256`, `EdDSA`, ...).
    pub alg: String,
    pub claims: ProofClaims,
}

/// Checks the header (`typ`, `alg` among `algs`, a public `jwk`), verifies the signature with that key and
/// computes its thumbprint. The claims are returned unchecked (see `core::dpop::check_claims`).
pub fn verify(proof: &str, algs: &[String]) -> Result<Verified, OAuthError> {
    if proof.len() > MAX_PROOF_LEN || proof.split('.').count() != 3 {
        return Err(invalid("the DPoP proof is not a compact JWS of a sane size"));
    }
    let head = proof.split('.').next().unwrap_or_default();
    let raw: serde_json::Value = URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the DPoP proof's header is not JSON"))?;
    dpop::check_header(&raw, algs)?;
    let header = jsonwebtoken::decode_header(proof).map_err(|_| invalid("the DPoP proof's header is malformed"))?;
    let jwk = header.jwk.ok_or_else(|| invalid("the DPoP proof has no jwk"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the DPoP proof's jwk is unusable"))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_required_spec_claims::<&str>(&[]);
    let data = jsonwebtoken::decode::<ProofClaims>(proof, &key, &v)
        .map_err(|_| invalid("the DPoP proof's signature does not verify with its jwk"))?;
    let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| invalid("the DPoP proof's jwk is unusable"))?;
    Ok(Verified { jkt, alg: format!("{:?}", header.alg), claims: data.claims })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::KeyState;
    use crate::tokens::keys::{Alg, SigningKey, generate};
    use serde_json::{Value, json};

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn signed(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap()))
    }

    fn algs() -> Vec<String> {
        dpop::DEFAULT_ALGS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dp_1_the_signature_verifies_with_the_headers_own_key_and_the_thumbprint_is_rfc_7638() {
        for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256] {
            let row = generate(alg, 0, KeyState::Next).unwrap();
            let key = SigningKey::from_row(&row).unwrap();
            let jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
            let header = json!({"typ": "dpop+jwt", "alg": alg.as_str(), "jwk": jwk});
            let claims = json!({"jti": "j", "htm": "POST", "htu": "https://id.example/token", "iat": 1});
            let proof = signed(&key, &header, &claims);
            let v = verify(&proof, &algs()).unwrap();
            assert_eq!(v.claims.jti.as_deref(), Some("j"));
            let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
            assert_eq!(v.jkt, parsed.thumbprint(ThumbprintHash::SHA256).unwrap());
            assert_eq!(v.jkt.len(), 43);
            let other = SigningKey::from_row(&generate(alg, 0, KeyState::Next).unwrap()).unwrap();
            assert!(verify(&signed(&other, &header, &claims), &algs()).is_err(), "signed by another key");
            let mut tampered = proof.clone();
            tampered.insert(proof.find('.').unwrap() + 2, 'A');
            assert!(verify(&tampered, &algs()).is_err(), "tampered claims");
        }
    }
}
