//! ID tokens as a certified RP sees them (security.md [ID-1], issue 12 item 8): an openidconnect-crate verifier
//! built from our JWKS accepts the signature and the `at_hash` for every signing algorithm, EdDSA included
//! (its `at_hash` is the left half of SHA-512, OIDC Core errata).

mod common;
use common::clients::ClientBuilder;

use common::oauth::*;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, IssuerUrl, Nonce};

async fn rp_verifies_at_hash(alg: &str, jws_alg: CoreJwsSigningAlgorithm) {
    let app = common::TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.tokens.signing_alg = alg.into();
        s.clients = spawn_clients();
    })
    .await;
    let t = exchange(&app, &code(&app, &[("scope", "openid email")]).await).await;
    let jwks: CoreJsonWebKeySet =
        serde_json::from_str(&app.http.get(app.url("/jwks.json")).send().await.unwrap().text().await.unwrap()).unwrap();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new("app".into()),
        IssuerUrl::new(app.state.settings().issuer.clone()).unwrap(),
        jwks,
    )
    .set_allowed_algs(vec![jws_alg.clone()]);
    let id: CoreIdToken = t["id_token"].as_str().unwrap().parse().unwrap();
    let claims = id.claims(&verifier, &Nonce::new("n-1".into())).unwrap_or_else(|e| panic!("{alg}: {e}"));
    let expected = claims.access_token_hash().expect("at_hash present").clone();
    let at = AccessToken::new(t["access_token"].as_str().unwrap().into());
    let signing_alg = id.signing_alg().unwrap();
    assert_eq!(*signing_alg, jws_alg);
    let actual = AccessTokenHash::from_token(&at, signing_alg, id.signing_key(&verifier).unwrap()).unwrap();
    assert_eq!(actual, expected, "{alg}: at_hash as the RP computes it");
}

fn spawn_clients() -> Vec<bridgekeeper::settings::StaticClient> {
    vec![
        ClientBuilder::confidential("app", SECRET)
            .redirect(RP)
            .scopes(&["openid", "email"])
            .grants(&["authorization_code"])
            .skip_consent()
            .build(),
    ]
}

#[actix_web::test]
async fn id_1_eddsa_at_hash_is_the_left_half_of_sha512_as_certified_rps_check() {
    rp_verifies_at_hash("EdDSA", CoreJwsSigningAlgorithm::EdDsa).await;
}

#[actix_web::test]
async fn id_1_rs256_and_es256_at_hash_stay_sha256() {
    rp_verifies_at_hash("RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
    rp_verifies_at_hash("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
}
