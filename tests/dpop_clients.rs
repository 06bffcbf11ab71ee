//! DPoP (RFC 9449) client metadata and pushed requests, security.md [DP-4]: `dpop_bound_access_tokens` through the
//! admin API and dynamic registration, `dpop_jkt` in a pushed authorization request.

mod common;

use bridgekeeper::tokens::keys::Alg;
use common::TestApp;
use common::clients::ClientBuilder;
use common::dpop::*;
use common::oauth::*;
use serde_json::{Value, json};

async fn token_with(app: &TestApp, client: &str, proof: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut r = app.http.post(app.url("/token")).basic_auth(client, Some(enc(SECRET))).form(form);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

async fn spawn_with(tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> TestApp {
    let scopes = ["openid", "profile", "email", "offline_access"];
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET).redirect(RP).scopes(&scopes).skip_consent().build(),
            ClientBuilder::confidential("bound", SECRET).redirect(RP).scopes(&scopes).dpop_bound().build(),
        ];
        tweak(s);
    })
    .await
}

#[tokio::test]
async fn dp_4_a_pushed_dpop_jkt_binds_the_code() {
    let app = spawn_with(|_| {}).await;
    let k = dpop_key(Alg::Es256);
    let jkt = k.jkt();
    for (proof_key, ok) in [(dpop_key(Alg::Es256), false), (k, true)] {
        let form = auth_query(&[("dpop_jkt", &jkt)]);
        let r = app.http.post(app.url("/par")).basic_auth("app", Some(enc(SECRET))).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_string();
        let r = app.http.get(app.url("/authorize")).query(&[("client_id", "app"), ("request_uri", &uri)]).send();
        let loc = complete(&app, r.await.unwrap(), "ada@example.com").await;
        let code = param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", RP)];
        let r = token_with(&app, "app", Some(&proof_key.proof(&app, "POST", "/token", json!({}))), &form).await;
        if ok {
            assert_eq!(r.status(), 200);
        } else {
            assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "another key than the pushed dpop_jkt");
        }
    }
}

#[tokio::test]
async fn dp_4_dpop_bound_access_tokens_is_set_by_the_admin_api_and_registration() {
    const IAT: &str = "initial-access-token-for-dpop-tests";
    let app = spawn_with(|s| {
        s.clients.push(
            ClientBuilder::confidential("ops", SECRET).scopes(&["admin"]).grants(&["client_credentials"]).build(),
        );
        s.registration.enabled = true;
        s.registration.initial_access_token = bridgekeeper::secret::Secret::new(IAT);
    })
    .await;
    let admin: Value = token_with(&app, "ops", None, &[("grant_type", "client_credentials"), ("scope", "admin")])
        .await
        .json()
        .await
        .unwrap();
    let admin = admin["access_token"].as_str().unwrap().to_string();
    let body = json!({"name": "Bound API client", "redirect_uris": [RP], "grant_types": ["client_credentials"],
        "dpop_bound_access_tokens": true});
    let r = app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["client"]["dpop_bound_access_tokens"], true);
    let (id, secret) =
        (created["client"]["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap().to_string());
    let cc_as = |proof: Option<String>| {
        let mut r = app
            .http
            .post(app.url("/token"))
            .basic_auth(enc(id), Some(enc(&secret)))
            .form(&[("grant_type", "client_credentials"), ("scope", "profile")]);
        if let Some(p) = proof {
            r = r.header("DPoP", p);
        }
        r.send()
    };
    assert_eq!(error_of(cc_as(None).await.unwrap()).await, (400, "invalid_dpop_proof".into()));
    let k = dpop_key(Alg::Es256);
    assert_eq!(cc_as(Some(k.proof(&app, "POST", "/token", json!({})))).await.unwrap().status(), 200);
    let patch = json!({"dpop_bound_access_tokens": false});
    let url = app.url(&format!("/admin/api/clients/{id}"));
    let r = app.http.patch(url).bearer_auth(&admin).json(&patch).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["dpop_bound_access_tokens"], false);
    assert_eq!(cc_as(None).await.unwrap().status(), 200, "no longer bound");
    // A config client's flag follows the file.
    let url = app.url("/admin/api/clients/bound");
    let r = app.http.patch(url).bearer_auth(&admin).json(&patch).send().await.unwrap();
    assert_eq!(r.status(), 409);
    // RFC 7591 registration.
    let reg = json!({"redirect_uris": [RP], "client_name": "Registered", "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": true});
    let r = app.http.post(app.url("/register")).bearer_auth(IAT).json(&reg).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let cid = r.json::<Value>().await.unwrap()["client_id"].as_str().unwrap().to_string();
    let stored = app.state.db.run(move |c| bridgekeeper::store::clients::find(c, &cid)).await.unwrap().unwrap();
    assert!(stored.dpop_bound(), "registered as DPoP-bound");
}

