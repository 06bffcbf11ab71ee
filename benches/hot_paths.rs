//! Micro-benchmarks of the hot pure functions, so regressions show without a load test: token signing,
//! client authentication (hash + constant-time compare), scope narrowing, and the introspection decision
//! (JWT verification). The load benchmark against a peer is `bash bench/run.sh`.

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

criterion_group!(benches, signing, client_authentication, scopes, introspection_decision);
criterion_main!(benches);
