//! Sign-out hardening found in review (security.md [BL-10], [BL-11], [UL-9]): a self-registered client's logout
//! URI whose name resolves to an internal address is never called; the first sweep after an upgrade does not tell
//! apps about sessions that ended long ago; an upstream's unknown key is fetched once, not once per token.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::TestApp;
use common::backchannel::*;
use common::clients::ClientBuilder;
use common::oauth::*;
use serde_json::Value;

/// A TCP port that counts the connections made to it (and answers none of them).
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, seen)
}

/// A DNS name (not a literal, not `localhost`) that resolves to loopback here: this machine's host name, which
/// /etc/hosts maps to 127.0.0.1 or 127.0.1.1 on Debian.
async fn loopback_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?.trim().to_string();
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await.ok()?.collect();
    (!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) && !name.contains("localhost")).then_some(name)
}

fn outbox(app: &TestApp) -> Vec<bridgekeeper::store::outbox::Outgoing> {
    bridgekeeper::store::outbox::list(&mut app.state.db.conn().unwrap()).unwrap()
}

/// Runs `bl_10_probe_through_a_proxy` in a child process of this test binary with `HTTPS_PROXY` pointing at a
/// port that counts connections (the environment of this process stays as it is).
#[actix_web::test]
async fn bl_10_the_guarded_client_ignores_system_proxies() {
    let (port, seen) = counting_listener().await;
    let proxy = format!("http://127.0.0.1:{port}");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--ignored", "--exact", "bl_10_probe_through_a_proxy", "--test-threads=1"])
        .env("BK_PROXY_PROBE", "1")
        .env("HTTPS_PROXY", &proxy)
        .env("https_proxy", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    let out = tokio::task::spawn_blocking(move || child.output()).await.unwrap().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && log.contains("1 passed"), "{log}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(seen.load(Ordering::SeqCst), 0, "[BL-10] the self-registered client's token never went to a proxy");
}

/// The child of `bl_10_the_guarded_client_ignores_system_proxies`: a dynamic client's logout token is tried once.
#[actix_web::test]
#[ignore = "run by bl_10_the_guarded_client_ignores_system_proxies with a proxy in its environment"]
async fn bl_10_probe_through_a_proxy() {
    if std::env::var_os("BK_PROXY_PROBE").is_none() {
        return;
    }
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.registration.enabled = true;
        s.registration.open = true;
        s.backchannel_logout.poll_interval_ms = 50;
        s.backchannel_logout.timeout_secs = 2;
    })
    .await;
    let body = serde_json::json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid",
        "backchannel_logout_uri": "https://bl10-proxy.example/bc"});
    let r = app.http.post(app.url("/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let (id, secret) = (reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap());
    let q: Vec<(String, String)> =
        [("client_id", id), ("redirect_uri", "https://rp.example/cb"), ("response_type", "code"), ("scope", "openid")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let code = param(&complete(&app, authorize(&app, &q).await, "ada@example.com").await, "code").unwrap();
    let form =
        [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", "https://rp.example/cb")];
    assert_eq!(token(&app, (id, secret), &form).await.status(), 200);
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    assert_eq!(app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap().status(), 200);
    until(10, "the token tried once", || outbox(&app).iter().any(|r| r.attempts >= 1)).await;
}

#[actix_web::test]
async fn bl_10_a_self_registered_logout_uri_that_resolves_to_an_internal_address_is_never_called() {
    let Some(host) = loopback_name().await else {
        eprintln!("skipped: this machine's host name does not resolve to loopback only");
        return;
    };
    let ((dyn_port, dyn_seen), (cfg_port, cfg_seen)) = (counting_listener().await, counting_listener().await);
    let cfg = ClientBuilder::confidential("cfg", SECRET)
        .redirect("https://cfg.example/cb")
        .scopes(&["openid"])
        .skip_consent()
        .backchannel_logout(&format!("https://{host}:{cfg_port}/bc"), true);
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.registration.enabled = true;
        s.registration.open = true;
        s.clients = vec![cfg.build()];
        s.backchannel_logout.poll_interval_ms = 50;
        s.backchannel_logout.timeout_secs = 2;
    })
    .await;
    // [BL-9] lets the name through at registration: it is not a literal.
    let body = serde_json::json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid",
        "backchannel_logout_uri": format!("https://{host}:{dyn_port}/bc")});
    let r = app.http.post(app.url("/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let (id, secret) = (reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap());
    for (cid, redirect) in [(id, "https://rp.example/cb"), ("cfg", "https://cfg.example/cb")] {
        let q: Vec<(String, String)> =
            [("client_id", cid), ("redirect_uri", redirect), ("response_type", "code"), ("scope", "openid")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let loc = complete(&app, authorize(&app, &q).await, "ada@example.com").await;
        let code = param(&loc, "code").unwrap();
        let s = if cid == "cfg" { SECRET } else { secret };
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect)];
        assert_eq!(token(&app, (cid, s), &form).await.status(), 200);
    }
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    assert_eq!(app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap().status(), 200);

    until(10, "both tokens tried once", || outbox(&app).iter().filter(|r| r.attempts >= 1).count() == 2).await;
    let rows = outbox(&app);
    let dynamic = rows.iter().find(|r| r.client_id == id).unwrap();
    let error = dynamic.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("internal address"), "[BL-10] refused before connecting: {error}");
    assert_eq!(dyn_seen.load(Ordering::SeqCst), 0, "[BL-10] no connection to the internal address");
    assert!(cfg_seen.load(Ordering::SeqCst) >= 1, "a config client's URI is trusted as given (and was called)");
}