/// An app with the admin client `ops`, and a DPoP-bound admin token of it with its key.
async fn bound_admin() -> (TestApp, String, DpopKey) {
    let app = spawn_with(|s| {
        s.clients.push(
            ClientBuilder::confidential("ops", SECRET).scopes(&["admin"]).grants(&["client_credentials"]).build(),
        );
    })
    .await;
    let k = dpop_key(Alg::Es256);
    let proof = k.proof(&app, "POST", "/token", json!({}));
    let form = [("grant_type", "client_credentials"), ("scope", "admin")];
    let body: Value = token_with(&app, "ops", Some(&proof), &form).await.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let at = body["access_token"].as_str().unwrap().to_string();
    (app, at, k)
}

async fn admin_get(app: &TestApp, scheme: &str, at: &str, proof: Option<&str>) -> reqwest::Response {
    let mut r = app.http.get(app.url("/admin/api/clients")).header("Authorization", format!("{scheme} {at}"));
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn dp_5_the_admin_api_refuses_a_dpop_bound_token_presented_as_bearer() {
    let (app, at, k) = bound_admin().await;
    assert_eq!(admin_get(&app, "Bearer", &at, None).await.status(), 401, "a stolen bound token alone");
    let proof = k.proof(&app, "GET", "/admin/api/clients", json!({"ath": ath(&at)}));
    assert_eq!(admin_get(&app, "Bearer", &at, Some(&proof)).await.status(), 401, "Bearer even with a proof");
    assert_eq!(admin_get(&app, "DPoP", &at, None).await.status(), 401, "DPoP scheme without a proof");
    let other = dpop_key(Alg::Es256);
    let proof = other.proof(&app, "GET", "/admin/api/clients", json!({"ath": ath(&at)}));
    assert_eq!(admin_get(&app, "DPoP", &at, Some(&proof)).await.status(), 401, "another key");
    let proof = k.proof(&app, "GET", "/admin/api/users", json!({"ath": ath(&at)}));
    assert_eq!(admin_get(&app, "DPoP", &at, Some(&proof)).await.status(), 401, "another htu");
    let proof = k.proof(&app, "GET", "/admin/api/clients", json!({}));
    assert_eq!(admin_get(&app, "DPoP", &at, Some(&proof)).await.status(), 401, "no ath");
}

#[tokio::test]
async fn dp_5_the_admin_api_takes_a_bound_token_with_the_dpop_scheme_and_a_proof() {
    let (app, at, k) = bound_admin().await;
    let proof = k.proof(&app, "GET", "/admin/api/clients", json!({"ath": ath(&at)}));
    assert_eq!(admin_get(&app, "DPoP", &at, Some(&proof)).await.status(), 200);
    assert_eq!(admin_get(&app, "DPoP", &at, Some(&proof)).await.status(), 401, "a replayed proof");
    let plain: Value = token_with(&app, "ops", None, &[("grant_type", "client_credentials"), ("scope", "admin")])
        .await
        .json()
        .await
        .unwrap();
    let plain = plain["access_token"].as_str().unwrap();
    assert_eq!(admin_get(&app, "Bearer", plain, None).await.status(), 200, "an unbound token stays Bearer");
    let proof = k.proof(&app, "GET", "/admin/api/clients", json!({"ath": ath(plain)}));
    assert_eq!(admin_get(&app, "DPoP", plain, Some(&proof)).await.status(), 401, "an unbound token as DPoP");
}

/// Pushes a request as `app` with `extra` parameters and an optional proof.
async fn push(app: &TestApp, extra: &[(&str, &str)], proof: Option<&str>) -> reqwest::Response {
    let mut form = auth_query(&[]);
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut r = app.http.post(app.url("/par")).basic_auth("app", Some(enc(SECRET))).form(&form);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn dp_6_a_par_proof_whose_key_differs_from_dpop_jkt_is_refused() {
    let app = spawn_with(|_| {}).await;
    let (k, other) = (dpop_key(Alg::Es256), dpop_key(Alg::Es256));
    let r = push(&app, &[("dpop_jkt", &k.jkt())], Some(&other.proof(&app, "POST", "/par", json!({})))).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()));
    let r = push(&app, &[], Some(&k.proof(&app, "POST", "/token", json!({})))).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "a proof for another endpoint");
    let r = push(&app, &[("dpop_jkt", &k.jkt())], Some(&k.proof(&app, "POST", "/par", json!({})))).await;
    assert_eq!(r.status(), 201, "the same key");
}

