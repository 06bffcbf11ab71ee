//! Logout is not a weapon (security.md [LO-6]; RP-Initiated Logout 1.0 §2, §6): a hint naming someone else, or
//! an expired hint without a session, asks the person to confirm before anything ends or anyone is redirected.

mod common;
use common::clients::ClientBuilder;

use bridgekeeper::settings::StaticClient;
use common::TestApp;
use common::oauth::*;

const EVIL_BYE: &str = "https://evil.example/bye";

fn client(id: &str, secret: &str, redirect: &str, bye: &str) -> StaticClient {
    ClientBuilder::confidential(id, secret)
        .redirect(redirect)
        .post_logout(bye)
        .scopes(&["openid", "email"])
        .grants(&["authorization_code"])
        .skip_consent()
        .build()
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![
            client("app", SECRET, RP, "https://rp.example/bye"),
            client("evil", "evil-secret", "https://evil.example/cb", EVIL_BYE),
        ];
    })
    .await
}

/// Signs `email` in through client `cid` in this browser and returns the ID token it got.
async fn id_token_of(app: &TestApp, cid: &str, secret: &str, redirect: &str, email: &str) -> String {
    let q: Vec<(String, String)> = [
        ("client_id", cid),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s"),
        ("prompt", "login"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let loc = complete(app, authorize(app, &q).await, email).await;
    let code = param(&loc, "code").unwrap();
    let r =
        token(app, (cid, secret), &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", redirect)])
            .await;
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.unwrap();
    t["id_token"].as_str().unwrap().to_string()
}

async fn logout(app: &TestApp, hint: &str, to: &str) -> reqwest::Response {
    app.http
        .get(app.url("/logout"))
        .query(&[("id_token_hint", hint), ("post_logout_redirect_uri", to), ("state", "x")])
        .send()
        .await
        .unwrap()
}

async fn signed_in(app: &TestApp) -> bool {
    let r = authorize(app, &auth_query(&[("prompt", "none"), ("scope", "openid email")])).await;
    param(&location(&r), "code").is_some()
}

#[actix_web::test]
async fn lo_6_foreign_id_token_hint_asks_for_confirmation() {
    let app = spawn().await;
    // The attacker signs in with their own account at their own app and keeps the ID token ...
    let evil = id_token_of(&app, "evil", "evil-secret", "https://evil.example/cb", "mallory@evil.example").await;
    let r = logout(&app, &evil, EVIL_BYE).await;
    assert_eq!(r.status(), 303, "the attacker's own logout works as before");
    // ... then the victim signs in in this browser, and is lured to the attacker's logout link.
    id_token_of(&app, "app", SECRET, RP, "ada@example.com").await;
    assert!(signed_in(&app).await);
    let r = logout(&app, &evil, EVIL_BYE).await;
    assert_eq!(r.status(), 200, "confirmation page, no redirect");
    assert!(r.headers().get("location").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out?"), "{page}");
    assert!(signed_in(&app).await, "the victim's session is intact");
    // Only when the person confirms does the logout happen (and then the redirect).
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    let r = app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(EVIL_BYE));
    assert!(!signed_in(&app).await);
}

#[actix_web::test]
async fn lo_6_own_id_token_hint_signs_out_at_once() {
    let app = spawn().await;
    let mine = id_token_of(&app, "app", SECRET, RP, "ada@example.com").await;
    app.clock.advance(10 * 86400);
    let mine_again = id_token_of(&app, "app", SECRET, RP, "ada@example.com").await;
    assert_ne!(mine, mine_again);
    let r = logout(&app, &mine, "https://rp.example/bye").await;
    assert_eq!(r.status(), 303, "an expired hint of the signed-in user is still a good hint");
    assert!(!signed_in(&app).await);
}

#[actix_web::test]
async fn lo_6_expired_hint_without_a_session_asks_for_confirmation() {
    let app = spawn().await;
    let hint = id_token_of(&app, "app", SECRET, RP, "ada@example.com").await;
    assert_eq!(logout(&app, &hint, "https://rp.example/bye").await.status(), 303);
    let r = logout(&app, &hint, "https://rp.example/bye").await;
    assert_eq!(r.status(), 303, "no session, unexpired hint: straight through");
    app.clock.advance(2 * 86400);
    let r = logout(&app, &hint, "https://rp.example/bye").await;
    assert_eq!(r.status(), 200, "no session, expired hint: the person confirms");
    assert!(r.text().await.unwrap().contains("Sign out?"));
}
