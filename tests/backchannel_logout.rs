//! OpenID Connect Back-Channel Logout 1.0, the broker as OP (security.md [BL-1]…[BL-6]): when a broker session
//! ends, every app that got an ID token in it receives one Logout Token that verifies against the broker's JWKS,
//! durably (outbox), with retries for an app that is down, once, from however many instances.

mod common;

use std::time::Duration;

use bridgekeeper::settings::StaticClient;
use common::TestApp;
use common::backchannel::*;
use common::oauth::*;
use serde_json::Value;

fn client(id: &str, backchannel: Option<String>) -> StaticClient {
    StaticClient {
        client_id: id.into(),
        client_secret: Some(bridgekeeper::secret::Secret::new(SECRET)),
        redirect_uris: vec![format!("https://{id}.example/cb")],
        post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
        allowed_scopes: vec!["openid".into(), "email".into(), "offline_access".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        skip_consent: true,
        backchannel_logout_uri: backchannel,
        backchannel_logout_session_required: true,
        ..Default::default()
    }
}

async fn spawn(clients: Vec<StaticClient>) -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = clients;
        s.backchannel_logout.poll_interval_ms = 100;
        s.backchannel_logout.timeout_secs = 2;
    })
    .await
}

/// Signs in (or, with a session, just authorizes) at app `cid` in this browser; returns the token response.
async fn sign_in(app: &TestApp, cid: &str, scope: &str) -> Value {
    let redirect = format!("https://{cid}.example/cb");
    let q: Vec<(String, String)> = [
        ("client_id", cid),
        ("redirect_uri", redirect.as_str()),
        ("response_type", "code"),
        ("scope", scope),
        ("state", "s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let loc = complete(app, authorize(app, &q).await, "ada@example.com").await;
    let code = param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    let r = token(
        app,
        (cid, SECRET),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect)],
    )
    .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// [MT-3] `bridgekeeper_backchannel_logout_deliveries_total{client, outcome}`.
fn deliveries(app: &TestApp, client: &str, outcome: &str) -> u64 {
    app.state.metrics.backchannel_deliveries.with_label_values(&[client, outcome]).get()
}

fn outbox_len(app: &TestApp) -> usize {
    bridgekeeper::store::outbox::list(&mut app.state.db.conn().unwrap()).unwrap().len()
}

#[actix_web::test]
async fn bl_1_to_5_one_logout_reaches_every_app_of_the_session_and_a_down_app_once_it_returns() {
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let mut c = Receiver::down();
    let app = spawn(vec![
        client("a", Some(a.uri())),
        client("b", Some(b.uri())),
        client("c", Some(c.uri())),
        client("quiet", None),
    ])
    .await;
    let ta = sign_in(&app, "a", "openid email").await;
    let tb = sign_in(&app, "b", "openid offline_access").await;
    sign_in(&app, "c", "openid").await;
    sign_in(&app, "quiet", "openid").await;
    let (_, ida) = verify_jwt(&app, ta["id_token"].as_str().unwrap()).await;
    let (_, idb) = verify_jwt(&app, tb["id_token"].as_str().unwrap()).await;
    let sid = ida["sid"].as_str().expect("[BL-3] ID tokens carry sid").to_string();
    assert_eq!(idb["sid"], sid.as_str(), "one session, one sid");

    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", ta["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "https://a.example/bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the app's own hint signs out at once");
    until(5, "a and b get their tokens while c is down", || a.tokens().len() == 1 && b.tokens().len() == 1).await;
    for (r, aud) in [(&a, "a"), (&b, "b")] {
        let claims = verified_logout_token(&app, &r.tokens()[0], aud).await;
        assert_eq!(claims["sid"], sid.as_str(), "[BL-3] the sid of the app's ID tokens");
        assert_eq!(claims["sub"], ida["sub"]);
    }
    until(5, "c's token waits in the outbox after a failed attempt", || {
        let rows = bridgekeeper::store::outbox::list(&mut app.state.db.conn().unwrap()).unwrap();
        rows.len() == 1 && rows[0].client_id == "c" && rows[0].attempts == 1 && rows[0].claimed_until == 0
    })
    .await;

    // [RT-5] The grant without offline_access ended; the offline one survives the logout.
    assert_eq!(userinfo(&app, ta["access_token"].as_str().unwrap()).await.status(), 401);
    let rt = tb["refresh_token"].as_str().unwrap();
    let r = token(&app, ("b", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!(r.status(), 200, "offline_access survives logout");

    c.up();
    app.clock.advance(6);
    app.state.logout_wake.notify_one();
    until(10, "c gets its token after it comes back", || c.tokens().len() == 1).await;
    verified_logout_token(&app, &c.tokens()[0], "c").await;
    until(5, "the outbox empties", || outbox_len(&app) == 0).await;
    until(5, "[MT-3] every delivery is counted", || {
        (deliveries(&app, "a", "delivered"), deliveries(&app, "b", "delivered"), deliveries(&app, "c", "delivered"))
            == (1, 1, 1)
    })
    .await;
    assert!(deliveries(&app, "c", "retry") >= 1, "c's failed attempt is counted");
    assert_eq!(deliveries(&app, "a", "retry"), 0);
    app.clock.advance(3600);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!((a.tokens().len(), b.tokens().len(), c.tokens().len()), (1, 1, 1), "none gets two");
    let jtis: std::collections::BTreeSet<String> =
        [&a, &b, &c].iter().map(|r| verify_jwt_claim(&r.tokens()[0], "jti")).collect();
    assert_eq!(jtis.len(), 3);
}

#[actix_web::test]
async fn bl_4_signing_out_on_the_account_page_fans_out() {
    let a = Receiver::start().await;
    let app = spawn(vec![client("a", Some(a.uri()))]).await;
    sign_in(&app, "a", "openid").await;
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    let r = app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    until(5, "the app is told", || a.tokens().len() == 1).await;
    verified_logout_token(&app, &a.tokens()[0], "a").await;
}

#[actix_web::test]
async fn bl_4_an_admin_disabling_the_user_fans_out_to_every_session() {
    let a = Receiver::start().await;
    let ops = StaticClient {
        client_id: "ops".into(),
        client_secret: Some(bridgekeeper::secret::Secret::new(SECRET)),
        allowed_scopes: vec!["admin".into()],
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    };
    let app = spawn(vec![client("a", Some(a.uri())), ops]).await;
    let t = sign_in(&app, "a", "openid").await;
    sign_in(&app.view(), "a", "openid").await; // a second browser: a second session of the same user
    let (_, id) = verify_jwt(&app, t["id_token"].as_str().unwrap()).await;
    let r = token(&app, ("ops", SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let admin: Value = r.json().await.unwrap();
    let r = app
        .http
        .post(app.url(&format!("/admin/api/users/{}/disable", id["sub"].as_str().unwrap())))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    until(5, "both sessions are told", || a.tokens().len() == 2).await;
    let mut sids = Vec::new();
    for t in a.tokens() {
        sids.push(verified_logout_token(&app, &t, "a").await["sid"].as_str().unwrap().to_string());
    }
    assert_ne!(sids[0], sids[1], "one token per session");
}

#[actix_web::test]
async fn bl_4_the_sweeper_tells_the_apps_of_a_session_that_expired() {
    let a = Receiver::start().await;
    let app = spawn(vec![client("a", Some(a.uri()))]).await;
    sign_in(&app, "a", "openid").await;
    app.clock.advance(app.state.settings().session.ttl_secs + 1);
    bridgekeeper::sweeper::sweep_once(&app.state).await.unwrap();
    until(5, "the app is told", || a.tokens().len() == 1).await;
    verified_logout_token(&app, &a.tokens()[0], "a").await;
    bridgekeeper::sweeper::sweep_once(&app.state).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.tokens().len(), 1, "a second sweep tells nobody again");
}

#[actix_web::test]
async fn bl_5_a_crash_before_delivery_loses_nothing_and_two_instances_deliver_each_token_once() {
    let a = Receiver::start().await;
    // The first instance ends sessions but never delivers (as if killed right after the commit).
    let first = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![client("a", Some(a.uri()))];
        s.backchannel_logout.poll_interval_ms = 0;
    })
    .await;
    for _ in 0..12 {
        let browser = first.view();
        sign_in(&browser, "a", "openid").await;
        let page = browser.http.get(browser.url("/logout")).send().await.unwrap().text().await.unwrap();
        let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
        assert_eq!(browser.http.post(browser.url("/logout/confirm")).form(&form).send().await.unwrap().status(), 200);
    }
    assert_eq!(outbox_len(&first), 12);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.tokens().is_empty());
    let db = first.db.share();
    first.stop().await;
    // Two instances come up on the same database and race for the rows.
    let tweak = |s: &mut bridgekeeper::settings::Settings| {
        s.dev_mode = true;
        s.clients = vec![client("a", Some(a.uri()))];
        s.backchannel_logout.poll_interval_ms = 20;
        s.backchannel_logout.batch = 2;
    };
    let one = TestApp::spawn_on(db.share(), tweak).await;
    let two = TestApp::spawn_on(db, tweak).await;
    until(10, "all twelve are delivered", || a.tokens().len() >= 12).await;
    until(5, "the outbox empties", || outbox_len(&one) == 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jtis: std::collections::BTreeSet<String> = a.tokens().iter().map(|t| verify_jwt_claim(t, "jti")).collect();
    assert_eq!((a.tokens().len(), jtis.len()), (12, 12), "each token exactly once");
    two.stop().await;
    one.stop().await;
}

#[actix_web::test]
async fn bl_6_md_8_discovery_advertises_back_channel_logout_and_bad_uris_are_refused() {
    let app = spawn(vec![]).await;
    let d: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    let toml = format!(
        "[[clients]]\nclient_id = \"x\"\nredirect_uris = [\"https://x.example/cb\"]\nbackchannel_logout_uri = \"{}\"\n",
        "http://app.example/bc"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bk.toml");
    std::fs::write(&f, toml).unwrap();
    let err = bridgekeeper::settings::Settings::load_with_env(Some(&f), &[]).unwrap_err().to_string();
    assert!(err.contains("backchannel_logout_uri") && err.contains("loopback"), "{err}");
    let now = app.clock.now();
    let bad = bridgekeeper::accounts::clients::NewClient {
        name: "x".into(),
        redirect_uris: vec!["https://x.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        allowed_scopes: vec!["openid".into()],
        backchannel_logout_uri: Some("https://x.example/bc#frag".into()),
        ..Default::default()
    };
    let r = bridgekeeper::accounts::clients::create(&app.state.db, &app.state.settings(), bad, now).await;
    assert!(matches!(r, Err(bridgekeeper::accounts::clients::ClientError::InvalidRedirect(_))), "{r:?}");
}

#[actix_web::test]
async fn bl_5_an_app_that_stays_down_is_given_up_after_the_window_with_an_audit_event() {
    let down = Receiver::down();
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![client("a", Some(down.uri()))];
        s.backchannel_logout.poll_interval_ms = 50;
        s.backchannel_logout.give_up_after_secs = 100;
    })
    .await;
    sign_in(&app, "a", "openid").await;
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    assert_eq!(app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap().status(), 200);
    let attempts = || bridgekeeper::store::outbox::list(&mut app.state.db.conn().unwrap()).unwrap();
    until(5, "a first failed attempt", || attempts().first().is_some_and(|r| r.attempts == 1 && r.claimed_until == 0))
        .await;
    app.clock.advance(50);
    until(5, "a second failed attempt", || attempts().first().is_some_and(|r| r.attempts == 2 && r.claimed_until == 0))
        .await;
    assert!(attempts()[0].last_error.is_some());
    app.clock.advance(100);
    until(5, "the token is given up", || attempts().is_empty()).await;
    let events = bridgekeeper::store::audit::list(&mut app.state.db.conn().unwrap(), 50).unwrap();
    let gave_up = events.iter().find(|e| e.event == "backchannel_logout_abandoned").expect("audit event");
    assert_eq!(gave_up.client_id.as_deref(), Some("a"));
    until(5, "[MT-3] the abandoned token is counted", || deliveries(&app, "a", "abandoned") == 1).await;
    assert_eq!((deliveries(&app, "a", "retry"), deliveries(&app, "a", "delivered")), (2, 0));
    let text = String::from_utf8(app.state.metrics.render()).unwrap();
    assert!(text.contains(r#"bridgekeeper_backchannel_logout_deliveries_total{client="a",outcome="abandoned"} 1"#));
}

#[actix_web::test]
async fn bl_6_dynamic_registration_records_and_echoes_the_back_channel_uri_and_refuses_a_bad_one() {
    let app = TestApp::spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.open = true;
    })
    .await;
    let body = |uri: &str| {
        serde_json::json!({
            "redirect_uris": ["https://rp.example/cb"],
            "backchannel_logout_uri": uri,
            "backchannel_logout_session_required": true,
        })
    };
    let r = app.http.post(app.url("/register")).json(&body("https://rp.example/bc")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["backchannel_logout_uri"], "https://rp.example/bc");
    assert_eq!(m["backchannel_logout_session_required"], true);
    let id = m["client_id"].as_str().unwrap().to_string();
    let stored = app.state.db.run(move |c| bridgekeeper::store::clients::find(c, &id)).await.unwrap().unwrap();
    assert_eq!(stored.backchannel_logout_uri.as_deref(), Some("https://rp.example/bc"));
    for bad in ["http://rp.example/bc", "https://rp.example/bc#x", "javascript:alert(1)"] {
        let r = app.http.post(app.url("/register")).json(&body(bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_client_metadata", "{bad}");
    }
}

#[actix_web::test]
async fn bl_9_a_self_registered_client_cannot_aim_logout_tokens_at_internal_addresses() {
    let app = TestApp::spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.open = true;
    })
    .await;
    let internal = [
        "http://127.0.0.1:8080/bc",
        "https://127.0.0.1/bc",
        "https://localhost/bc",
        "https://10.1.2.3/bc",
        "https://172.16.5.5/bc",
        "https://192.168.0.10/bc",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/bc",
        "https://[fd00::1]/bc",
        "https://[fe80::1]/bc",
    ];
    for bad in internal {
        let body = serde_json::json!({"redirect_uris": ["https://rp.example/cb"], "backchannel_logout_uri": bad});
        let r = app.http.post(app.url("/register")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_client_metadata", "{bad}");
        // The portal's service layer refuses it as a form error.
        let portal = bridgekeeper::accounts::clients::NewClient {
            name: "p".into(),
            source: "portal".into(),
            redirect_uris: vec!["https://p.example/cb".into()],
            grant_types: vec!["authorization_code".into()],
            allowed_scopes: vec!["openid".into()],
            backchannel_logout_uri: Some(bad.into()),
            ..Default::default()
        };
        let r = bridgekeeper::accounts::clients::create(&app.state.db, &app.state.settings(), portal, app.clock.now())
            .await;
        assert!(matches!(r, Err(bridgekeeper::accounts::clients::ClientError::Invalid(_))), "{bad}: {r:?}");
    }
    // The admin's own clients keep the loopback receivers tests and local setups use.
    let admin = bridgekeeper::accounts::clients::NewClient {
        name: "a".into(),
        source: "api".into(),
        redirect_uris: vec!["https://a.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        allowed_scopes: vec!["openid".into()],
        backchannel_logout_uri: Some("http://127.0.0.1:8080/bc".into()),
        ..Default::default()
    };
    assert!(
        bridgekeeper::accounts::clients::create(&app.state.db, &app.state.settings(), admin, app.clock.now())
            .await
            .is_ok()
    );
}

#[test]
fn bl_6_the_cli_records_a_back_channel_logout_uri_and_refuses_a_bad_one() {
    let db = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, format!("database_url = \"{}\"\n", db.url)).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
            .env_remove("RUST_LOG")
            .args(["--config", f.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let add = |uri: &str| {
        run(&[
            "clients",
            "add",
            "--name",
            "A",
            "--id",
            "cli-bc",
            "--redirect-uri",
            "https://a.example/cb",
            "--backchannel-logout-uri",
            uri,
        ])
    };
    assert!(!add("http://a.example/bc").0, "http only on loopback");
    let (ok, _) = add("https://a.example/bc");
    assert!(ok);
    let (_, shown) = run(&["clients", "show", "cli-bc"]);
    assert!(shown.contains("backchannel_logout_uri: https://a.example/bc"), "{shown}");
}

#[actix_web::test]
async fn bl_6_the_admin_api_sets_shows_and_removes_the_back_channel_logout_uri() {
    let ops = StaticClient {
        client_id: "ops".into(),
        client_secret: Some(bridgekeeper::secret::Secret::new(SECRET)),
        allowed_scopes: vec!["admin".into()],
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    };
    let app = spawn(vec![ops]).await;
    let r = token(&app, ("ops", SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let admin = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let create = |uri: &str| {
        serde_json::json!({"client_id": "api-bc", "name": "API app", "redirect_uris": ["https://api.example/cb"],
                           "backchannel_logout_uri": uri, "backchannel_logout_session_required": true})
    };
    let post = |body: Value| app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&body).send();
    assert_eq!(post(create("http://api.example/bc")).await.unwrap().status(), 400, "http only on loopback");
    let r = post(create("https://api.example/bc")).await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["client"]["backchannel_logout_uri"], "https://api.example/bc");
    assert_eq!(v["client"]["backchannel_logout_session_required"], true);
    let r = app
        .http
        .patch(app.url("/admin/api/clients/api-bc"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"backchannel_logout_uri": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["backchannel_logout_uri"].is_null(), "\"\" removes it");
}

/// Signs out at the `/logout` confirmation in this browser.
async fn sign_out(app: &TestApp) {
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    assert_eq!(app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap().status(), 200);
}

#[actix_web::test]
async fn bl_7_a_queued_token_goes_only_where_the_client_still_wants_it() {
    let mut rs: Vec<Receiver> = (0..5).map(|_| Receiver::down()).collect();
    let ids = ["kept", "cleared", "moved", "disabled", "deleted"];
    let app = spawn(ids.iter().zip(&rs).map(|(id, r)| client(id, Some(r.uri()))).collect()).await;
    for id in ids {
        sign_in(&app, id, "openid").await;
    }
    sign_out(&app).await;
    let rows = || bridgekeeper::store::outbox::list(&mut app.state.db.conn().unwrap()).unwrap();
    until(5, "five failed first attempts", || {
        rows().iter().filter(|r| r.attempts == 1 && r.claimed_until == 0).count() == 5
    })
    .await;
    use bridgekeeper::accounts::clients::{ClientUpdate, delete, update};
    let (db, s, now) = (&app.state.db, &app.state.settings(), app.clock.now());
    let set_uri = |uri: Option<String>| ClientUpdate { backchannel_logout_uri: Some(uri), ..Default::default() };
    update(db, s, "cleared", set_uri(None), now).await.unwrap();
    update(db, s, "moved", set_uri(Some(rs[0].uri())), now).await.unwrap();
    update(db, s, "disabled", ClientUpdate { disabled: Some(true), ..Default::default() }, now).await.unwrap();
    delete(db, "deleted").await.unwrap();
    for r in &mut rs {
        r.up();
    }
    app.clock.advance(6);
    app.state.logout_wake.notify_one();
    until(10, "the outbox empties", || rows().is_empty()).await;
    until(5, "the kept client is told", || rs[0].tokens().len() == 1).await;
    verified_logout_token(&app, &rs[0].tokens()[0], "kept").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: Vec<usize> = rs.iter().map(|r| r.tokens().len()).collect();
    assert_eq!(got, [1, 0, 0, 0, 0], "only the client whose URI is unchanged is told");
}
