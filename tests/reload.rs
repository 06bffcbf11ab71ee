//! Issue #16, safe reload through the admin API (`POST /admin/api/reload`, as SIGHUP does; the SIGHUP path of
//! the real binary is in `service.rs`).

mod common;

use common::TestApp;
use common::oauth::*;
use serde_json::Value;

const ADMIN_SECRET: &str = "admin-secret-for-reload";

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
    assert_eq!(body["applied"], serde_json::json!(["templates", "clients"]), "{body}");
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

/// [HR-1] Secrets print as `[redacted]`: a rotated one must still be seen as a change that needs a restart,
/// never reported as nothing to do (review finding).
#[actix_web::test]
async fn hr_1_a_rotated_secret_is_named_as_needing_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_db();
    let cfg = dir.path().join("config.toml");
    // The file says exactly what the running broker uses, so only the rotation differs.
    let file_for = |s: &bridgekeeper::settings::Settings, iat: &str| {
        format!(
            "issuer = \"{}\"\nbind = \"{}\"\nencryption_keys = \"{}\"\n{}\n[registration]\ninitial_access_token = \"{iat}\"\n",
            s.issuer,
            s.bind,
            common::TEST_ENCRYPTION_KEYS,
            config(&s.database_url, false)
        )
    };
    std::fs::create_dir_all(dir.path().join("brand")).unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\n").unwrap();
    let file = cfg.clone();
    let app = TestApp::spawn_on(db, move |s| {
        std::fs::write(&file, file_for(s, "first-initial-access-token-0123456789")).unwrap();
        *s = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
    })
    .await;
    let r = token(&app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let admin = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let reload = || async { app.http.post(app.url("/admin/api/reload")).bearer_auth(&admin).send().await.unwrap() };
    let unchanged: Value = reload().await.json().await.unwrap();
    assert_eq!(unchanged["needs_restart"], serde_json::json!([]), "{unchanged}");
    std::fs::write(&cfg, file_for(&app.state.settings, "second-initial-access-token-9876543210")).unwrap();
    let body: Value = reload().await.json().await.unwrap();
    assert!(body["needs_restart"].to_string().contains("other settings"), "{body}");
}
