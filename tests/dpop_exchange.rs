//! DPoP and token exchange (RFC 9449 with RFC 8693), security.md [DP-7]: a DPoP-bound subject token is exchanged
//! for an upstream token only with a proof of its key, and delegated only with a proof, whose key binds the
//! delegated token; a sender-constrained token never yields a bearer token of ours.

mod common;

use bridgekeeper::tokens::keys::Alg;
use common::TestApp;
use common::dpop::*;
use common::exchange::*;
use common::oauth::*;
use serde_json::{Value, json};

/// Signs in as `app` through acme and redeems the code with a proof of `key` (a bound token) or none.
async fn signed_in_token(w: &World, key: Option<&DpopKey>) -> String {
    let browser = w.app.view();
    let scope = "openid email offline_access read write";
    let q = auth_query(&[("client_id", "app"), ("scope", scope)]);
    let loc = drive(&browser, authorize(&browser, &q).await).await;
    let code = param(&loc, "code").unwrap();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", RP)];
    let mut r = browser.http.post(browser.url("/token")).basic_auth("app", Some(enc(SECRET))).form(&form);
    if let Some(k) = key {
        r = r.header("DPoP", k.proof(&browser, "POST", "/token", json!({})));
    }
    let t: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(t["token_type"], if key.is_some() { "DPoP" } else { "Bearer" });
    t["access_token"].as_str().unwrap().to_string()
}

/// A token-exchange request as `client` with `form` and an optional proof.
async fn exchange_as(
    app: &TestApp,
    client: (&str, &str),
    form: &[(&str, &str)],
    key: Option<&DpopKey>,
) -> reqwest::Response {
    let mut r = app.http.post(app.url("/token")).basic_auth(client.0, Some(enc(client.1))).form(form);
    if let Some(k) = key {
        r = r.header("DPoP", k.proof(app, "POST", "/token", json!({})));
    }
    r.send().await.unwrap()
}

#[actix_web::test]
async fn dp_7_an_upstream_exchange_of_a_bound_subject_token_needs_a_proof_of_its_key() {
    let w = world().await;
    let k = dpop_key(Alg::Es256);
    let at = signed_in_token(&w, Some(&k)).await;
    let form = [("grant_type", GRANT), ("subject_token", &at), ("subject_token_type", AT_TYPE), ("resource", ACME)];
    let r = exchange_as(&w.app, ("app", SECRET), &form, None).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "no proof");
    let r = exchange_as(&w.app, ("app", SECRET), &form, Some(&dpop_key(Alg::Es256))).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "another key");
    let r = exchange_as(&w.app, ("app", SECRET), &form, Some(&k)).await;
    assert_eq!(r.status(), 200, "a proof of the subject token's key");
    // An unbound subject token is exchanged as before.
    let plain = signed_in_token(&w, None).await;
    let form = [("grant_type", GRANT), ("subject_token", &plain), ("subject_token_type", AT_TYPE), ("resource", ACME)];
    assert_eq!(exchange_as(&w.app, ("app", SECRET), &form, None).await.status(), 200);
}

#[actix_web::test]
async fn dp_7_a_delegation_of_a_bound_subject_token_needs_a_proof_and_is_bound_to_its_key() {
    let w = world().await;
    let at = signed_in_token(&w, Some(&dpop_key(Alg::Es256))).await;
    let form = [
        ("grant_type", GRANT),
        ("subject_token", at.as_str()),
        ("subject_token_type", AT_TYPE),
        ("audience", "https://api-b"),
        ("scope", "read"),
    ];
    let r = exchange_as(&w.app, ("api-a", "api-a-secret"), &form, None).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "never a bearer token for a bound subject");
    let api_key = dpop_key(Alg::Es256);
    let r = exchange_as(&w.app, ("api-a", "api-a-secret"), &form, Some(&api_key)).await;
    let t = ok_json(r).await;
    assert_eq!(t["token_type"], "DPoP");
    let (_, claims) = verify_jwt(&w.app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["cnf"]["jkt"], api_key.jkt(), "bound to the key of the API's proof");
    assert_eq!(claims["act"], json!({"sub": "api-a"}));
}
