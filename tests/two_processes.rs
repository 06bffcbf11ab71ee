//! Two broker processes (the real binary) on one database — PostgreSQL in the PostgreSQL pass — behind a
//! round-robin done by the test: tokens issued by one are refreshed, introspected and revoked at the other, both
//! publish the same JWKS, and a key rotated with the CLI reaches both.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bridgekeeper::secret::{hash_token, random_token};
use bridgekeeper::store::{self, Db};

const SECRET: &str = "two-secret";

struct Broker {
    base: String,
    child: Child,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &std::path::Path, name: &str, db_url: &str, port: u16) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "issuer = \"http://bridgekeeper.test\"\nbind = \"127.0.0.1:{port}\"\ndatabase_url = \"{db_url}\"\nproviders_dir = \"{}\"\ntemplates_dir = \"{}/templates\"\nencryption_keys = \"{}\"\n[tokens]\nkey_reload_secs = 1\nrefresh_reuse_grace_secs = 0\nsigning_alg = \"ES256\"\n[[clients]]\nclient_id = \"app\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"https://rp.example/cb\"]\nallowed_scopes = [\"openid\", \"email\", \"offline_access\"]\ngrant_types = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]\n",
            dir.join("providers").display(),
            env!("CARGO_MANIFEST_DIR"),
            common::TEST_ENCRYPTION_KEYS
        ),
    )
    .unwrap();
    path
}

async fn start(cfg: &std::path::Path, port: u16, http: &reqwest::Client) -> Broker {
    let child = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Owned by `Broker` at once: its Drop kills and reaps the process on every path, panics included.
    let broker = Broker { base: format!("http://127.0.0.1:{port}"), child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http.get(format!("{}/readyz", broker.base)).send().await.is_ok_and(|r| r.status() == 200) {
            return broker;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("broker on {port} did not become ready");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A user with one refresh-token family, written straight into the shared database.
fn seed_family(db: &Db) -> String {
    let mut c = db.conn().unwrap();
    let now = bridgekeeper::clock::Clock::System.now();
    store::users::insert(
        &mut c,
        &store::users::User {
            id: "u1".into(),
            email: Some("u1@example.com".into()),
            email_verified: true,
            name: None,
            preferred_username: None,
            picture: None,
            groups_json: "[]".into(),
            disabled: false,
            created_at: now,
            updated_at: now,
        },
    )
    .unwrap();
    store::grants::insert(
        &mut c,
        &store::grants::Grant {
            id: "g1".into(),
            client_id: "app".into(),
            user_id: Some("u1".into()),
            session_hash: None,
            scope: "openid email offline_access".into(),
            auth_time: Some(now),
            created_at: now,
            expires_at: now + 86_400,
            revoked_at: None,
        },
    )
    .unwrap();
    let token = random_token();
    store::refresh::insert(
        &mut c,
        &store::refresh::RefreshToken {
            token_hash: hash_token(&token),
            grant_id: "g1".into(),
            client_id: "app".into(),
            user_id: "u1".into(),
            scope: "openid email offline_access".into(),
            created_at: now,
            expires_at: now + 86_400,
            used_at: None,
            revoked_at: None,
            dpop_jkt: None,
        },
    )
    .unwrap();
    token
}

async fn post(http: &reqwest::Client, url: String, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let r = http.post(url).basic_auth("app", Some(SECRET)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_database() {
    let tdb = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("providers")).unwrap();
    let http = reqwest::Client::new();
    let (pa, pb) = (free_port(), free_port());
    let (ca, cb) = (config(dir.path(), "a", &tdb.url, pa), config(dir.path(), "b", &tdb.url, pb));
    let a = start(&ca, pa, &http).await;
    let b = start(&cb, pb, &http).await;
    let db = Db::open(&tdb.url, 2, Duration::from_secs(5)).unwrap();
    let rt1 = seed_family(&db);
    // Round robin: A, B, A, B …
    let brokers = [&a, &b];
    let at = |i: usize, path: &str| format!("{}{path}", brokers[i % 2].base);

    // A refresh token rotated at B and replayed at A: the family is revoked everywhere.
    let (s, t) = post(&http, at(1, "/token"), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!(s, 200, "{t}");
    let rt2 = t["refresh_token"].as_str().unwrap().to_string();
    let at2 = t["access_token"].as_str().unwrap().to_string();
    let (s, i) = post(&http, at(0, "/introspect"), &[("token", &at2)]).await;
    assert_eq!((s, i["active"].clone()), (200, serde_json::json!(true)), "B's token is live at A");
    let (s, e) = post(&http, at(0, "/token"), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "replayed at A");
    let (s, _) = post(&http, at(1, "/token"), &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!(s, 400, "the family is revoked at B too");

    // A token revoked at A is inactive at B within the documented cache staleness bound (TOKEN_CACHE_SECS).
    let (_, cc) = post(&http, at(0, "/token"), &[("grant_type", "client_credentials")]).await;
    let tok = cc["access_token"].as_str().unwrap().to_string();
    assert_eq!(post(&http, at(1, "/introspect"), &[("token", &tok)]).await.1["active"], true);
    assert_eq!(post(&http, at(0, "/revoke"), &[("token", &tok)]).await.0, 200);
    assert_eq!(post(&http, at(0, "/introspect"), &[("token", &tok)]).await.1["active"], false, "at once where revoked");
    let revoked_at = Instant::now();
    let bound = Duration::from_secs(bridgekeeper::server::TOKEN_CACHE_SECS);
    loop {
        if post(&http, at(1, "/introspect"), &[("token", &tok)]).await.1["active"] == false {
            break;
        }
        assert!(revoked_at.elapsed() <= bound + Duration::from_millis(500), "B still says active after the bound");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Same JWKS; a key rotated with the CLI appears on both within the reload interval (1 s here).
    let jwks = |i: usize| {
        let (http, url) = (http.clone(), at(i, "/jwks.json"));
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let before = jwks(0).await;
    assert_eq!(before, jwks(1).await);
    let out = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
        .args(["--config", ca.to_str().unwrap(), "keys", "rotate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kid = String::from_utf8_lossy(&out.stdout).trim().trim_start_matches("now signing with ").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut signing = [false, false];
    while Instant::now() < deadline && signing != [true, true] {
        for (i, s) in signing.iter_mut().enumerate() {
            let (_, t) = post(&http, at(i, "/token"), &[("grant_type", "client_credentials")]).await;
            let header = jsonwebtoken::decode_header(t["access_token"].as_str().unwrap()).unwrap();
            *s = header.kid.as_deref() == Some(kid.as_str());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(signing, [true, true], "both processes sign with the rotated key");
    let after = jwks(0).await;
    assert_ne!(before, after);
    assert_eq!(after, jwks(1).await, "and publish the same JWKS");
}
