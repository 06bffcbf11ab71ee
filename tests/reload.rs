//! Issue #16, safe reload through the admin API (`POST /admin/api/reload`, as SIGHUP does; the SIGHUP path of
//! the real binary is in `service.rs`).

mod common;

use common::TestApp;
use common::fake_idp::FakeIdp;
use common::oauth::*;
use serde_json::Value;

use common::broker::{ADMIN_SECRET, Broker, file_for};

fn config(db_url: &str, extra_client: bool) -> String {
    let mut t = format!(
        "database_url = \"{db_url}\"\ndev_mode = true\ntemplates_dir = \"brand\"\n\n[[clients]]\nclient_id = \"ops\"\nclient_secret = \"{ADMIN_SECRET}\"\nallowed_scopes = [\"admin\"]\ngrant_types = [\"client_credentials\"]\nredirect_uris = []\n"
    );
    if extra_client {
        t.push_str("\n[[clients]]\nclient_id = \"late\"\nclient_secret = \"late-secret-1234\"\nallowed_scopes = [\"openid\"]\ngrant_types = [\"client_credentials\"]\nredirect_uris = []\n");
    }
    t
}

/// [HR-1] A refused reload keeps everything in force and says why (422); a valid one swaps the templates and
/// upserts new `[[clients]]` (200), naming what needs a restart.
#[actix_web::test]
async fn hr_1_admin_reload_refuses_a_broken_set_and_applies_a_valid_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_db();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, config(&db.url, false)).unwrap();
    std::fs::create_dir_all(dir.path().join("brand")).unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\n").unwrap();
    let file = cfg.clone();
    let app = TestApp::spawn_on(db, move |s| {
        let mut loaded = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
        (loaded.issuer, loaded.bind) = (s.issuer.clone(), s.bind.clone());
        loaded.encryption_keys = s.encryption_keys.clone();
        *s = loaded;
    })
    .await;
    let r = token(&app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    assert_eq!(r.status(), 200);
    let admin = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let reload = || async { app.http.post(app.url("/admin/api/reload")).bearer_auth(&admin).send().await.unwrap() };

    std::fs::write(dir.path().join("brand/login.html"), "{% if %}").unwrap();
    std::fs::write(&cfg, config(&app.db.url, true)).unwrap();
    let r = reload().await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reloaded"], false);
    assert!(body["problems"].to_string().contains("login.html"), "{body}");
    assert_eq!(app.state.metrics.config_reload_success.get(), 0);
    assert_eq!(app.http.get(app.url("/login/dev")).send().await.unwrap().status(), 200, "old templates serve");
    let late = token(&app, ("late", "late-secret-1234"), &[("grant_type", "client_credentials")]).await;
    assert_eq!(late.status(), 401, "nothing of the refused set is in force");

    std::fs::write(
        dir.path().join("brand/dev_login.html"),
        "{% extends \"base.html\" %}{% block content %}RELOADED FORM{% endblock content %}",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("brand/login.html")).unwrap();
    let r = reload().await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["applied"], serde_json::json!(["templates", "clients", "providers", "settings"]), "{body}");
    assert_eq!(app.state.metrics.config_reload_success.get(), 1);
    let page = app.http.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("RELOADED FORM"), "{page}");
    let late = token(&app, ("late", "late-secret-1234"), &[("grant_type", "client_credentials")]).await;
    assert_eq!(late.status(), 200, "the new static client is in force");
    app.stop().await;
}

