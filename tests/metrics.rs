//! Issue #16, metrics: `/metrics` only on the `metrics_bind` listener, in Prometheus text (parsed here with a real
//! parser), counters that move as a login, a refresh, a replayed refresh token and a failing upstream happen,
//! and no label that holds a user id, an email or a token; [MT-4] rejected sign-ins by the check that failed.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::fake_idp::{FakeIdp, Tamper};
use common::oauth::*;
use prometheus_parse::{Scrape, Value};

struct World {
    app: TestApp,
    idp: FakeIdp,
    metrics: String,
    _providers: tempfile::TempDir,
}

/// The broker with `acme` (the fake IdP) and `down` (an OIDC issuer nobody answers at), and its metrics listener.
async fn world() -> World {
    world_with(3).await
}

/// The same, with `failures` failed logins a minute allowed per address.
async fn world_with(failures: u32) -> World {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "")).unwrap();
    let down = "kind = \"oidc\"\nclient_id = \"x\"\nclient_secret = \"y\"\nissuer = \"http://127.0.0.1:1\"\n";
    std::fs::write(dir.path().join("down.toml"), down).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| {
        s.providers_dir = providers;
        s.tokens.refresh_reuse_grace_secs = 0;
        s.rate_limits.failures_per_minute = failures;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .name("App")
                .redirect(RP)
                .scopes(&["openid", "email", "offline_access"])
                .skip_consent()
                .build(),
        ];
    })
    .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(bridgekeeper::server::start_metrics(app.state.clone(), listener).unwrap());
    World { app, idp, metrics, _providers: dir }
}

async fn scrape(w: &World) -> (Scrape, String) {
    let r = w.app.http.get(&w.metrics).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    (parsed, text)
}

/// The sample's value (a histogram's total count), 0 when absent.
fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.iter().map(|h| h.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

/// Plays the browser through the fake IdP until the first answer that is no redirect (its status), or the app's
/// redirect URI (0), in a browser of its own.
async fn attempt(w: &World) -> u16 {
    attempt_with_code(w, None).await
}

/// The same, bringing `code` (if given) back to the callback instead of the upstream's: an injected code.
async fn attempt_with_code(w: &World, code: Option<&str>) -> u16 {
    let app = w.app.view();
    let mut r = authorize(&app, &auth_query(&[("scope", "openid email")])).await;
    for _ in 0..10 {
        if !r.status().is_redirection() {
            return r.status().as_u16();
        }
        let loc = location(&r);
        if loc.starts_with(RP) {
            return 0;
        }
        let loc = match loc.strip_prefix("/login?") {
            Some(rest) => format!("/login/acme?{rest}"),
            None => loc,
        };
        let mut url = if loc.starts_with('/') { app.url(&loc) } else { loc };
        if let Some(c) = code.filter(|_| url.contains("/callback/acme")) {
            let mut u = url::Url::parse(&url).unwrap();
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| (k.to_string(), if k == "code" { c.to_string() } else { v.to_string() }))
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
            url = u.to_string();
        }
        r = app.http.get(url).send().await.unwrap();
    }
    panic!("the sign-in did not end");
}

/// Plays the browser through the fake IdP until the app's redirect URI; returns the code.
async fn sign_in(w: &World) -> String {
    let mut r = authorize(&w.app, &auth_query(&[("scope", "openid email offline_access")])).await;
    for _ in 0..10 {
        let loc = location(&r);
        if loc.starts_with(RP) {
            return param(&loc, "code").unwrap();
        }
        let loc = match loc.strip_prefix("/login?") {
            Some(rest) => format!("/login/acme?{rest}"),
            None => loc,
        };
        let url = if loc.starts_with('/') { w.app.url(&loc) } else { loc };
        r = w.app.http.get(url).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
    }
    panic!("the sign-in did not end");
}

