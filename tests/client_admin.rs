//! What an admin sets on a client holds: an RFC 7592 PUT of a self-registered client cannot undo it [RG-3a], a
//! client that no longer meets the rules can still be disabled [AD-1], and a change is audited with what it
//! changed [AD-2].

mod common;

use bridgekeeper::store::keys::KeyState;
use bridgekeeper::tokens::keys::{Alg, generate};
use common::TestApp;
use common::oauth::*;
use serde_json::{Value, json};

fn jwks() -> Value {
    let row = generate(Alg::Es256, 0, KeyState::Next).unwrap();
    json!({ "keys": [serde_json::from_str::<Value>(&row.public_jwk).unwrap()] })
}

async fn open_registration() -> TestApp {
    TestApp::spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.open = true;
    })
    .await
}

/// A private_key_jwt client registered by itself: (client_id, registration access token, its keys).
async fn register(app: &TestApp) -> (String, String, Value) {
    let keys = jwks();
    let body = json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks": keys});
    let r = app.http.post(app.url("/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let id = reg["client_id"].as_str().unwrap().to_string();
    (id, reg["registration_access_token"].as_str().unwrap().to_string(), keys)
}

async fn put(app: &TestApp, id: &str, rat: &str, body: Value) -> reqwest::Response {
    app.http.put(app.url(&format!("/register/{id}"))).bearer_auth(rat).json(&body).send().await.unwrap()
}

async fn read(app: &TestApp, id: &str, rat: &str) -> Value {
    let r = app.http.get(app.url(&format!("/register/{id}"))).bearer_auth(rat).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn patch(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
    app.http.patch(app.url(&format!("/admin/api/clients/{id}"))).bearer_auth(admin).json(&body).send().await.unwrap()
}

#[actix_web::test]
async fn rg_3a_a_put_cannot_undo_the_keys_or_the_par_requirement_an_admin_set() {
    let app = open_registration().await;
    let (id, rat, old_keys) = register(&app).await;
    let admin = admin_api_token(&app).await;
    let new_keys = jwks();
    let r = patch(&app, &admin, &id, json!({"jwks": new_keys, "require_pushed_authorization_requests": true})).await;
    assert_eq!(r.status(), 200);
    let base = json!({"client_id": id, "redirect_uris": ["https://rp.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt"});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    for bad in [
        with(json!({"jwks": old_keys})),
        with(json!({"jwks": new_keys, "require_pushed_authorization_requests": false})),
    ] {
        let r = put(&app, &id, &rat, bad.clone()).await;
        assert_eq!(json_error(r).await, (400, "invalid_client_metadata".into()), "{bad}");
    }
    let shown = read(&app, &id, &rat).await;
    assert_eq!(shown["jwks"], new_keys, "nothing changed: {shown}");
    assert_eq!(shown["require_pushed_authorization_requests"], true);
    assert!(shown.get("admin_set").is_none(), "the bookkeeping is not echoed: {shown}");

    // The same keys and the PAR requirement left out: accepted, the requirement kept.
    let r = put(&app, &id, &rat, with(json!({"jwks": new_keys, "client_name": "Renamed"}))).await;
    assert_eq!(r.status(), 200);
    let shown = read(&app, &id, &rat).await;
    assert_eq!(
        (shown["client_name"].clone(), shown["require_pushed_authorization_requests"].clone()),
        (json!("Renamed"), json!(true)),
        "{shown}"
    );
    assert_eq!(shown["jwks"], new_keys);
}

#[actix_web::test]
async fn rg_3a_without_an_admin_change_a_put_replaces_keys_and_par() {
    let app = open_registration().await;
    let (id, rat, _) = register(&app).await;
    let keys = jwks();
    let body = json!({"client_id": id, "redirect_uris": ["https://rp.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": keys});
    assert_eq!(put(&app, &id, &rat, body).await.status(), 200);
    assert_eq!(read(&app, &id, &rat).await["jwks"], keys, "a client rotates its own keys");
}

#[actix_web::test]
async fn ad_1_a_client_that_no_longer_meets_the_rules_can_still_be_disabled() {
    let app = open_registration().await;
    let (id, _, _) = register(&app).await;
    let admin = admin_api_token(&app).await;
    // The client was registered under rules it no longer meets (here: a scope since taken out of the catalogue).
    let mut c = bridgekeeper::accounts::clients::get(&app.state.db, &id).await.unwrap();
    c.allowed_scopes.push("retired-scope".into());
    bridgekeeper::accounts::clients::save(&app.state.db, c).await.unwrap();

    let r = patch(&app, &admin, &id, json!({"disabled": true, "name": "Still broken"})).await;
    assert_eq!(r.status(), 400, "any other change still meets every rule");
    let r = patch(&app, &admin, &id, json!({"disabled": true})).await;
    assert_eq!(r.status(), 200);
    assert!(bridgekeeper::accounts::clients::get(&app.state.db, &id).await.unwrap().disabled);
}

#[actix_web::test]
async fn ad_2_a_client_change_is_audited_with_the_members_and_key_ids_it_set() {
    let app = open_registration().await;
    let (id, _, _) = register(&app).await;
    let admin = admin_api_token(&app).await;
    let keys = jwks();
    let r = patch(&app, &admin, &id, json!({"jwks": keys, "name": "Rotated"})).await;
    assert_eq!(r.status(), 200);
    let r = app.http.get(app.url("/admin/api/audit?event=client_updated")).bearer_auth(&admin).send().await.unwrap();
    let audit: Value = r.json().await.unwrap();
    let detail = &audit["items"][0]["detail"];
    assert_eq!(detail["actor"], "admin-api:ops");
    assert_eq!(detail["changed"], json!(["name", "jwks"]), "{detail}");
    assert_eq!(detail["kids"], json!([keys["keys"][0]["kid"]]), "{detail}");
    assert!(!detail.to_string().contains("\"x\""), "no key material: {detail}");
}
