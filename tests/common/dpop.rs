//! DPoP (RFC 9449) from the client's side: a key pair, proofs, `ath`.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bridgekeeper::store::keys::KeyState;
use bridgekeeper::tokens::keys::{Alg, SigningKey, generate};
use serde_json::{Value, json};

use super::TestApp;

/// A client's DPoP key pair: the signer and its public JWK.
pub struct DpopKey {
    pub key: SigningKey,
    pub jwk: Value,
}

pub fn dpop_key(alg: Alg) -> DpopKey {
    let row = generate(alg, 0, KeyState::Next).unwrap();
    let mut jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
    // The JWK as a client would send it: no kid, use or alg needed.
    for m in ["kid", "use", "alg"] {
        jwk.as_object_mut().unwrap().remove(m);
    }
    DpopKey { key: SigningKey::from_row(&row).unwrap(), jwk }
}

pub fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

impl DpopKey {
    /// A proof with any header and claims, signed with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = self.key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.key.alg.as_str(), "jwk": self.jwk})
    }

    /// A good proof for `htm` `url` now, with `extra` claims (`ath`, `nonce`).
    pub fn proof(&self, app: &TestApp, htm: &str, path: &str, extra: Value) -> String {
        let mut claims = json!({"jti": bridgekeeper::secret::random_token_bytes(12), "htm": htm,
            "htu": app.url(path), "iat": app.clock.now()});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.sign(&self.header(), &claims)
    }

    pub fn jkt(&self) -> String {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(self.jwk.clone()).unwrap();
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap()
    }
}

pub fn ath(token: &str) -> String {
    bridgekeeper_core::dpop::ath_of(token)
}

/// (status, `error`) of a JSON error answer.
pub async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_string())
}