#[tokio::test]
async fn dp_6_a_par_proof_alone_binds_the_code() {
    let app = spawn_with(|_| {}).await;
    let k = dpop_key(Alg::Es256);
    for (redeem_key, ok) in [(dpop_key(Alg::Es256), false), (dpop_key(Alg::Es256), true)] {
        let push_key = if ok { &redeem_key } else { &k };
        let r = push(&app, &[], Some(&push_key.proof(&app, "POST", "/par", json!({})))).await;
        assert_eq!(r.status(), 201);
        let uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_string();
        let r = app.http.get(app.url("/authorize")).query(&[("client_id", "app"), ("request_uri", &uri)]).send();
        let loc = complete(&app, r.await.unwrap(), "ada@example.com").await;
        let code = param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", RP)];
        let r = token_with(&app, "app", Some(&redeem_key.proof(&app, "POST", "/token", json!({}))), &form).await;
        if ok {
            assert_eq!(r.status(), 200);
        } else {
            assert_eq!(error_of(r).await.1, "invalid_dpop_proof", "another key than the push's proof");
        }
    }
}

#[tokio::test]
async fn dp_3_a_push_with_a_proof_is_handed_a_nonce_when_nonces_are_required() {
    let app = spawn_with(|s| s.dpop.require_nonce = true).await;
    let k = dpop_key(Alg::Es256);
    let r = push(&app, &[], Some(&k.proof(&app, "POST", "/par", json!({})))).await;
    let nonce = r.headers().get("dpop-nonce").expect("a nonce to retry with").to_str().unwrap().to_string();
    assert_eq!(error_of(r).await, (400, "use_dpop_nonce".into()));
    let r = push(&app, &[], Some(&k.proof(&app, "POST", "/par", json!({"nonce": nonce})))).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("dpop-nonce").is_some(), "a fresh nonce on success too");
}

#[tokio::test]
async fn dp_5_the_admin_apis_htu_is_the_issuer_and_the_route() {
    let (app, at, k) = bound_admin().await;
    let get = |path: &str, proof: String| {
        app.http.get(app.url(path)).header("Authorization", format!("DPoP {at}")).header("DPoP", proof).send()
    };
    // The same route spelled with an encoded letter: the proof names the route under the issuer.
    let proof = k.proof(&app, "GET", "/admin/api/clients", json!({"ath": ath(&at)}));
    assert_eq!(get("/admin/api/%63lients", proof).await.unwrap().status(), 200);
    let proof = k.proof(&app, "GET", "/admin/api/clients/ops", json!({"ath": ath(&at)}));
    assert_eq!(get("/admin/api/clients/ops", proof).await.unwrap().status(), 200, "with a path parameter");
    let proof = k.proof(&app, "GET", "/admin/api/clients/app", json!({"ath": ath(&at)}));
    assert_eq!(get("/admin/api/clients/ops", proof).await.unwrap().status(), 401, "another resource");
}
