//! A broker started from a config file in a temporary folder (providers in `providers/`), reloaded through the
//! admin API, and sign-ins through it driven to the app's code (the reload tests, issue #16).
#![allow(dead_code)]

use serde_json::Value;

use super::TestApp;
use super::oauth::*;

/// The secret of the admin client `ops` in every broker of this module.
pub const ADMIN_SECRET: &str = "admin-secret-for-reload";

/// The config file of a running broker: exactly what it runs with (so a reload changes only what a test writes),
/// the admin client `ops`, the app `app` (no consent page), `extra` as tables before the clients.
pub fn file_for(s: &bridgekeeper::settings::Settings, top: &str, extra: &str) -> String {
    format!(
        "issuer = \"{}\"\nbind = \"{}\"\ndatabase_url = \"{}\"\nencryption_keys = \"{}\"\ndev_mode = true\nproviders_dir = \"providers\"\n{top}\n[database]\nconnect_timeout_secs = 5\n{extra}\n[[clients]]\nclient_id = \"ops\"\nclient_secret = \"{ADMIN_SECRET}\"\nallowed_scopes = [\"admin\"]\ngrant_types = [\"client_credentials\"]\nredirect_uris = []\n\n[[clients]]\nclient_id = \"app\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"{RP}\"]\nallowed_scopes = [\"openid\", \"profile\", \"email\"]\ngrant_types = [\"authorization_code\", \"refresh_token\"]\nskip_consent = true\n",
        s.issuer,
        s.bind,
        s.database_url,
        super::TEST_ENCRYPTION_KEYS,
    )
}

/// A broker started from a config file in `dir` (providers in `dir/providers`), with an admin token.
pub struct Broker {
    pub app: TestApp,
    pub dir: tempfile::TempDir,
    pub admin: String,
    /// The running settings, as the file states them.
    pub settings: bridgekeeper::settings::Settings,
}

impl Broker {
    pub async fn start(providers: &[(&str, String)]) -> Broker {
        Self::start_with(providers, "").await
    }

    /// A broker whose config file has the tables `extra` from the start.
    pub async fn start_with(providers: &[(&str, String)], extra: &str) -> Broker {
        Self::start_full(providers, "", extra).await
    }

    /// A broker whose config file has the `top` keys from the start.
    pub async fn start_with_top(providers: &[(&str, String)], top: &str) -> Broker {
        Self::start_full(providers, top, "").await
    }

    async fn start_full(providers: &[(&str, String)], top: &str, extra: &str) -> Broker {
        let (top, extra) = (top.to_string(), extra.to_string());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("providers")).unwrap();
        for (name, text) in providers {
            std::fs::write(dir.path().join("providers").join(name), text).unwrap();
        }
        let cfg = dir.path().join("config.toml");
        let (file, seen) = (cfg.clone(), std::sync::Arc::new(std::sync::Mutex::new(None)));
        let keep = seen.clone();
        let app = TestApp::spawn_with(move |s| {
            std::fs::write(&file, file_for(s, &top, &extra)).unwrap();
            *s = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
            *keep.lock().unwrap() = Some(s.clone());
        })
        .await;
        let settings = seen.lock().unwrap().take().unwrap();
        let admin = admin_token(&app).await;
        Broker { app, dir, admin, settings }
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join("providers").join(name), text).unwrap();
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join("providers").join(name)).unwrap();
    }

    /// Rewrites the config file with `top` keys and `extra` tables.
    pub fn config(&self, top: &str, extra: &str) {
        std::fs::write(self.dir.path().join("config.toml"), file_for(&self.settings, top, extra)).unwrap();
    }

    pub async fn reload(&self) -> (u16, Value) {
        let r = post_reload(&self.app, &self.admin).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

/// Starts a sign-in at `provider` for the app and plays the upstream; returns the callback URL, not yet visited.
pub async fn begin_at(app: &TestApp, provider: &str) -> String {
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
pub async fn finish(app: &TestApp, mut r: reqwest::Response) -> u16 {
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

pub async fn users(app: &TestApp) -> usize {
    app.state.db.run(|c| bridgekeeper::store::users::list(c, 1000, 0)).await.unwrap().len()
}

/// An access token of the admin client `ops` (scope `admin`).
pub async fn admin_token(app: &TestApp) -> String {
    let r = token(app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    assert_eq!(r.status(), 200, "the admin client `ops`");
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

/// `POST /admin/api/reload` with the admin token `admin`.
pub async fn post_reload(app: &TestApp, admin: &str) -> reqwest::Response {
    app.http.post(app.url("/admin/api/reload")).bearer_auth(admin).send().await.unwrap()
}

/// The app started from the config file `file` on `db`, with the test's issuer, bind and encryption keys (the
/// file names none of them), then `tweak`.
pub async fn spawn_from_file(
    db: super::TestDb,
    file: &std::path::Path,
    tweak: impl FnOnce(&mut bridgekeeper::settings::Settings),
) -> TestApp {
    let file = file.to_path_buf();
    TestApp::spawn_on(db, move |s| {
        let mut loaded = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
        (loaded.issuer, loaded.bind) = (s.issuer.clone(), s.bind.clone());
        loaded.encryption_keys = s.encryption_keys.clone();
        tweak(&mut loaded);
        *s = loaded;
    })
    .await
}

/// `brand/` and `providers/` in `dir`, with the dev provider when `dev`.
pub fn folders(dir: &std::path::Path, dev: bool) {
    std::fs::create_dir_all(dir.join("brand")).unwrap();
    std::fs::create_dir_all(dir.join("providers")).unwrap();
    if dev {
        std::fs::write(dir.join("providers/dev.toml"), "kind = \"dev\"\n").unwrap();
    }
}

/// Makes `s` what `dir/config.toml` says once written from `s` (with `top` keys; providers in `dir/providers`),
/// so that a reload reads that file.
pub fn from_file(s: &mut bridgekeeper::settings::Settings, dir: &std::path::Path, top: &str) {
    let file = dir.join("config.toml");
    std::fs::write(&file, file_for(s, top, "")).unwrap();
    *s = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
}

/// `POST /admin/api/reload`: its status and answer.
pub async fn reload(app: &TestApp, admin: &str) -> (u16, Value) {
    let r = post_reload(app, admin).await;
    (r.status().as_u16(), r.json().await.unwrap())
}
