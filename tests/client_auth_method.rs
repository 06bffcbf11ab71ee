//! What a client registered is what it must use (security.md [CA-4]; OIDC Dynamic Registration §2; issue 12
//! item 7): the stored `token_endpoint_auth_method` is enforced with 401 `invalid_client`, for every way of
//! registering a client; `client_credentials` for portal and dynamically registered clients only once an admin
//! allowed it.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use serde_json::{Value, json};

const IAT: &str = "initial-access-token-for-tests";

const ADMIN_SECRET: &str = "admin-secret-for-tests";

async fn spawn_reg() -> TestApp {
    TestApp::spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.initial_access_token = bridgekeeper::secret::Secret::new(IAT);
        s.clients = vec![
            ClientBuilder::confidential("ops", ADMIN_SECRET).scopes(&["admin"]).grants(&["client_credentials"]).build(),
        ];
    })
    .await
}

async fn admin_token(app: &TestApp) -> String {
    let r =
        common::oauth::token(app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")])
            .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

async fn register(app: &TestApp, body: Value) -> Value {
    let r = app.http.post(app.url("/register")).bearer_auth(IAT).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// Introspection as the client, by Basic or by form post: the status tells whether the client authenticated.
async fn introspect_as(app: &TestApp, id: &str, secret: &str, basic: bool) -> u16 {
    let r = app.http.post(app.url("/introspect"));
    let r = if basic {
        r.basic_auth(common::oauth::enc(id), Some(common::oauth::enc(secret))).form(&[("token", "t")])
    } else {
        r.form(&[("token", "t"), ("client_id", id), ("client_secret", secret)])
    };
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    if status == 401 {
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    status
}

fn creds(c: &Value) -> (String, String) {
    (c["client_id"].as_str().unwrap().to_string(), c["client_secret"].as_str().unwrap().to_string())
}

#[actix_web::test]
async fn ca_4_registered_auth_method_is_enforced() {
    let app = spawn_reg().await;
    let basic = register(&app, json!({"redirect_uris": ["https://rp.example/cb"]})).await;
    assert_eq!(basic["token_endpoint_auth_method"], "client_secret_basic", "RFC 7591 default");
    let (id, secret) = creds(&basic);
    assert_eq!(introspect_as(&app, &id, &secret, true).await, 200);
    assert_eq!(introspect_as(&app, &id, &secret, false).await, 401, "registered basic, used post");
    let post = register(
        &app,
        json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    let (id, secret) = creds(&post);
    assert_eq!(introspect_as(&app, &id, &secret, false).await, 200);
    assert_eq!(introspect_as(&app, &id, &secret, true).await, 401, "registered post, used basic");
}

#[actix_web::test]
async fn cc_1_client_credentials_for_dynamic_clients_only_once_an_admin_allows_it() {
    let app = spawn_reg().await;
    let c =
        register(&app, json!({"grant_types": ["client_credentials"], "response_types": [], "scope": "openid"})).await;
    let (id, secret) = creds(&c);
    let cc = || async {
        let r = app
            .http
            .post(app.url("/token"))
            .basic_auth(common::oauth::enc(&id), Some(common::oauth::enc(&secret)))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        (status, body["error"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(cc().await, (400, "unauthorized_client".to_string()), "not before an admin allows it");
    let admin = admin_token(&app).await;
    let r = app
        .http
        .patch(app.url(&format!("/admin/api/clients/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"client_credentials_allowed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["client_credentials_allowed"], true);
    assert_eq!(cc().await.0, 200, "then it works");
}

fn static_client(id: &str, method: Option<&str>) -> bridgekeeper::settings::StaticClient {
    let b = ClientBuilder::confidential(id, "static-secret").redirect("https://rp.example/cb").scopes(&["openid"]);
    let b = b.grants(&["authorization_code"]);
    match method {
        Some(m) => b.auth_method(m).build(),
        None => b.build(),
    }
}

#[actix_web::test]
async fn ca_4_config_clients_keep_their_method_and_legacy_ones_accept_both() {
    let app = TestApp::spawn_with(|s| {
        s.clients = vec![
            static_client("post-only", Some("client_secret_post")),
            static_client("basic-only", Some("client_secret_basic")),
            static_client("legacy", None),
        ];
    })
    .await;
    assert_eq!(introspect_as(&app, "post-only", "static-secret", false).await, 200);
    assert_eq!(introspect_as(&app, "post-only", "static-secret", true).await, 401);
    assert_eq!(introspect_as(&app, "basic-only", "static-secret", true).await, 200);
    assert_eq!(introspect_as(&app, "basic-only", "static-secret", false).await, 401);
    assert_eq!(introspect_as(&app, "legacy", "static-secret", true).await, 200, "no key: as before");
    assert_eq!(introspect_as(&app, "legacy", "static-secret", false).await, 200, "no key: as before");
}

#[actix_web::test]
async fn ca_4_admin_api_clients_get_client_secret_basic_unless_told() {
    let app = spawn_reg().await;
    let admin = admin_token(&app).await;
    let create = |body: Value| {
        let (http, url, admin) = (app.http.clone(), app.url("/admin/api/clients"), admin.clone());
        async move {
            let r = http.post(url).bearer_auth(admin).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()
        }
    };
    let c = create(json!({"name": "A", "redirect_uris": ["https://rp.example/cb"]})).await;
    assert_eq!(c["client"]["token_endpoint_auth_method"], "client_secret_basic");
    let (id, secret) = (c["client"]["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    assert_eq!(introspect_as(&app, id, secret, false).await, 401);
    let c = create(json!({"name": "B", "redirect_uris": ["https://rp.example/cb"],
        "token_endpoint_auth_method": "client_secret_post"}))
    .await;
    let (id, secret) = (c["client"]["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    assert_eq!(introspect_as(&app, id, secret, false).await, 200);
    assert_eq!(introspect_as(&app, id, secret, true).await, 401);
    let r = app
        .http
        .post(app.url("/admin/api/clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "C", "redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "unsupported methods are refused");
}

#[test]
fn ca_4_the_cli_records_and_changes_the_method() {
    let t = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bk.toml");
    std::fs::write(
        &f,
        format!("database_url = \"{}\"\nencryption_keys = \"{}\"\n", t.url, common::TEST_ENCRYPTION_KEYS),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
            .env_remove("RUST_LOG")
            .args(["--config", f.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let add = ["clients", "add", "--name", "N", "--id", "cli-app", "--redirect-uri", "https://rp.example/cb"];
    let (code, _) = run(&[&add[..], &["--auth-method", "client_secret_post"]].concat());
    assert_eq!(code, 0);
    assert!(run(&["clients", "show", "cli-app"]).1.contains("token_endpoint_auth_method: client_secret_post"));
    assert_eq!(run(&["clients", "set-auth-method", "cli-app", "client_secret_basic"]).0, 0);
    let shown = run(&["clients", "show", "cli-app"]).1;
    assert!(shown.contains("token_endpoint_auth_method: client_secret_basic"), "{shown}");
    assert!(shown.contains("client_credentials_allowed: false"));
    assert_eq!(run(&["clients", "allow-client-credentials", "cli-app"]).0, 0);
    assert!(run(&["clients", "show", "cli-app"]).1.contains("client_credentials_allowed: true"));
    assert_ne!(run(&["clients", "set-auth-method", "cli-app", "none"]).0, 0, "a confidential client cannot use none");
}

#[actix_web::test]
async fn ca_4_portal_apps_record_and_enforce_their_auth_method() {
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.developers.allowed_domains = vec!["dev.example".into()];
    })
    .await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let page = http.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", common::oauth::hidden(&page, "csrf")), ("email", "ann@dev.example".into())];
    assert_eq!(http.post(app.url("/login/dev")).form(&form).send().await.unwrap().status(), 303);
    let list = http.get(app.url("/developer")).send().await.unwrap().text().await.unwrap();
    let csrf = common::oauth::hidden(&list, "csrf");
    let codes = |html: &str| -> Vec<String> {
        html.split("<code>").skip(1).map(|s| s[..s.find("</code>").unwrap()].to_string()).collect()
    };
    for (method, basic_ok) in [("client_secret_post", false), ("client_secret_basic", true)] {
        let form = [
            ("csrf", csrf.as_str()),
            ("name", "Ann's app"),
            ("redirect_uris", "https://app.example/cb"),
            ("client_type", "confidential"),
            ("auth_method", method),
            ("scope", "openid"),
        ];
        let page = http.post(app.url("/developer/apps")).form(&form).send().await.unwrap().text().await.unwrap();
        let (id, secret) = (codes(&page)[0].clone(), codes(&page)[1].clone());
        let shown = http.get(app.url(&format!("/developer/apps/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(shown.contains(&format!("<code>{method}</code>")), "the app page shows the method");
        let (basic, post) = (if basic_ok { 200 } else { 401 }, if basic_ok { 401 } else { 200 });
        assert_eq!(introspect_as(&app, &id, &secret, true).await, basic, "{method} via Basic");
        assert_eq!(introspect_as(&app, &id, &secret, false).await, post, "{method} via the form body");
    }
}