/// [HR-3] With `watch_config`, a changed file is reloaded without a signal; a broken one is refused as on SIGHUP
/// (the configuration in force stays).
#[actix_web::test]
async fn hr_3_watch_config_reloads_a_changed_file_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_db();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, config(&db.url, false)).unwrap();
    std::fs::create_dir_all(dir.path().join("brand")).unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    let file = cfg.clone();
    let app = TestApp::spawn_on(db, move |s| {
        let mut loaded = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
        (loaded.issuer, loaded.bind) = (s.issuer.clone(), s.bind.clone());
        loaded.encryption_keys = s.encryption_keys.clone();
        (loaded.watch_config, loaded.watch_config_interval_ms) = (true, 100);
        *s = loaded;
    })
    .await;
    let watcher = bridgekeeper::reload::watch::spawn(app.state.clone()).expect("watch_config is on");
    let late = || token(&app, ("late", "late-secret-1234"), &[("grant_type", "client_credentials")]);
    assert_eq!(late().await.status(), 401);

    std::fs::write(&cfg, config(&app.db.url, true)).unwrap();
    // Polls the clients table (not /token: failed client authentications would run into the failure budget).
    let has_late = || bridgekeeper::store::clients::find(&mut app.state.db.conn().unwrap(), "late").unwrap().is_some();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !has_late() {
        assert!(std::time::Instant::now() < deadline, "the changed file was not reloaded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(late().await.status(), 200);

    std::fs::write(&cfg, "this is = not [toml").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.metrics.config_reload_success.get() != 0 {
        assert!(std::time::Instant::now() < deadline, "the broken file was not looked at");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(late().await.status(), 200, "the configuration in force stays");
    watcher.abort();
    app.stop().await;
}

/// [HR-2] A client taken out of `[[clients]]` stops working at the reload (disabled: its tokens die with it, as
/// for a client an admin disables), and stays disabled when it is put back in until an admin enables it.
#[actix_web::test]
async fn hr_2_a_client_removed_from_the_config_is_disabled_at_reload() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_db();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, config(&db.url, true)).unwrap();
    std::fs::create_dir_all(dir.path().join("brand")).unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\n").unwrap();
    let file = cfg.clone();
    let app = TestApp::spawn_on(db, move |s| {
        let mut loaded = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
        (loaded.issuer, loaded.bind) = (s.issuer.clone(), s.bind.clone());
        loaded.encryption_keys = s.encryption_keys.clone();
        *s = loaded;
    })
    .await;
    let r = token(&app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let admin = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let reload = || async { app.http.post(app.url("/admin/api/reload")).bearer_auth(&admin).send().await.unwrap() };
    let late = || token(&app, ("late", "late-secret-1234"), &[("grant_type", "client_credentials")]);
    let r = late().await;
    assert_eq!(r.status(), 200);
    let late_token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    // The broker's own check of a bearer token (what /userinfo and introspection use).
    let live = |t: String| {
        let state = app.state.clone();
        async move { bridgekeeper::oauth::bearer::check(&state, &t).await.unwrap().is_some() }
    };
    assert!(live(late_token.clone()).await);

    std::fs::write(&cfg, config(&app.db.url, false)).unwrap();
    assert_eq!(reload().await.status(), 200);
    assert_eq!(late().await.status(), 401, "a removed client no longer authenticates");
    assert!(!live(late_token).await, "and its tokens are dead");
    let r = token(&app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    assert_eq!(r.status(), 200, "the clients still in the file are untouched");

    std::fs::write(&cfg, config(&app.db.url, true)).unwrap();
    assert_eq!(reload().await.status(), 200);
    assert_eq!(late().await.status(), 401, "put back, it stays disabled: an admin enables it");
    let r = app
        .http
        .patch(app.url("/admin/api/clients/late"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(late().await.status(), 200, "enabled by the admin");
    // Taken out again at a later reload (it was put in by a reload, not at start): disabled again.
    std::fs::write(&cfg, config(&app.db.url, false)).unwrap();
    assert_eq!(reload().await.status(), 200);
    assert_eq!(late().await.status(), 401);
}

/// [HR-2] An instance that starts with an older file (a rolling deploy) disables nothing another instance's newer
/// file added: only a reload disables, and only what that instance itself had in force.
#[actix_web::test]
async fn hr_2_an_instance_starting_with_an_older_config_disables_nothing() {
    let db = common::test_db();
    let with_late = |late: bool| {
        move |s: &mut bridgekeeper::settings::Settings| {
            s.clients = vec![
                common::clients::ClientBuilder::confidential("ops", ADMIN_SECRET)
                    .scopes(&["admin"])
                    .grants(&["client_credentials"])
                    .build(),
            ];
            if late {
                s.clients.push(
                    common::clients::ClientBuilder::confidential("late", "late-secret-1234")
                        .scopes(&["openid"])
                        .grants(&["client_credentials"])
                        .build(),
                );
            }
        }
    };
    let newer = TestApp::spawn_on(db.share(), with_late(true)).await;
    let _older = TestApp::spawn_on(db, with_late(false)).await;
    let r = token(&newer, ("late", "late-secret-1234"), &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 200, "the older instance's start did not disable the newer file's client");
}

/// [HR-1] [HR-7] Secrets print as `[redacted]`: a rotated restart-only one (`encryption_keys`) must still be seen
/// as a change that needs a restart, never reported as nothing to do (review finding); a rotated live one
/// (`registration.initial_access_token`) is put in force, so it is not named.
#[actix_web::test]
async fn hr_1_a_rotated_secret_is_named_as_needing_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_db();
    let cfg = dir.path().join("config.toml");
    // The file says exactly what the running broker uses, so only the rotation differs.
    let file_for = |s: &bridgekeeper::settings::Settings, iat: &str, keys: &str| {
        format!(
            "issuer = \"{}\"\nbind = \"{}\"\nencryption_keys = \"{keys}\"\n{}\n[registration]\ninitial_access_token = \"{iat}\"\n",
            s.issuer,
            s.bind,
            config(&s.database_url, false)
        )
    };
    std::fs::create_dir_all(dir.path().join("brand")).unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\n").unwrap();
    let file = cfg.clone();
    let app = TestApp::spawn_on(db, move |s| {
        std::fs::write(&file, file_for(s, "first-initial-access-token-0123456789", common::TEST_ENCRYPTION_KEYS))
            .unwrap();
        *s = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
    })
    .await;
    let r = token(&app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let admin = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let reload = || async { app.http.post(app.url("/admin/api/reload")).bearer_auth(&admin).send().await.unwrap() };
    let unchanged: Value = reload().await.json().await.unwrap();
    assert_eq!(unchanged["needs_restart"], serde_json::json!([]), "{unchanged}");
    let rotated = "k2:CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=";
    std::fs::write(&cfg, file_for(&app.state.settings(), "second-initial-access-token-9876543210", rotated)).unwrap();
    let body: Value = reload().await.json().await.unwrap();
    assert_eq!(body["needs_restart"], serde_json::json!(["encryption_keys"]), "{body}");
    assert_eq!(app.state.settings().encryption_keys.expose(), common::TEST_ENCRYPTION_KEYS, "kept as it started");
    let iat = app.state.settings().registration.initial_access_token.expose().to_string();
    assert_eq!(iat, "second-initial-access-token-9876543210", "the live secret is in force");
}

// ---- Issue #16: providers and settings put in force by a reload ([HR-4]–[HR-7]) ----

/// Starts a sign-in at `provider` for the app and plays the upstream; returns the callback URL, not yet visited.
async fn begin_at(app: &TestApp, provider: &str) -> String {
    let r = authorize(app, &auth_query(&[("scope", "openid email"), ("prompt", "login")])).await;
    let loc = location(&r).replacen("/login?", &format!("/login/{provider}?"), 1);
    let r = app.http.get(app.url(&loc)).send().await.unwrap();
    assert_eq!(r.status(), 302, "to the upstream");
    let r = app.http.get(location(&r)).send().await.unwrap();
    let callback = location(&r);
    assert!(callback.contains(&format!("/callback/{provider}?")), "{callback}");
    callback
}

/// Follows the broker's redirects from `r` to the app; the code's token response status.
async fn finish(app: &TestApp, mut r: reqwest::Response) -> u16 {
    for _ in 0..6 {
        assert!(r.status().is_redirection(), "{}: {}", r.status(), r.text().await.unwrap());
        let loc = location(&r);
        if loc.starts_with(RP) {
            let code = param(&loc, "code").unwrap();
            let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", RP)];
            return token(app, ("app", SECRET), &form).await.status().as_u16();
        }
        r = app.http.get(if loc.starts_with('/') { app.url(&loc) } else { loc }).send().await.unwrap();
    }
    panic!("the sign-in did not finish");
}

async fn users(app: &TestApp) -> usize {
    app.state.db.run(|c| bridgekeeper::store::users::list(c, 1000, 0)).await.unwrap().len()
}

/// [HR-4] A provider file added while serving is put in force by the reload: offered on the chooser and the admin
/// API, and people sign in through it. One whose discovery fails is put in force the way start-up does it: shown
/// as down, tried again at login, and named in the answer's warnings.
#[actix_web::test]
async fn hr_4_a_provider_added_by_reload_is_offered_and_signs_in() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into())]).await;
    let chooser = || async { b.app.http.get(b.app.url("/login")).send().await.unwrap() };
    assert_eq!(chooser().await.status(), 302, "one provider: straight to it");
    b.write("acme.toml", &idp.oidc_toml("acme", ""));
    b.write("dead.toml", "kind = \"oidc\"\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"x\"\nclient_secret = \"y\"\nscopes = [\"openid\"]\n");
    let (status, body) = b.reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["providers"]["added"], serde_json::json!(["acme", "dead"]), "{body}");
    assert_eq!(body["needs_restart"], serde_json::json!([]), "{body}");
    assert!(body["warnings"].to_string().contains("dead: discovery failed"), "{body}");
    let page = chooser().await.text().await.unwrap();
    assert!(page.contains("Continue with Acme acme") && page.contains("login&#x2F;dead"), "{page}");
    let listed: Value = b
        .app
        .http
        .get(b.app.url("/admin/api/providers"))
        .bearer_auth(&b.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let health = |id: &str| listed.as_array().unwrap().iter().find(|p| p["id"] == id).map(|p| p["health"].clone());
    assert_eq!((health("acme"), health("dead")), (Some("up".into()), Some("down".into())), "{listed}");
    let callback = begin_at(&b.app, "acme").await;
    assert_eq!(finish(&b.app, b.app.http.get(&callback).send().await.unwrap()).await, 200, "signed in through it");
    assert_eq!(users(&b.app).await, 1);
}