/// [MT-1] The public listener has no `/metrics`; the metrics listener serves it, parseable as Prometheus text.
#[actix_web::test]
async fn mt_1_metrics_are_served_only_on_their_own_listener() {
    let w = world().await;
    assert_eq!(w.app.http.get(w.app.url("/metrics")).send().await.unwrap().status(), 404);
    let (s, _) = scrape(&w).await;
    assert_eq!(value(&s, "bridgekeeper_config_reload_success", &[]), 1.0);
    assert!(s.docs.contains_key("bridgekeeper_http_requests_total"), "{:?}", s.docs.keys());
    assert!(value(&s, "bridgekeeper_http_requests_total", &[("route", "unmatched"), ("status", "404")]) >= 1.0);
    w.app.stop().await;
    w.idp.stop().await;
}

/// [MT-3] A login, a refresh, a replayed refresh token, a failing upstream and a rate-limit refusal each move
/// their counters; [MT-2] no label holds the user's id, email or any token.
#[actix_web::test]
async fn mt_3_counters_move_with_a_login_a_refresh_and_a_failing_upstream() {
    let w = world().await;
    let code = sign_in(&w).await;
    let t = exchange(&w.app, &code).await;
    let (at, rt) = (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap());
    let refresh = |rt: String| {
        let app = &w.app;
        async move { token(app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await }
    };
    assert_eq!(refresh(rt.to_string()).await.status(), 200);
    assert_eq!(refresh(rt.to_string()).await.status(), 400, "a replay revokes the family");
    for _ in 0..2 {
        assert_eq!(userinfo(&w.app, at).await.status(), 401, "the family is revoked");
    }
    let failed = w.app.http.get(w.app.url("/login/down")).send().await.unwrap();
    assert_eq!(failed.status(), 502);
    for _ in 0..6 {
        token(&w.app, ("app", "wrong"), &[("grant_type", "refresh_token"), ("refresh_token", "x")]).await;
    }

    let (s, text) = scrape(&w).await;
    let v = |m: &str, l: &[(&str, &str)]| value(&s, &format!("bridgekeeper_{m}"), l);
    assert_eq!(v("logins_total", &[("provider", "acme"), ("outcome", "success_created"), ("reason", "")]), 1.0);
    assert_eq!(v("logins_total", &[("provider", "down"), ("outcome", "unavailable")]), 1.0);
    assert_eq!(v("tokens_issued_total", &[("grant_type", "authorization_code"), ("client", "app")]), 1.0);
    assert_eq!(v("tokens_issued_total", &[("grant_type", "refresh_token"), ("client", "app")]), 1.0);
    assert_eq!(v("refresh_reuse_detected_total", &[]), 1.0);
    for call in ["discovery", "jwks", "token", "userinfo"] {
        let n = v("upstream_request_duration_seconds", &[("provider", "acme"), ("call", call)]);
        assert!(n >= 1.0, "acme {call}: {n}\n{text}");
    }
    assert_eq!(v("upstream_errors_total", &[("provider", "acme")]), 0.0);
    assert_eq!(v("upstream_up", &[("provider", "acme")]), 1.0);
    assert!(v("upstream_errors_total", &[("provider", "down"), ("call", "discovery")]) >= 1.0);
    assert_eq!(v("upstream_up", &[("provider", "down")]), 0.0);
    assert!(v("rate_limit_rejections_total", &[("limit", "failures")]) >= 1.0);
    // Route templates keep actix's braces (`/login/{provider}`), which prometheus-parse's label regex cannot
    // read (Prometheus itself can): this one is checked on the text.
    let line = "bridgekeeper_http_requests_total{method=\"GET\",route=\"/login/{provider}\",status=\"502\"} 1";
    assert!(text.lines().any(|l| l == line), "{text}");
    assert!(v("http_request_duration_seconds", &[("route", "/token")]) >= 4.0);
    assert!(v("cache_requests_total", &[("cache", "clients"), ("result", "miss")]) >= 1.0);
    assert!(v("cache_requests_total", &[("cache", "clients"), ("result", "hit")]) >= 1.0);
    assert!(v("cache_requests_total", &[("cache", "tokens"), ("result", "miss")]) >= 2.0);
    assert!(v("db_pool_wait_seconds", &[]) >= 1.0);
    assert!(s.samples.iter().any(|x| x.metric == "bridgekeeper_db_pool_connections"));

    // [MT-2] Nothing personal or secret in any label.
    let user = w.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap();
    let mut secrets =
        vec![code.clone(), at.to_string(), rt.to_string(), "ada@upstream.test".into(), "upstream-sub-1".into()];
    secrets.extend(user.iter().map(|u| u.id.clone()));
    for sample in &s.samples {
        for (k, val) in sample.labels.iter() {
            assert!(!secrets.iter().any(|x| val.contains(x.as_str())), "{} {k}={val}", sample.metric);
        }
    }
    assert!(!secrets.iter().any(|x| text.contains(x.as_str())), "nothing secret in the exposition");

    // The sweeper's deletions are counted by table.
    w.app.clock.advance(200 * 86_400);
    let rows = bridgekeeper::sweeper::sweep_once(&w.app.state).await.unwrap();
    let removed: u64 = rows.iter().map(|(_, n)| n).sum();
    assert!(removed > 0);
    let (s, _) = scrape(&w).await;
    let counted: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "bridgekeeper_sweeper_rows_deleted_total")
        .map(|x| match x.value {
            Value::Counter(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(counted, removed as f64);
    w.app.stop().await;
    w.idp.stop().await;
}

/// [MT-4] A rejected sign-in is counted as `outcome="rejected"` with the check that failed as `reason` (a fixed
/// word chosen where the check fails): a forged state, a wrong nonce, the other ID token checks and a code the
/// upstream refuses; a success carries no reason.
#[actix_web::test]
async fn mt_4_rejected_sign_ins_are_counted_by_the_check_that_failed() {
    let w = world_with(100).await;
    assert_eq!(attempt(&w).await, 0, "a first sign-in succeeds");
    assert_eq!(attempt(&w).await, 0, "a second one too");
    let forged = w.app.http.get(w.app.url("/callback/acme?code=abc&state=forged")).send().await.unwrap();
    assert_eq!(forged.status(), 400);
    let cases = [
        (Tamper::WrongNonce, "nonce"),
        (Tamper::BadSignature, "signature"),
        (Tamper::WrongAud, "audience"),
        (Tamper::OtherAzp, "audience"),
        (Tamper::Expired, "expired"),
        (Tamper::WrongIss, "issuer"),
        (Tamper::WrongIssParam, "issuer"),
        (Tamper::BadAtHash, "at_hash"),
        (Tamper::UserinfoOtherSub, "subject"),
        (Tamper::NoIdToken, "other"),
    ];
    for (t, _) in &cases {
        w.idp.set_tamper(*t);
        assert_eq!(attempt(&w).await, 400, "{t:?} is refused");
    }
    w.idp.set_tamper(Tamper::None);
    // A code that is not this sign-in's: the upstream answers invalid_grant (as it does for a PKCE mismatch).
    assert_eq!(attempt_with_code(&w, Some("injected-code")).await, 400, "a refused code is a rejected answer");

    let (s, text) = scrape(&w).await;
    let v = |l: &[(&str, &str)]| value(&s, "bridgekeeper_logins_total", l);
    let acme = ("provider", "acme");
    assert_eq!(v(&[acme, ("outcome", "success_created"), ("reason", "")]), 1.0, "{text}");
    assert_eq!(v(&[acme, ("outcome", "success"), ("reason", "")]), 1.0, "{text}");
    assert_eq!(v(&[acme, ("outcome", "rejected"), ("reason", "state")]), 1.0, "{text}");
    assert_eq!(v(&[acme, ("outcome", "rejected"), ("reason", "code")]), 1.0, "{text}");
    for reason in ["nonce", "signature", "audience", "expired", "issuer", "at_hash", "subject", "other"] {
        let expected = cases.iter().filter(|(_, r)| *r == reason).count() as f64;
        assert_eq!(v(&[acme, ("outcome", "rejected"), ("reason", reason)]), expected, "{reason}\n{text}");
    }
    let rejected: f64 = v(&[acme, ("outcome", "rejected")]);
    assert_eq!(rejected, cases.len() as f64 + 2.0, "every refusal counted once");
    w.app.stop().await;
    w.idp.stop().await;
}
