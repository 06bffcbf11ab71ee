//! Micro-benchmarks of the hot pure functions, so regressions show without a load test: token signing,
//! client authentication (hash + constant-time compare), scope narrowing, and the introspection decision
//! (JWT verification), and a DPoP proof's verification (issue 15: what a bound token costs besides the replay
//! insert). The load benchmark against a peer is `bash bench/run.sh`.

use std::collections::BTreeMap;

use bridgekeeper::crypto::Sealer;
use bridgekeeper::tokens::KeyRing;
use bridgekeeper::tokens::claims::{ACCESS_TOKEN_TYP, AccessClaims, verify_access_token};
use bridgekeeper::tokens::jws;
use bridgekeeper::tokens::keys::{Alg, SigningKey, generate};
use criterion::{Criterion, criterion_group, criterion_main};

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://issuer.example".into(),
        sub: "user-1".into(),
        aud: "https://issuer.example".into(),
        client_id: "app".into(),
        scope: "openid email".into(),
        iat: 1_800_000_000,
        exp: 4_000_000_000,
        jti: "jti-1".into(),
        auth_time: Some(1_800_000_000),
        gid: Some("g1".into()),
        act: None,
        cnf: None,
    }
}

fn signing(c: &mut Criterion) {
    for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256] {
        let key =
            SigningKey::from_row(&generate(alg, 0, bridgekeeper::store::keys::KeyState::Current).unwrap()).unwrap();
        let claims = claims();
        c.bench_function(&format!("sign access token {}", alg.as_str()), |b| {
            b.iter(|| jws::sign(&key, ACCESS_TOKEN_TYP, &claims).unwrap())
        });
    }
}

fn client_authentication(c: &mut Criterion) {
    let secret = bridgekeeper::secret::random_token();
    let stored = bridgekeeper::secret::hash_token(&secret);
    c.bench_function("client secret check (sha-256 + constant-time)", |b| {
        b.iter(|| assert!(bridgekeeper::secret::verify_token_hash(&secret, &stored)))
    });
}

fn scopes(c: &mut Criterion) {
    let catalogue: BTreeMap<String, String> = ["openid", "profile", "email", "offline_access", "groups"]
        .iter()
        .map(|s| (s.to_string(), String::new()))
        .collect();
    let allowed: Vec<String> = ["openid", "email", "offline_access"].iter().map(|s| s.to_string()).collect();
    c.bench_function("scope narrowing", |b| {
        b.iter(|| {
            bridgekeeper::scopes::narrow(Some("email openid profile offline_access"), &allowed, &catalogue).unwrap()
        })
    });
}

fn introspection_decision(c: &mut Criterion) {
    for alg in [Alg::Es256, Alg::EdDsa] {
        let row = generate(alg, 0, bridgekeeper::store::keys::KeyState::Current).unwrap();
        let key = SigningKey::from_row(&row).unwrap();
        let ring = KeyRing::from_rows(&[row], &Sealer::from_spec("").unwrap()).unwrap();
        let token = jws::sign(&key, ACCESS_TOKEN_TYP, &claims()).unwrap();
        c.bench_function(&format!("verify access token {}", alg.as_str()), |b| {
            b.iter(|| verify_access_token(&ring, "https://issuer.example", &token, 1_800_000_100).unwrap())
        });
    }
}

/// [DP-1] A DPoP proof: header rules, the signature with the header's own key, its thumbprint (no `jti` write).
fn dpop_proof(c: &mut Criterion) {
    use base64::Engine;
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let algs: Vec<String> = bridgekeeper_core::dpop::DEFAULT_ALGS.iter().map(|s| s.to_string()).collect();
    for alg in [Alg::Es256, Alg::EdDsa] {
        let row = generate(alg, 0, bridgekeeper::store::keys::KeyState::Next).unwrap();
        let key = SigningKey::from_row(&row).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).unwrap();
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": alg.as_str(), "jwk": jwk});
        let claims = serde_json::json!({"jti": "j", "htm": "POST", "htu": "https://id.example/token", "iat": 1});
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap());
        let proof = format!("{input}.{sig}");
        c.bench_function(&format!("verify DPoP proof {}", alg.as_str()), |b| {
            b.iter(|| bridgekeeper::tokens::dpop_proof::verify(&proof, &algs).unwrap())
        });
    }
}

criterion_group!(benches, signing, client_authentication, scopes, introspection_decision, dpop_proof);
criterion_main!(benches);
