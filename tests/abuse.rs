//! Abuse limits: failed client authentications and failed logins are throttled per address and per (address,
//! client id) — the guesser, never the victim (security.md [RL-1]); forwarding headers only from trusted proxies
//! ([RL-2]); every address has a real request ceiling and a tighter budget for what creates state for anonymous
//! callers ([RL-3], [RL-4]); loopback is not exempt; throttled answers are 429 + Retry-After.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::oauth::*;

async fn limited(failures: u32, requests: u32) -> TestApp {
    let base = |s: &mut bridgekeeper::settings::Settings| {
        s.rate_limits.failures_per_minute = failures;
        s.rate_limits.address_failures_per_minute = failures;
        s.rate_limits.requests_per_second = requests;
        s.rate_limits.request_burst = requests;
    };
    TestApp::spawn_with(move |s| {
        base(s);
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid", "email"])
                .grants(&["authorization_code", "client_credentials"])
                .skip_consent()
                .build(),
        ];
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
}

#[actix_web::test]
async fn successful_traffic_is_not_throttled_by_the_failure_budget() {
    let app = limited(3, 10_000).await;
    for _ in 0..50 {
        assert_eq!(token(&app, ("app", SECRET), &[("grant_type", "client_credentials")]).await.status(), 200);
    }
}

/// A client whose requests come from `ip` (any 127.0.0.0/8 address is this machine's loopback).
fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn cc(app: &TestApp, http: &reqwest::Client, secret: &str, xff: Option<&str>) -> u16 {
    let mut r =
        http.post(app.url("/token")).basic_auth("app", Some(enc(secret))).form(&[("grant_type", "client_credentials")]);
    if let Some(x) = xff {
        r = r.header("x-forwarded-for", x);
    }
    r.send().await.unwrap().status().as_u16()
}

/// Settings from a file overlaid on the test's (so a test can set keys the settings type may not have yet).
fn overlay(s: &mut bridgekeeper::settings::Settings, toml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("overlay.toml");
    std::fs::write(&f, toml).unwrap();
    let mut loaded = bridgekeeper::settings::Settings::load_with_env(Some(&f), &[]).unwrap();
    loaded.database_url = s.database_url.clone();
    loaded.issuer = s.issuer.clone();
    loaded.bind = s.bind.clone();
    loaded.templates_dir = s.templates_dir.clone();
    loaded.providers_dir = s.providers_dir.clone();
    loaded.encryption_keys = s.encryption_keys.clone();
    loaded.database = s.database.clone();
    loaded.dev_mode = s.dev_mode;
    loaded.clients = s.clients.clone();
    loaded.rate_limits.failures_per_minute = s.rate_limits.failures_per_minute;
    *s = loaded;
}

#[actix_web::test]
async fn rl_1_valid_credentials_never_locked_out_by_other_addresses() {
    let app = limited(5, 10_000).await;
    let attacker = from([127, 0, 0, 2]);
    for _ in 0..40 {
        let s = cc(&app, &attacker, "wrong", None).await;
        assert!(s == 401 || s == 429, "{s}");
    }
    assert_eq!(cc(&app, &attacker, SECRET, None).await, 429, "the guesser's address waits");
    let victim = from([127, 0, 0, 1]);
    assert_eq!(cc(&app, &victim, SECRET, None).await, 200, "the real client from its own address is served");
    // A steady trickle of failures from elsewhere changes nothing either.
    for i in 3..20u8 {
        cc(&app, &from([127, 0, 0, i]), "wrong", None).await;
        assert_eq!(cc(&app, &victim, SECRET, None).await, 200);
    }
}

#[actix_web::test]
async fn rl_1_failures_on_a_client_id_from_many_addresses_raise_one_audit_event_and_no_lockout() {
    let app = limited(5, 10_000).await;
    for i in 2..120u8 {
        assert_eq!(cc(&app, &from([127, 0, 1, i]), "wrong", None).await, 401, "nobody is locked out");
    }
    assert_eq!(cc(&app, &from([127, 0, 0, 1]), SECRET, None).await, 200);
    let mut conn = app.state.db.conn().unwrap();
    let filter = bridgekeeper::store::audit::Filter {
        event: Some("credential_stuffing_suspected".into()),
        client_id: Some("app".into()),
        ..Default::default()
    };
    let (events, total) = bridgekeeper::store::audit::page(&mut conn, &filter, 10, 0).unwrap();
    assert_eq!(total, 1, "one alarm, not one row per failure: {events:?}");
}

#[actix_web::test]
async fn rl_2_forwarded_headers_are_believed_only_from_trusted_proxies() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.failures_per_minute = 5;
        s.clients = limited_clients();
        overlay(s, "trusted_proxies = [\"127.0.0.1/32\"]\n[rate_limits]\naddress_failures_per_minute = 5\n");
    })
    .await;
    let proxy = from([127, 0, 0, 1]);
    // Behind the trusted proxy, each person is their own address: the guesser waits, the others do not.
    for _ in 0..6 {
        cc(&app, &proxy, "wrong", Some("198.51.100.66")).await;
    }
    assert_eq!(cc(&app, &proxy, SECRET, Some("198.51.100.66")).await, 429);
    assert_eq!(cc(&app, &proxy, SECRET, Some("6.6.6.6, 198.51.100.7")).await, 200, "right-most untrusted address");
    assert_eq!(cc(&app, &proxy, SECRET, Some("198.51.100.66, 127.0.0.1")).await, 429, "trusted hops are skipped");
    // From a peer that is not a trusted proxy the headers are ignored: rotating them does not escape the budget.
    let direct = from([127, 0, 0, 9]);
    for i in 0..6 {
        cc(&app, &direct, "wrong", Some(&format!("203.0.113.{i}"))).await;
    }
    assert_eq!(cc(&app, &direct, SECRET, Some("203.0.113.200")).await, 429);
}

