//! Abuse limits: failed client authentications and failed logins are throttled per address and per client id
//! (loopback is not exempt), every address has a request ceiling, and throttled answers are 429 + Retry-After.

mod common;

use common::TestApp;
use common::oauth::*;

async fn limited(failures: u32, requests: u32) -> TestApp {
    let base = |s: &mut bridgekeeper::settings::Settings| {
        s.rate_limits.failures_per_minute = failures;
        s.rate_limits.requests_per_second = requests;
    };
    TestApp::spawn_with(move |s| {
        base(s);
        s.dev_mode = true;
        s.clients = vec![bridgekeeper::settings::StaticClient {
            client_id: "app".into(),
            client_secret: Some(bridgekeeper::secret::Secret::new(SECRET)),
            name: None,
            redirect_uris: vec![RP.into()],
            post_logout_redirect_uris: vec![],
            allowed_scopes: vec!["openid".into(), "email".into()],
            grant_types: vec!["authorization_code".into(), "client_credentials".into()],
            skip_consent: true,
            require_pkce: false,
        }];
    })
    .await
}

#[actix_web::test]
async fn failed_client_authentications_are_throttled_per_address_and_client() {
    let app = limited(5, 10_000).await;
    let cc = [("grant_type", "client_credentials")];
    for _ in 0..5 {
        assert_eq!(json_error(token(&app, ("app", "wrong"), &cc).await).await.0, 401);
    }
    // The sixth failure goes over the budget ...
    assert_eq!(json_error(token(&app, ("app", "wrong"), &cc).await).await.0, 401);
    // ... after which even the right secret waits, and so does another client from this address.
    let r = token(&app, ("app", SECRET), &cc).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(json_error(r).await.1, "temporarily_unavailable");
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth("someone", Some("x"))
        .form(&[("token", "t")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "introspection is throttled for this address too");
    app.stop().await;
}

#[actix_web::test]
async fn forged_login_callbacks_are_throttled() {
    let app = limited(3, 10_000).await;
    for _ in 0..4 {
        let r = app.http.get(app.url("/callback/dev?state=forged&code=x")).send().await.unwrap();
        assert!(r.status().is_client_error());
        assert_ne!(r.status(), 429);
    }
    let r = app.http.get(app.url("/callback/dev?state=forged&code=x")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.text().await.unwrap().contains("Too many attempts"), "a readable page");
    app.stop().await;
}

#[actix_web::test]
async fn every_address_has_a_request_ceiling() {
    let app = limited(30, 2).await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(app.http.get(app.url("/healthz")).send().await.unwrap().status().as_u16());
    }
    assert!(statuses.iter().take(2).all(|s| *s == 200), "the burst is served");
    assert!(statuses.contains(&429), "then the ceiling applies");
    app.stop().await;
}

#[actix_web::test]
async fn successful_traffic_is_not_throttled_by_the_failure_budget() {
    let app = limited(3, 10_000).await;
    for _ in 0..50 {
        assert_eq!(token(&app, ("app", SECRET), &[("grant_type", "client_credentials")]).await.status(), 200);
    }
    app.stop().await;
}
