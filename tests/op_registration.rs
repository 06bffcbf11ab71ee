//! Dynamic client registration (RFC 7591) and its management (RFC 7592), security.md §18 [RG-1]..[RG-3].

mod common;

use common::TestApp;
use common::oauth::*;
use serde_json::{Value, json};

const IAT: &str = "initial-access-token-for-tests";

async fn spawn_reg() -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.registration.enabled = true;
        s.registration.initial_access_token = bridgekeeper::secret::Secret::new(IAT);
        s.developers.approval_scopes = vec!["groups".into()];
        s.developers.scopes.retain(|x| x != "groups");
    })
    .await
}

async fn register(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut r = app.http.post(app.url("/register")).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

fn web_app() -> Value {
    json!({
        "redirect_uris": ["https://rp.example/cb"],
        "client_name": "Registered RP",
        "scope": "openid email groups",
        "grant_types": ["authorization_code", "refresh_token"],
        "contacts": ["ops@rp.example"],
        "tos_uri": "https://rp.example/tos",
        "unknown_member": "ignored",
    })
}

#[actix_web::test]
async fn rg_0_registration_is_off_by_default_and_not_advertised() {
    let app = spawn().await;
    let d: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(d.get("registration_endpoint").is_none());
    assert_eq!(register(&app, Some(IAT), &web_app()).await.status(), 404);
    app.stop().await;
    let app = spawn_reg().await;
    let d: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["registration_endpoint"], app.url("/register"));
}

#[actix_web::test]
async fn rg_1_register_returns_201_with_credentials_and_all_metadata() {
    let app = spawn_reg().await;
    let r = register(&app, None, &web_app()).await;
    assert_eq!(r.status(), 401, "the initial access token is required");
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer"));
    assert_eq!(register(&app, Some("wrong-token-wrong-token"), &web_app()).await.status(), 401);

    let r = register(&app, Some(IAT), &web_app()).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let c: Value = r.json().await.unwrap();
    for k in ["client_id", "client_secret", "registration_access_token"] {
        assert!(c[k].as_str().is_some_and(|v| !v.is_empty()), "{k}");
    }
    assert_eq!(c["client_secret_expires_at"], 0);
    assert!(c["client_id_issued_at"].is_i64());
    assert_eq!(c["registration_client_uri"], app.url(&format!("/register/{}", c["client_id"].as_str().unwrap())));
    assert_eq!(c["redirect_uris"], json!(["https://rp.example/cb"]));
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(c["response_types"], json!(["code"]));
    assert_eq!(c["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(c["application_type"], "web");
    assert_eq!(c["contacts"], json!(["ops@rp.example"]));
    assert_eq!(c["tos_uri"], "https://rp.example/tos");
    assert_eq!(c["scope"], "openid email", "groups needs an admin's approval");
    assert_eq!(c["pending_scope"], "groups");
    assert!(c.get("unknown_member").is_none());

    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let r = token(&app, (id, secret), &[("grant_type", "client_credentials")]).await;
    assert_eq!(json_error(r).await, (400, "unauthorized_client".into()), "authenticated, grant not registered");

    let r = register(
        &app,
        Some(IAT),
        &json!({"redirect_uris": ["com.example.app:/cb"], "application_type": "native",
        "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    assert!(c.get("client_secret").is_none() && c.get("client_secret_expires_at").is_none());
}

#[actix_web::test]
async fn rg_2_bad_metadata_is_400_invalid_redirect_uri_or_invalid_client_metadata() {
    let app = spawn_reg().await;
    for (body, code) in [
        (json!({"redirect_uris": ["https://rp.example/cb#frag"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["http://rp.example/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["http://127.0.0.1/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://*.rp.example/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["com.example.app:/cb"], "application_type": "native"}), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "jwks_uri": "https://rp.example/jwks",
            "jwks": {"keys": []}}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "sector_identifier_uri": "https://rp.example/s"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "initiate_login_uri": "http://rp.example/login"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "response_types": ["code"],
            "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": ["https://rp.example/cb"], "response_types": ["token"]}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid admin"}), "invalid_client_metadata"),
        (json!({"redirect_uris": "https://rp.example/cb"}), "invalid_client_metadata"),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let r = register(&app, Some(IAT), &body).await;
        assert_eq!(json_error(r).await, (400, code.to_string()), "{body}");
    }
}

#[actix_web::test]
async fn rg_3_read_update_delete_with_the_registration_access_token() {
    let app = spawn_reg().await;
    let c: Value = register(&app, Some(IAT), &web_app()).await.json().await.unwrap();
    let (id, secret, rat) = (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
        c["registration_access_token"].as_str().unwrap().to_string(),
    );
    let uri = c["registration_client_uri"].as_str().unwrap().to_string();
    assert_eq!(app.http.get(&uri).send().await.unwrap().status(), 401, "no RAT");
    assert_eq!(app.http.get(&uri).bearer_auth(IAT).send().await.unwrap().status(), 401, "wrong RAT");
    let r = app.http.get(&uri).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["client_name"], "Registered RP");
    assert!(read.get("client_secret").is_none(), "stored hashed: never shown again");

    let put = |body: Value| app.http.put(&uri).bearer_auth(&rat).json(&body).send();
    let r = put(json!({"redirect_uris": ["https://rp.example/new"]})).await.unwrap();
    assert_eq!(json_error(r).await.1, "invalid_request", "client_id is required");
    let r =
        put(json!({"client_id": id, "redirect_uris": ["https://rp.example/new"], "registration_access_token": rat}))
            .await
            .unwrap();
    assert_eq!(json_error(r).await.1, "invalid_request", "server-issued members are refused");
    let r = put(json!({"client_id": id, "redirect_uris": ["https://rp.example/new#x"]})).await.unwrap();
    assert_eq!(json_error(r).await.1, "invalid_redirect_uri");
    let r = put(json!({"client_id": id, "client_secret": secret, "redirect_uris": ["https://rp.example/new"],
        "client_name": "Renamed"}))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["redirect_uris"], json!(["https://rp.example/new"]));
    assert_eq!(updated["client_name"], "Renamed");
    assert_eq!(updated["grant_types"], json!(["authorization_code"]), "omitted members take their defaults");
    assert!(updated.get("contacts").is_none());

    let r = app.http.delete(&uri).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.http.get(&uri).bearer_auth(&rat).send().await.unwrap().status(), 401, "RAT is gone");
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await, (401, "invalid_client".into()), "the deleted client cannot authenticate");
}
