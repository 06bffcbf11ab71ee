//! The admin API (`/admin/api/…`): bearer tokens from client_credentials with the `admin` scope, JSON 4xx
//! errors, clients, users (disable revokes everything), consents, audit, the OpenAPI document.

mod common;
use common::clients::ClientBuilder;

use bridgekeeper::settings::StaticClient;
use common::TestApp;
use common::oauth::*;
use serde_json::{Value, json};

const ADMIN_SECRET: &str = "admin-secret-for-tests";

fn admin_client() -> StaticClient {
    ClientBuilder::confidential("ops", ADMIN_SECRET)
        .name("Ops automation")
        .scopes(&["admin"])
        .grants(&["client_credentials"])
        .build()
}

/// The standard test app plus the admin client `ops`; `app` also holds `admin` (to show the browser never grants it).
async fn spawn_admin() -> TestApp {
    let app = spawn().await;
    let state = app.state.clone();
    let mut settings = (*state.settings()).clone();
    settings.clients.push(admin_client());
    bridgekeeper::accounts::clients::sync_static(&state.db, &settings, &[], 0).await.unwrap();
    app
}

async fn admin_token(app: &TestApp) -> String {
    let r = token(app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, path: &str, t: &str) -> reqwest::Response {
    app.http.get(app.url(path)).bearer_auth(t).send().await.unwrap()
}

#[actix_web::test]
async fn admin_api_missing_invalid_or_insufficient_token_is_401_or_403() {
    let app = spawn_admin().await;
    let r = app.http.get(app.url("/admin/api/clients")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers().get("www-authenticate").unwrap().to_str().unwrap().to_string();
    assert!(www.starts_with("Bearer") && !www.contains("error="), "{www}");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_token");

    let r = get(&app, "/admin/api/clients", "not-a-token").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().contains("error=\"invalid_token\""));

    // A client_credentials token of an ordinary client: valid, but no admin scope.
    let r = token(&app, ("app", SECRET), &[("grant_type", "client_credentials"), ("scope", "email")]).await;
    let t = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let r = get(&app, "/admin/api/users", &t).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().contains("insufficient_scope"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "insufficient_scope");

    // A user's access token never administers, even for a client allowed `admin`.
    let c = code(&app, &[("scope", "openid admin")]).await;
    let t = exchange(&app, &c).await;
    assert!(!t["scope"].as_str().unwrap().contains("admin"), "the browser flow never grants admin");
    let r = get(&app, "/admin/api/users", t["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 403);

    let t = admin_token(&app).await;
    assert_eq!(get(&app, "/admin/api/clients", &t).await.status(), 200);
}

#[actix_web::test]
async fn admin_api_clients_crud_pagination_and_json_errors() {
    let app = spawn_admin().await;
    let t = admin_token(&app).await;
    let r = app
        .http
        .post(app.url("/admin/api/clients"))
        .bearer_auth(&t)
        .json(&json!({"name": "Billing", "redirect_uris": ["https://billing.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["client"]["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(created["client"]["source"], "api");
    assert_eq!(
        token(&app, (&id, &secret), &[("grant_type", "client_credentials")]).await.status(),
        400,
        "authenticates (but has no client_credentials grant)"
    );

    let r = get(&app, "/admin/api/clients?q=BILL&limit=1", &t).await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["client_id"], id.as_str());
    let all: Value = get(&app, "/admin/api/clients?limit=2&offset=1", &t).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(all["total"], 5);

    let r = app
        .http
        .patch(app.url(&format!("/admin/api/clients/{id}")))
        .bearer_auth(&t)
        .json(&json!({"redirect_uris": ["http://evil.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = app
        .http
        .patch(app.url(&format!("/admin/api/clients/{id}")))
        .bearer_auth(&t)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["disabled"], true);

    for (path, status) in [
        ("/admin/api/clients?limit=0", 400),
        ("/admin/api/clients?limit=abc", 400),
        ("/admin/api/clients?disabled=maybe", 400),
        ("/admin/api/clients/nope", 404),
        ("/admin/api/nothing-here", 404),
    ] {
        let r = get(&app, path, &t).await;
        assert_eq!(r.status(), status, "{path}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string(), "{path}");
    }
    let r = app
        .http
        .post(app.url("/admin/api/clients"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");

    let r = app.http.delete(app.url(&format!("/admin/api/clients/{id}"))).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(&app, &format!("/admin/api/clients/{id}"), &t).await.status(), 404);
    let audit: Value = get(&app, "/admin/api/audit?event=client_removed", &t).await.json().await.unwrap();
    assert_eq!(audit["items"][0]["client_id"], id.as_str());
    assert_eq!(audit["items"][0]["detail"]["actor"], "admin-api:ops");
}

#[actix_web::test]
async fn admin_api_rotated_secret_keeps_the_old_one_for_the_grace_period() {
    let app = spawn_admin().await;
    let t = admin_token(&app).await;
    let cc = [("grant_type", "client_credentials")];
    let r = app
        .http
        .post(app.url("/admin/api/clients/other/secret"))
        .bearer_auth(&t)
        .json(&json!({"grace_secs": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new = r.json::<Value>().await.unwrap()["client_secret"].as_str().unwrap().to_string();
    assert_eq!(token(&app, ("other", &new), &cc).await.status(), 200);
    assert_eq!(token(&app, ("other", "other-secret"), &cc).await.status(), 200, "old secret in its grace period");
    app.clock.advance(301);
    assert_eq!(token(&app, ("other", "other-secret"), &cc).await.status(), 401, "old secret after the grace period");
    assert_eq!(token(&app, ("other", &new), &cc).await.status(), 200);
}

#[actix_web::test]
async fn admin_api_disabling_a_user_revokes_sessions_refresh_tokens_and_introspection() {
    let app = spawn_admin().await;
    let t = admin_token(&app).await;
    let tokens = exchange(&app, &code(&app, &[]).await).await;
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let users: Value = get(&app, "/admin/api/users?q=ada@EXAMPLE", &t).await.json().await.unwrap();
    assert_eq!(users["total"], 1);
    let uid = users["items"][0]["id"].as_str().unwrap().to_string();
    let detail: Value = get(&app, &format!("/admin/api/users/{uid}"), &t).await.json().await.unwrap();
    assert_eq!(detail["identities"][0]["provider"], "dev");
    let consents: Value = get(&app, &format!("/admin/api/consents?user_id={uid}"), &t).await.json().await.unwrap();
    assert_eq!(consents["items"][0]["client_id"], "app");

    let introspect = |tok: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .post(app.url("/introspect"))
                .basic_auth("app", Some(enc(SECRET)))
                .form(&[("token", tok)])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["active"].as_bool().unwrap()
        }
    };
    assert!(introspect(at.to_string()).await);
    let r = app.http.post(app.url(&format!("/admin/api/users/{uid}/disable"))).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["disabled"], true);

    assert!(!introspect(at.to_string()).await, "access token inactive");
    assert!(!introspect(rt.to_string()).await, "refresh token inactive");
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!(json_error(r).await, (400, "invalid_grant".into()));
    assert_eq!(userinfo(&app, at).await.status(), 401);
    let r = app.http.get(app.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "the browser session is over");
    let audit: Value =
        get(&app, &format!("/admin/api/audit?user_id={uid}&event=user_disabled"), &t).await.json().await.unwrap();
    assert_eq!(audit["total"], 1);
}

#[actix_web::test]
async fn admin_api_revoke_unlink_providers_keys_and_openapi() {
    let app = spawn_admin().await;
    let t = admin_token(&app).await;
    let tokens = exchange(&app, &code(&app, &[]).await).await;
    let users: Value = get(&app, "/admin/api/users", &t).await.json().await.unwrap();
    let uid = users["items"][0]["id"].as_str().unwrap().to_string();
    let r = app.http.post(app.url(&format!("/admin/api/users/{uid}/revoke"))).bearer_auth(&t).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!((body["sessions_revoked"].as_i64(), body["grants_revoked"].as_i64()), (Some(1), Some(1)));
    assert_eq!(userinfo(&app, tokens["access_token"].as_str().unwrap()).await.status(), 401);
    let detail: Value = get(&app, &format!("/admin/api/users/{uid}"), &t).await.json().await.unwrap();
    let iid = detail["identities"][0]["id"].as_str().unwrap();
    let r = app
        .http
        .delete(app.url(&format!("/admin/api/users/{uid}/identities/{iid}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "the only identity stays");

    let providers: Value = get(&app, "/admin/api/providers", &t).await.json().await.unwrap();
    assert!(providers.as_array().unwrap().iter().any(|p| p["id"] == "dev" && p["health"] == "up"));
    let keys: Value = get(&app, "/admin/api/keys", &t).await.json().await.unwrap();
    assert!(keys.as_array().unwrap().iter().any(|k| k["state"] == "current"));

    let doc: Value = app.http.get(app.url("/admin/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/admin/api/clients/{client_id}/secret"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
