//! The developer portal (`/developer`) through its real pages: form posts with CSRF, access by group or
//! allow-list, redirect URI rules, the secret shown once, rotation with a grace period, edit, disable, delete,
//! sign-in counts, and a registered app signing a person in.

mod common;

use common::TestApp;
use common::oauth::*;

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

async fn spawn_portal() -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.developers.allowed_domains = vec!["dev.example".into()];
        s.developers.scopes.retain(|x| x != "groups");
        s.developers.approval_scopes = vec!["groups".into()];
        s.developers.secret_grace_secs = 600;
    })
    .await
}

/// Signs `email` in with the dev upstream in `http`'s cookie jar.
async fn sign_in(app: &TestApp, http: &reqwest::Client, email: &str) {
    let page = http.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("email", email.into()), ("link", "false".into())];
    let r = http.post(app.url("/login/dev")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

/// The portal's CSRF token (from the list page).
async fn csrf(app: &TestApp, http: &reqwest::Client) -> String {
    let r = http.get(app.url("/developer")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    hidden(&r.text().await.unwrap(), "csrf")
}

async fn post(app: &TestApp, http: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http.post(app.url(path)).form(form).send().await.unwrap()
}

/// The values of the `<code>` elements of a page, in order.
fn codes(html: &str) -> Vec<String> {
    html.split("<code>").skip(1).map(|s| s[..s.find("</code>").unwrap()].to_string()).collect()
}

async fn register(app: &TestApp, http: &reqwest::Client, csrf: &str, uris: &str, kind: &str) -> reqwest::Response {
    let form = [
        ("csrf", csrf),
        ("name", "Ann's app"),
        ("redirect_uris", uris),
        ("client_type", kind),
        ("scope", "openid"),
        ("scope", "email"),
        ("scope", "groups"),
    ];
    post(app, http, "/developer/apps", &form).await
}

async fn authenticates(app: &TestApp, id: &str, secret: &str) -> u16 {
    let r = app.http.post(app.url("/introspect")).basic_auth(id, Some(secret)).form(&[("token", "x")]).send().await;
    r.unwrap().status().as_u16()
}

#[actix_web::test]
async fn dp_1_portal_needs_a_session_and_the_developers_group_or_allow_list() {
    let app = spawn_portal().await;
    let http = browser();
    let r = http.get(app.url("/developer")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "not signed in");
    sign_in(&app, &http, "bob@other.example").await;
    let r = http.get(app.url("/developer")).send().await.unwrap();
    assert_eq!(r.status(), 403, "outside the group and the allow-list");
    let r = post(&app, &http, "/developer/apps", &[("name", "x")]).await;
    assert_eq!(r.status(), 400, "no CSRF token");

    // Group membership (from a provider's group rules) opens the portal.
    let state = app.state.clone();
    state
        .db
        .run(|c| {
            let mut u = bridgekeeper::store::users::find_by_email(c, "bob@other.example")?.remove(0);
            u.groups_json = r#"["developers"]"#.into();
            bridgekeeper::store::users::update_profile(c, &u)
        })
        .await
        .unwrap();
    assert_eq!(http.get(app.url("/developer")).send().await.unwrap().status(), 200);
}

#[actix_web::test]
async fn dp_2_register_rejects_bad_redirect_uris_and_shows_the_secret_once() {
    let app = spawn_portal().await;
    let http = browser();
    sign_in(&app, &http, "ann@dev.example").await;
    let csrf = csrf(&app, &http).await;
    for (uris, kind, why) in [
        ("http://app.example/cb", "confidential", "http is only allowed for loopback"),
        ("https://app.example/cb#top", "confidential", "fragment"),
        ("https://*.app.example/cb", "confidential", "wildcards"),
        ("com.example.app:/cb", "confidential", "custom schemes are only allowed for public"),
        ("myapp:/cb", "public", "reverse domain name"),
        ("", "confidential", "at least one redirect URI"),
    ] {
        let r = register(&app, &http, &csrf, uris, kind).await;
        assert_eq!(r.status(), 400, "{uris}");
        let page = r.text().await.unwrap();
        assert!(page.contains(why), "{uris}: {page}");
    }
    let r = register(&app, &http, &csrf, "com.example.app:/cb\nhttp://127.0.0.1/cb", "public").await;
    assert_eq!(r.status(), 200, "custom scheme and loopback for a public app");
    assert!(!r.text().await.unwrap().contains("Client secret"));

    let r = register(&app, &http, &csrf, "https://app.example/cb\nhttp://localhost:3000/cb", "confidential").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let (id, secret) = (codes(&page)[0].clone(), codes(&page)[1].clone());
    assert!(page.contains("shown only this once") && page.contains("groups"), "pending scope is named");
    let app_page = http.get(app.url(&format!("/developer/apps/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(!app_page.contains(&secret), "the secret is never shown again");
    assert!(app_page.contains("Waiting for approval"));
    assert_eq!(authenticates(&app, &id, &secret).await, 200);

    // Another developer sees neither the app nor its page.
    let other = browser();
    sign_in(&app, &other, "cy@dev.example").await;
    assert_eq!(other.get(app.url(&format!("/developer/apps/{id}"))).send().await.unwrap().status(), 404);
}

#[actix_web::test]
async fn dp_3_a_registered_app_signs_a_person_in_and_counts_it() {
    let app = spawn_portal().await;
    let http = browser();
    sign_in(&app, &http, "ann@dev.example").await;
    let csrf = csrf(&app, &http).await;
    let page = register(&app, &http, &csrf, RP, "confidential").await.text().await.unwrap();
    let (id, secret) = (codes(&page)[0].clone(), codes(&page)[1].clone());
    // An admin approves the pending scope (the function behind the CLI and the admin API).
    let now = app.clock.now();
    let c = bridgekeeper::accounts::clients::approve_scope(&app.state.db, &app.state.settings(), &id, "groups", now)
        .await
        .unwrap();
    assert!(c.allowed_scopes.contains(&"groups".to_string()) && c.pending_scopes.is_empty());

    let q = auth_query(&[("client_id", &id), ("scope", "openid email groups")]);
    let loc = complete(&app, authorize(&app, &q).await, "dana@example.com").await;
    let code = param(&loc, "code").unwrap();
    let r = token(&app, (&id, &secret), &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", RP)])
        .await;
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t["scope"], "email groups openid");
    let page = http.get(app.url(&format!("/developer/apps/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Last 24 hours: <strong>1</strong>"), "{page}");
}

#[actix_web::test]
async fn dp_4_rotate_edit_disable_delete() {
    let app = spawn_portal().await;
    let http = browser();
    sign_in(&app, &http, "ann@dev.example").await;
    let csrf = csrf(&app, &http).await;
    let page = register(&app, &http, &csrf, RP, "confidential").await.text().await.unwrap();
    let (id, old) = (codes(&page)[0].clone(), codes(&page)[1].clone());
    let base = format!("/developer/apps/{id}");

    let r = post(&app, &http, &format!("{base}/rotate"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    let new = codes(&r.text().await.unwrap())[1].clone();
    assert_ne!(new, old);
    assert_eq!(authenticates(&app, &id, &new).await, 200);
    assert_eq!(authenticates(&app, &id, &old).await, 200, "the old secret works during the grace period");
    app.clock.advance(601);
    assert_eq!(authenticates(&app, &id, &old).await, 401, "and not after it");
    assert_eq!(authenticates(&app, &id, &new).await, 200);

    let edit = |uris: &'static str| {
        let form = [("csrf", csrf.clone()), ("name", "Renamed".into()), ("redirect_uris", uris.into())];
        http.post(app.url(&format!("{base}/edit"))).form(&form).send()
    };
    assert_eq!(edit("https://app.example/cb#x").await.unwrap().status(), 400);
    let r = edit("https://app.example/new-cb").await.unwrap();
    assert_eq!(location(&r), base);
    let page = http.get(app.url(&base)).send().await.unwrap().text().await.unwrap().replace("&#x2F;", "/");
    assert!(page.contains("https://app.example/new-cb") && page.contains("Renamed"));

    let r = post(&app, &http, &format!("{base}/disable"), &[("csrf", &csrf), ("disabled", "true")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(authenticates(&app, &id, &new).await, 401, "a disabled app cannot authenticate");
    post(&app, &http, &format!("{base}/disable"), &[("csrf", &csrf), ("disabled", "false")]).await;
    assert_eq!(authenticates(&app, &id, &new).await, 200);

    assert_eq!(
        post(&app, &http, &format!("{base}/delete"), &[("csrf", "forged-forged-forged-forged-forged")]).await.status(),
        400
    );
    let r = post(&app, &http, &format!("{base}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(location(&r), "/developer");
    assert_eq!(http.get(app.url(&base)).send().await.unwrap().status(), 404);
    assert_eq!(authenticates(&app, &id, &new).await, 401);
}