/// [HR-6] A provider removed by a reload: the callback of a login begun through it is a readable, translated page
/// (4xx), the pending login is spent and nothing else changes; the person's identity from it stays (they just
/// cannot sign in through it) and its `upstream_up` series goes.
#[actix_web::test]
async fn hr_6_a_removed_providers_in_flight_callback_gets_a_readable_page() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into()), ("acme.toml", idp.oidc_toml("acme", ""))]).await;
    let first = begin_at(&b.app, "acme").await;
    assert_eq!(finish(&b.app, b.app.http.get(&first).send().await.unwrap()).await, 200);
    assert!(String::from_utf8_lossy(&b.app.state.metrics.render()).contains("upstream_up{provider=\"acme\"}"));
    let callback = begin_at(&b.app, "acme").await;
    b.remove("acme.toml");
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["removed"]), (200, &serde_json::json!(["acme"])), "{body}");
    let r = b.app.http.get(&callback).header("Accept-Language", "de").send().await.unwrap();
    assert_eq!(r.status(), 410);
    let page = r.text().await.unwrap();
    assert!(page.contains("Anmeldemethode entfernt"), "translated: {page}");
    let again = b.app.http.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 404, "spent: now just an unknown method");
    assert_eq!(users(&b.app).await, 1, "nothing created");
    let account = b.app.http.get(b.app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 200, "the person signed in through it still has their account");
    assert!(account.text().await.unwrap().contains("acme"), "and the identity it linked");
    assert!(!String::from_utf8_lossy(&b.app.state.metrics.render()).contains("upstream_up{provider=\"acme\"}"));
    assert_eq!(b.app.http.get(b.app.url("/login")).send().await.unwrap().status(), 302, "only dev is offered");
}

