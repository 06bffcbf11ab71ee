//! A broker started from a config file (as `serve` reads it), with an admin token, for the reload tests
//! (`POST /admin/api/reload` reads that file and `providers/` again).

use serde_json::Value;

use super::TestApp;
use super::oauth::{RP, SECRET, token};

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

    /// The same, with `top` keys in the config file from the start.
    pub async fn start_with(providers: &[(&str, String)], top: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("providers")).unwrap();
        for (name, text) in providers {
            std::fs::write(dir.path().join("providers").join(name), text).unwrap();
        }
        let (folder, seen) = (dir.path().to_path_buf(), std::sync::Arc::new(std::sync::Mutex::new(None)));
        let (keep, top) = (seen.clone(), top.to_string());
        let app = TestApp::spawn_with(move |s| {
            from_file(s, &folder, &top);
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
        reload(&self.app, &self.admin).await
    }
}

/// Makes `s` what `dir/config.toml` says once written from `s` (with `top` keys; providers in `dir/providers`),
/// so that a reload reads that file.
pub fn from_file(s: &mut bridgekeeper::settings::Settings, dir: &std::path::Path, top: &str) {
    let file = dir.join("config.toml");
    std::fs::write(&file, file_for(s, top, "")).unwrap();
    *s = bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).unwrap();
}

/// An access token of the admin client `ops` of [`file_for`].
pub async fn admin_token(app: &TestApp) -> String {
    let r = token(app, ("ops", ADMIN_SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

/// `POST /admin/api/reload`: its status and answer.
pub async fn reload(app: &TestApp, admin: &str) -> (u16, Value) {
    let r = app.http.post(app.url("/admin/api/reload")).bearer_auth(admin).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}