#[actix_web::test]
async fn bl_11_the_first_sweep_after_an_upgrade_tells_no_app_about_sessions_that_ended_long_ago() {
    let a = Receiver::start().await;
    let c = ClientBuilder::confidential("a", SECRET)
        .redirect("https://a.example/cb")
        .scopes(&["openid"])
        .skip_consent()
        .backchannel_logout(&a.uri(), true);
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![c.build()];
        s.backchannel_logout.poll_interval_ms = 50;
    })
    .await;
    let sign_in = |browser: TestApp| async move {
        let q: Vec<(String, String)> = [
            ("client_id", "a"),
            ("redirect_uri", "https://a.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let loc = complete(&browser, authorize(&browser, &q).await, "ada@example.com").await;
        let code = param(&loc, "code").unwrap();
        let form =
            [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", "https://a.example/cb")];
        let t: Value = token(&browser, ("a", SECRET), &form).await.json().await.unwrap();
        let (_, id) = verify_jwt(&browser, t["id_token"].as_str().unwrap()).await;
        id["sid"].as_str().unwrap().to_string()
    };
    // A session from long before the upgrade (no sweeper ran since: the broker had no logout then)…
    let old_sid = sign_in(app.view()).await;
    let (ttl, window) =
        (app.state.settings().session.ttl_secs, app.state.settings().backchannel_logout.give_up_after_secs);
    app.clock.advance(ttl + window + 3600);
    // …and one that expired just now.
    let new_sid = sign_in(app.view()).await;
    app.clock.advance(ttl + 1);
    bridgekeeper::sweeper::sweep_once(&app.state).await.unwrap();
    until(5, "the recently expired session's app is told", || !a.tokens().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sids: Vec<String> = a.tokens().iter().map(|t| verify_jwt_claim(t, "sid")).collect();
    assert_eq!(sids, vec![new_sid], "[BL-11] nothing about the session that ended long ago ({old_sid})");
    verified_logout_token(&app, &a.tokens()[0], "a").await;
    assert!(outbox(&app).is_empty());
    let ended = {
        use bridgekeeper::store::schema::sessions;
        use diesel::prelude::*;
        sessions::table
            .filter(sessions::revoked_at.is_null())
            .count()
            .get_result::<i64>(&mut *app.state.db.conn().unwrap())
            .unwrap()
    };
    assert_eq!(ended, 0, "both sessions are ended all the same");
}

#[actix_web::test]
async fn ul_9_an_unknown_upstream_key_is_fetched_once_for_many_tokens_and_at_most_every_30_seconds() {
    use common::fake_idp::{CLIENT_ID, FakeIdp};
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "backchannel_logout = true")).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| s.providers_dir = providers).await;
    let token = |rogue: bool| {
        let now = app.clock.now();
        let claims = serde_json::json!({"iss": idp.base, "aud": CLIENT_ID, "iat": now, "sub": "upstream-sub-1",
            "jti": bridgekeeper::secret::random_token_bytes(12), "events": {EVENT: {}}});
        idp.sign("logout+jwt", &claims, rogue)
    };
    let post = |t: String| {
        let url = app.url("/backchannel/acme");
        let http = app.http.clone();
        async move {
            let r = http.post(url).form(&[("logout_token", t)]).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(!body.contains("keys cannot be fetched"), "{body}");
            status
        }
    };
    let many = |rogue: bool| futures_util::future::join_all((0..20).map(|_| post(token(rogue))));
    let fetches = || idp.state.lock().unwrap().jwks_requests;

    assert_eq!(post(token(false)).await, 200, "the keys as discovered");
    let before = fetches();
    idp.rotate_key();
    let answers = many(false).await;
    // Believed: 200, or 503 when twenty concurrent writers found SQLite busy (the store, after the signature).
    let believed = answers.iter().all(|s| *s == 200 || *s == 503) && answers.contains(&200);
    assert!(believed, "[UL-9] the rotated key is fetched and believed: {answers:?}");
    assert_eq!(fetches(), before + 1, "[UL-9] twenty tokens with a new kid, one JWKS fetch");

    // A forger's tokens (signed with another key under the upstream's kid): refused, and they cannot make the
    // broker hammer the upstream: no fetch within 30 s of the last one, then one for all of them.
    assert!(many(true).await.iter().all(|s| *s == 400));
    assert_eq!(fetches(), before + 1, "[UL-9] no refetch within 30 s of the last");
    app.clock.advance(31);
    assert!(many(true).await.iter().all(|s| *s == 400));
    assert_eq!(fetches(), before + 2, "[UL-9] one refetch per provider per 30 s, however many tokens");
}