/// [HR-5] A provider changed while someone is at the upstream: that login finishes with the settings it began
/// with (the old client secret: the fake upstream accepts only it), and logins begun after the reload use the new
/// ones (the new scope is asked; the rotated secret is sent, which this upstream refuses).
#[actix_web::test]
async fn hr_5_a_login_through_a_changed_provider_keeps_the_settings_it_began_with() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into()), ("acme.toml", idp.oidc_toml("acme", ""))]).await;
    let old = begin_at(&b.app, "acme").await;
    let changed = idp.oidc_toml("acme", "").replace(common::fake_idp::CLIENT_SECRET, "rotated-secret").replace(
        "scopes = [\"openid\", \"email\", \"profile\"]",
        "scopes = [\"openid\", \"email\", \"profile\", \"phone\"]",
    );
    b.write("acme.toml", &changed);
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!(["acme"])), "{body}");
    let newer = b.app.view();
    let new = begin_at(&newer, "acme").await;
    assert!(idp.last_authorize()["scope"].contains("phone"), "a new login asks with the new settings");
    assert_eq!(finish(&b.app, b.app.http.get(&old).send().await.unwrap()).await, 200, "the old login finishes");
    let r = newer.http.get(&new).send().await.unwrap();
    assert_eq!(r.status(), 502, "the new login sends the rotated secret, which this upstream refuses");
}

