//! [DP-1] The signature of a DPoP proof (RFC 9449 §4.3) with the key in its own header, and that key's RFC 7638
//! thumbprint, with jsonwebtoken (aws-lc). The header and claim rules are `bridgekeeper_core::dpop`.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bridgekeeper_core::OAuthError;
use bridgekeeper_core::dpop::{self, MAX_PROOF_LEN, ProofClaims, invalid};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde::Deserialize;

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
/// computes its thumbprint. The claims are returned unchecked (see `core::dpop::check_claims`). Each part is
/// decoded once: the header into JSON for the rules, its `jwk` from that JSON, the claims after the signature.
pub fn verify(proof: &str, algs: &[String]) -> Result<Verified, OAuthError> {
    let mut parts = proof.split('.');
    let (Some(head), Some(body), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the DPoP proof is not a compact JWS of a sane size"));
    };
    if proof.len() > MAX_PROOF_LEN {
        return Err(invalid("the DPoP proof is not a compact JWS of a sane size"));
    }
    let raw: serde_json::Value = decode_part(head).ok_or_else(|| invalid("the DPoP proof's header is not JSON"))?;
    dpop::check_header(&raw, algs)?;
    let malformed = || invalid("the DPoP proof's header is malformed");
    let alg_name = raw.get("alg").and_then(|a| a.as_str()).ok_or_else(malformed)?;
    let alg = jsonwebtoken::Algorithm::from_str(alg_name).map_err(|_| malformed())?;
    let unusable = || invalid("the DPoP proof's jwk is unusable");
    let jwk = raw.get("jwk").and_then(|j| Jwk::deserialize(j).ok()).ok_or_else(unusable)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|_| unusable())?;
    let signed = proof.get(..head.len() + 1 + body.len()).unwrap_or_default();
    let bad_signature = || invalid("the DPoP proof's signature does not verify with its jwk");
    if !jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, alg).map_err(|_| bad_signature())? {
        return Err(bad_signature());
    }
    // RFC 7519 §7.2 (10), RFC 9449 §4.3 (2): a JSON object (serde would also read the struct from an array).
    let claims = decode_part::<serde_json::Value>(body)
        .filter(|v| v.is_object())
        .and_then(|v| ProofClaims::deserialize(&v).ok())
        .ok_or_else(|| invalid("the DPoP proof's claims are not a JSON object"))?;
    let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| unusable())?;
    Ok(Verified { jkt, alg: format!("{alg:?}"), claims })
}

/// One base64url part of a compact JWS, as JSON.
fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    URL_SAFE_NO_PAD.decode(part).ok().and_then(|b| serde_json::from_slice(&b).ok())
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

    /// `input` (header.claims, base64url) with its signature by `key`.
    fn sign_input(key: &SigningKey, input: &str) -> String {
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap()))
    }

    fn signed(key: &SigningKey, header: &Value, claims: &Value) -> String {
        sign_input(key, &format!("{}.{}", b64(header), b64(claims)))
    }

    /// A fresh ES256 key and the proof header carrying its public JWK.
    fn es256() -> (SigningKey, Value) {
        let row = generate(Alg::Es256, 0, KeyState::Next).unwrap();
        let jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
        (SigningKey::from_row(&row).unwrap(), json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}))
    }

    fn claims() -> Value {
        json!({"jti": "j", "htm": "POST", "htu": "https://id.example/token", "iat": 1})
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

    #[test]
    fn dp_1_each_part_is_checked_even_though_it_is_decoded_once() {
        let (key, header) = es256();
        let head = b64(&header);
        let sign = |input: &str| sign_input(&key, input);
        let not_json = sign(&format!("{head}.{}", URL_SAFE_NO_PAD.encode(b"not json")));
        let err = verify(&not_json, &algs()).unwrap_err();
        assert!(err.description.contains("claims are not a JSON object"), "{err:?}");
        let claims = b64(&claims());
        let good = sign(&format!("{head}.{claims}"));
        assert!(verify(&good, &algs()).is_ok());
        assert!(verify(&format!("{good}.x"), &algs()).is_err(), "four parts");
        let as_rs256 = b64(&json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": header["jwk"]}));
        assert!(verify(&sign(&format!("{as_rs256}.{claims}")), &algs()).is_err(), "an EC key under RS256");
        assert!(verify(&good, &["EdDSA".to_string()]).is_err(), "an alg outside the allow-list");
    }

    #[test]
    fn dp_1_claims_that_are_not_a_json_object_are_refused() {
        let (key, header) = es256();
        // The fields of the claims in their order: serde reads a struct from such an array.
        let as_array = json!(["j", "POST", "https://id.example/token", 1, null, null]);
        let err = verify(&signed(&key, &header, &as_array), &algs()).unwrap_err();
        assert!(err.description.contains("not a JSON object"), "{err:?}");
        assert!(verify(&signed(&key, &header, &json!("j")), &algs()).is_err());
    }

    #[test]
    fn dp_1_a_duplicate_header_member_is_read_once_last_wins() {
        let rows = [generate(Alg::Es256, 0, KeyState::Next).unwrap(), generate(Alg::Es256, 0, KeyState::Next).unwrap()];
        let jwks: Vec<String> = rows.iter().map(|r| r.public_jwk.clone()).collect();
        let head = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{},"jwk":{}}}"#, jwks[0], jwks[1]);
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(head.as_bytes()), b64(&claims()));
        let with = |row| sign_input(&SigningKey::from_row(row).unwrap(), &input);
        assert!(verify(&with(&rows[0]), &algs()).is_err(), "signed by the first, overridden key");
        let v = verify(&with(&rows[1]), &algs()).unwrap();
        let second: jsonwebtoken::jwk::Jwk = serde_json::from_str(&jwks[1]).unwrap();
        assert_eq!(v.jkt, second.thumbprint(ThumbprintHash::SHA256).unwrap(), "bound to the key that signed");
    }
}