#[actix_web::test]
async fn ul_9_a_genuine_token_held_back_by_the_refetch_limit_is_answered_temporarily_unavailable() {
    use base64::Engine;
    use common::fake_idp::{CLIENT_ID, FakeIdp};
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "backchannel_logout = true")).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| s.providers_dir = providers).await;
    let claims = |now: i64| {
        serde_json::json!({"iss": idp.base, "aud": CLIENT_ID, "iat": now, "sub": "upstream-sub-1",
            "jti": bridgekeeper::secret::random_token_bytes(12), "events": {EVENT: {}}})
    };
    let post = |t: String| {
        let (url, http) = (app.url("/backchannel/acme"), app.http.clone());
        async move {
            let r = http.post(url).form(&[("logout_token", t)]).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };
    assert_eq!(post(idp.sign("logout+jwt", &claims(app.clock.now()), false)).await.0, 200);
    // A forger's token under a kid the upstream never had: it spends the refetch of this 30 s window.
    let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = serde_json::json!({"alg": "RS256", "typ": "logout+jwt", "kid": "forged"});
    let body = claims(app.clock.now()).to_string();
    let forged = format!("{}.{}.{}", enc(header.to_string().as_bytes()), enc(body.as_bytes()), enc(&[7u8; 256]));
    assert_eq!(post(forged).await.0, 400);

    // The upstream really rotates its key 5 s later: its genuine token cannot be checked yet. Not a final
    // refusal (the upstream would not send it again), but "try later".
    idp.rotate_key();
    app.clock.advance(5);
    let (status, body) = post(idp.sign("logout+jwt", &claims(app.clock.now()), false)).await;
    assert_eq!(status, 503, "[UL-9] held back by the refetch limit: {body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    app.clock.advance(26);
    assert_eq!(post(idp.sign("logout+jwt", &claims(app.clock.now()), false)).await.0, 200, "the window passed");
}

/// An app's logout endpoint that takes every connection and answers only when released (one answer per permit).
struct Held {
    port: u16,
    accepted: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Semaphore>,
}

impl Held {
    async fn start() -> Held {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (accepted, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let (count, gate) = (accepted.clone(), release.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = l.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let gate = gate.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    gate.acquire().await.unwrap().forget();
                    let _ =
                        socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                });
            }
        });
        Held { port, accepted, release }
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/bc", self.port)
    }
}