/// [HR-1] [HR-4] A broken provider file refuses the whole reload: the providers in force keep serving, and the
/// answer names the file.
#[actix_web::test]
async fn hr_4_a_broken_provider_file_keeps_the_providers_in_force() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into()), ("acme.toml", idp.oidc_toml("acme", ""))]).await;
    b.write("acme.toml", "kind = \"oidc\"\nissuer = \n");
    b.write("new.toml", &idp.oidc_toml("new", ""));
    let (status, body) = b.reload().await;
    assert_eq!(status, 422, "{body}");
    assert!(body["problems"].to_string().contains("acme.toml"), "{body}");
    assert_eq!(b.app.state.metrics.config_reload_success.get(), 0);
    let page = b.app.http.get(b.app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("login&#x2F;acme") && !page.contains("login&#x2F;new"), "the old set serves: {page}");
    let callback = begin_at(&b.app, "acme").await;
    assert_eq!(finish(&b.app, b.app.http.get(&callback).send().await.unwrap()).await, 200);
}

/// [HR-7] Settings that can change while serving are put in force by a reload (an access token lifetime, the
/// default page language); restart-only ones (`issuer`) are named in `needs_restart` and not applied.
#[actix_web::test]
async fn hr_7_a_live_setting_takes_effect_and_a_restart_only_one_is_reported_and_kept() {
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into())]).await;
    let ttl = || async {
        let r = token(&b.app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
        let t: Value = r.json().await.unwrap();
        let (_, claims) = verify_jwt(&b.app, t["access_token"].as_str().unwrap()).await;
        (t["expires_in"].as_i64().unwrap(), claims["iss"].as_str().unwrap().to_string())
    };
    let unknown = || async { b.app.http.get(b.app.url("/login/nope")).send().await.unwrap().text().await.unwrap() };
    assert_eq!(ttl().await, (600, b.settings.issuer.clone()));
    assert!(unknown().await.contains("Unknown sign-in method"));
    let other_issuer = "http://127.0.0.1:1";
    let mut s = b.settings.clone();
    s.issuer = other_issuer.into();
    std::fs::write(
        b.dir.path().join("config.toml"),
        file_for(&s, "default_locale = \"de\"", "[tokens]\naccess_token_ttl_secs = 120\n"),
    )
    .unwrap();
    let (status, body) = b.reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["needs_restart"], serde_json::json!(["issuer"]), "{body}");
    assert_eq!(
        ttl().await,
        (120, b.settings.issuer.clone()),
        "the lifetime is new, the issuer the one it started with"
    );
    assert!(unknown().await.contains("Unbekannte Anmeldemethode"), "the default language is new");
    let discovery: Value =
        b.app.http.get(b.app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], b.settings.issuer.as_str());
    b.config("", "");
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["needs_restart"]), (200, &serde_json::json!([])), "back as it started: {body}");
    assert_eq!(ttl().await.0, 600);
}

/// [HR-7] A changed `[rate_limits]` budget is in force from the reload on.
#[actix_web::test]
async fn hr_7_a_changed_rate_limit_takes_effect_at_reload() {
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into())]).await;
    let forged = || async {
        b.app.http.get(b.app.url("/callback/dev?state=forged&code=x")).send().await.unwrap().status().as_u16()
    };
    for _ in 0..3 {
        assert_ne!(forged().await, 429, "the default budget is larger");
    }
    b.config("", "[rate_limits]\nfailures_per_minute = 2\naddress_failures_per_minute = 2\n");
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["needs_restart"]), (200, &serde_json::json!([])), "{body}");
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(forged().await);
    }
    assert!(seen.contains(&429), "the new budget refuses: {seen:?}");
}