#[actix_web::test]
async fn rl_2_a_forwarded_header_the_proxy_did_not_write_is_not_believed() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.failures_per_minute = 5;
        s.clients = limited_clients();
        overlay(s, "trusted_proxies = [\"127.0.0.1/32\"]\n[rate_limits]\naddress_failures_per_minute = 5\n");
    })
    .await;
    let proxy = from([127, 0, 0, 1]);
    // The proxy appends X-Forwarded-For and passes the client's own `Forwarded` header through untouched.
    let send = |secret: &'static str, forged: String| {
        let (app, proxy) = (&app, &proxy);
        async move {
            let r = proxy
                .post(app.url("/token"))
                .basic_auth("app", Some(enc(secret)))
                .header("x-forwarded-for", "198.51.100.66")
                .header("forwarded", format!("for={forged}"))
                .form(&[("grant_type", "client_credentials")]);
            r.send().await.unwrap().status().as_u16()
        }
    };
    for i in 0..6 {
        send("wrong", format!("203.0.113.{i}")).await;
    }
    assert_eq!(send(SECRET, "203.0.113.99".into()).await, 429, "a self-written Forwarded header escapes no budget");
}

fn limited_clients() -> Vec<bridgekeeper::settings::StaticClient> {
    vec![
        ClientBuilder::confidential("app", SECRET)
            .redirect(RP)
            .scopes(&["openid", "email"])
            .grants(&["authorization_code", "client_credentials"])
            .skip_consent()
            .build(),
    ]
}

#[actix_web::test]
async fn rl_3_the_default_request_ceiling_is_a_real_limit() {
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url) = (app.http.clone(), app.url("/healthz"));
        tasks.push(tokio::spawn(async move {
            let mut limited = 0;
            for _ in 0..400 {
                if http.get(&url).send().await.unwrap().status() == 429 {
                    limited += 1;
                }
            }
            limited
        }));
    }
    let mut limited = 0;
    for t in tasks {
        limited += t.await.unwrap();
    }
    assert!(limited > 0, "3,200 requests from one address as fast as possible meet the default ceiling");
}

#[actix_web::test]
async fn rl_4_anonymous_state_creating_endpoints_have_a_tighter_budget() {
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = limited_clients();
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..150 {
        statuses
            .push(authorize(&app, &auth_query(&[("client_id", "app"), ("scope", "openid")])).await.status().as_u16());
    }
    assert!(statuses.iter().take(50).all(|s| *s == 303 || *s == 302), "{statuses:?}");
    assert!(statuses.contains(&429), "anonymous /authorize has its own budget");
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200, "the rest is not affected");
    let other = from([127, 0, 0, 5]);
    let r = other.get(app.url("/authorize")).query(&auth_query(&[("scope", "openid")])).send().await.unwrap();
    assert_ne!(r.status(), 429, "nor are other addresses");
}

/// One request naming `id` as its client at `path`: by Basic, by `client_secret_post`, or as a public client.
async fn as_client(app: &TestApp, path: &str, id: &str, how: &str) -> (u16, String) {
    let form = [("grant_type", "client_credentials"), ("token", "t"), ("scope", "openid")];
    let req = app.http.post(app.url(path));
    let req = match how {
        "basic" => req.basic_auth(id, Some("x")).form(&form),
        "post" => req.form(&[form.as_slice(), &[("client_id", id), ("client_secret", "x")]].concat()),
        _ => req.form(&[form.as_slice(), &[("client_id", id)]].concat()),
    };
    json_error(req.send().await.unwrap()).await
}

/// [CL-1] A client id over 255 bytes names no client: every endpoint that finds a client by an id from the
/// request answers it as it answers an unknown client (401 `invalid_client`; `/authorize` the unknown-client
/// page, never a redirect; registration management 401), and such an id is never looked up nor cached.
#[actix_web::test]
async fn cl_1_an_overlong_client_id_is_an_unknown_client_and_never_cached() {
    let at_limit = "c".repeat(255);
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.failures_per_minute = 100_000;
        s.rate_limits.address_failures_per_minute = 100_000;
        s.device.enabled = true;
        s.registration.enabled = true;
        s.registration.initial_access_token = bridgekeeper::secret::Secret::new("initial-access-token-for-tests");
        s.clients =
            vec![ClientBuilder::confidential(&at_limit, SECRET).redirect(RP).grants(&["client_credentials"]).build()];
    })
    .await;
    let paths = ["/token", "/par", "/introspect", "/revoke", "/device_authorization"];
    for id in ["a".repeat(256), "b".repeat(4000)] {
        for path in paths {
            for how in ["basic", "post", "public"] {
                let answer = as_client(&app, path, &id, how).await;
                assert_eq!(answer, (401, "invalid_client".to_string()), "{path} by {how}, {} bytes", id.len());
            }
        }
        assert!(!app.state.caches.clients.contains_key(id.as_str()), "an overlong id is never cached");
        let q = [("client_id", id.as_str()), ("redirect_uri", RP), ("response_type", "code"), ("scope", "openid")];
        let r = app.http.get(app.url("/authorize")).query(&q).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none(), "never a redirect");
        assert!(r.text().await.unwrap().contains("Unknown application"), "the unknown-client page");
        let r = app.http.get(app.url(&format!("/register/{id}"))).bearer_auth("x").send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    app.state.caches.clients.run_pending_tasks();
    assert!(app.state.caches.clients.iter().all(|(k, _)| k.len() <= 255), "no overlong key in the client cache");
    // 255 bytes is still a client id.
    let r = token(&app, (&at_limit, SECRET), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 200, "a client id of 255 bytes authenticates");
}