fn app_client(id: &str, uri: &str) -> ClientBuilder {
    ClientBuilder::confidential(id, SECRET)
        .redirect(&format!("https://{id}.example/cb"))
        .scopes(&["openid"])
        .skip_consent()
        .backchannel_logout(uri, true)
}

/// Signs in at each of `apps` in this browser, then signs out at the confirmation page.
async fn session_of(app: &TestApp, apps: &[&str]) {
    for id in apps {
        let redirect = format!("https://{id}.example/cb");
        let q: Vec<(String, String)> =
            [("client_id", *id), ("redirect_uri", &redirect), ("response_type", "code"), ("scope", "openid")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let loc = complete(app, authorize(app, &q).await, "ada@example.com").await;
        let code = param(&loc, "code").unwrap();
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect.as_str())];
        assert_eq!(token(app, (id, SECRET), &form).await.status(), 200);
    }
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    assert_eq!(app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap().status(), 200);
}

#[actix_web::test]
async fn bl_12_a_slow_app_does_not_hold_up_the_others() {
    let slow = Held::start().await;
    let fast: Vec<Receiver> = futures_util::future::join_all((0..3).map(|_| Receiver::start())).await;
    let mut clients = vec![app_client("slow", &slow.uri())];
    clients.extend(fast.iter().enumerate().map(|(i, r)| app_client(&format!("fast{i}"), &r.uri())));
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = clients.into_iter().map(ClientBuilder::build).collect();
        s.backchannel_logout.poll_interval_ms = 50;
        s.backchannel_logout.timeout_secs = 20;
        s.backchannel_logout.batch = 1;
    })
    .await;
    session_of(&app.view(), &["slow"]).await;
    until(5, "the slow app was called", || slow.accepted.load(Ordering::SeqCst) == 1).await;
    app.clock.advance(1);
    session_of(&app.view(), &["fast0", "fast1", "fast2"]).await;
    until(5, "[BL-12] the other apps are told while the slow one has not answered", || {
        fast.iter().all(|r| r.tokens().len() == 1)
    })
    .await;
    until(5, "their rows are gone", || outbox(&app).len() == 1).await;
    slow.release.add_permits(1);
    until(5, "the slow app's row goes once it answered", || outbox(&app).is_empty()).await;
}

#[actix_web::test]
async fn bl_12_at_most_concurrency_deliveries_are_in_flight() {
    let held: Vec<Held> = futures_util::future::join_all((0..3).map(|_| Held::start())).await;
    let clients: Vec<ClientBuilder> =
        held.iter().enumerate().map(|(i, h)| app_client(&format!("h{i}"), &h.uri())).collect();
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = clients.into_iter().map(ClientBuilder::build).collect();
        s.backchannel_logout.poll_interval_ms = 50;
        s.backchannel_logout.timeout_secs = 20;
        s.backchannel_logout.concurrency = 2;
    })
    .await;
    session_of(&app, &["h0", "h1", "h2"]).await;
    let calls = || held.iter().map(|h| h.accepted.load(Ordering::SeqCst)).sum::<usize>();
    until(5, "two deliveries under way", || calls() == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(calls(), 2, "[BL-12] no third while two are in flight");
    for h in &held {
        h.release.add_permits(1);
    }
    until(5, "the third goes once a slot is free", || calls() == 3).await;
    until(5, "all delivered", || outbox(&app).is_empty()).await;
}
