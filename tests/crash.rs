//! `kill -9` of the broker during a burst of refresh-token rotations: after a restart every family has at most
//! one live token, and every token a client holds is one the database knows.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bridgekeeper::secret::{hash_token, random_token};
use bridgekeeper::store::{self, Db};

const FAMILIES: usize = 8;
const SECRET: &str = "crash-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("broker did not become ready");
}

fn seed(db: &Db) -> Vec<String> {
    db.migrate().unwrap();
    let mut c = db.conn().unwrap();
    let now = bridgekeeper::clock::Clock::System.now();
    store::users::insert(
        &mut c,
        &store::users::User {
            id: "u1".into(),
            email: None,
            email_verified: false,
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
    let client = store::clients::Client {
        client_id: "app".into(),
        secret_hash: Some(hash_token(SECRET)),
        name: "app".into(),
        redirect_uris: vec!["https://rp.example/cb".into()],
        post_logout_redirect_uris: vec![],
        allowed_scopes: vec!["openid".into(), "offline_access".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        skip_consent: true,
        require_pkce: false,
        source: "config".into(),
        disabled: false,
        created_at: now,
        updated_at: now,
        ..Default::default()
    };
    db.write_blocking(|w| store::clients::insert(w, &client)).unwrap();
    (0..FAMILIES)
        .map(|i| {
            let gid = format!("g{i}");
            store::grants::insert(
                &mut c,
                &store::grants::Grant {
                    id: gid.clone(),
                    client_id: "app".into(),
                    user_id: Some("u1".into()),
                    session_hash: None,
                    scope: "openid offline_access".into(),
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
                    grant_id: gid,
                    client_id: "app".into(),
                    user_id: "u1".into(),
                    scope: "openid offline_access".into(),
                    created_at: now,
                    expires_at: now + 86_400,
                    used_at: None,
                    revoked_at: None,
                    dpop_jkt: None,
                },
            )
            .unwrap();
            token
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_refresh_rotations_loses_nothing() {
    let tdb = common::test_db();
    let db = Db::open(&tdb.url, 4, Duration::from_secs(5)).unwrap();
    let held = seed(&db);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"{base}\"\nbind = \"127.0.0.1:{port}\"\ndatabase_url = \"{}\"\nproviders_dir = \"{}\"\ntemplates_dir = \"{}/templates\"\nencryption_keys = \"{}\"\n[rate_limits]\nenabled = false\n[[clients]]\nclient_id = \"app\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"https://rp.example/cb\"]\nallowed_scopes = [\"openid\", \"offline_access\"]\ngrant_types = [\"authorization_code\", \"refresh_token\"]\n",
            tdb.url,
            dir.path().join("providers").display(),
            env!("CARGO_MANIFEST_DIR"),
            common::TEST_ENCRYPTION_KEYS
        ),
    )
    .unwrap();
    let http = reqwest::Client::new();
    std::fs::create_dir(dir.path().join("providers")).unwrap();
    let mut broker = start(&config);
    wait_ready(&http, &base).await;

    // Each family's client refreshes in a loop, keeping the newest token it was given.
    let held = std::sync::Arc::new(std::sync::Mutex::new(held));
    let rotations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..FAMILIES {
        let (http, base, held, rotations) = (http.clone(), base.clone(), held.clone(), rotations.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let current = held.lock().unwrap()[i].clone();
                let r = http
                    .post(format!("{base}/token"))
                    .basic_auth("app", Some(SECRET))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", current.as_str())])
                    .send()
                    .await;
                let Ok(r) = r else { return };
                if r.status() != 200 {
                    return;
                }
                let Ok(body) = r.json::<serde_json::Value>().await else { return };
                held.lock().unwrap()[i] = body["refresh_token"].as_str().unwrap().to_string();
                rotations.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    // Kill once the burst is well under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rotations.load(std::sync::atomic::Ordering::SeqCst) < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.kill().unwrap();
    broker.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let done = rotations.load(std::sync::atomic::Ordering::SeqCst);
    assert!(done >= 40, "the burst ran: {done} rotations");

    let mut broker = start(&config);
    wait_ready(&http, &base).await;
    let held = held.lock().unwrap().clone();
    let mut c = db.conn().unwrap();
    let mut live_held = 0;
    for (i, token) in held.iter().enumerate() {
        let row = store::refresh::find(&mut c, &hash_token(token)).unwrap();
        let row = row.unwrap_or_else(|| panic!("family {i}: the client holds a token the database does not know"));
        let live: i64 = {
            use diesel::prelude::*;
            use store::schema::refresh_tokens::dsl as r;
            r::refresh_tokens
                .filter(r::grant_id.eq(format!("g{i}")))
                .filter(r::used_at.is_null())
                .filter(r::revoked_at.is_null())
                .count()
                .get_result(&mut *c)
                .unwrap()
        };
        assert!(live <= 1, "family {i}: {live} live tokens");
        // The held token is live, or it was rotated by a request whose answer died with the process
        // (then its successor is the one live token).
        assert!(row.used_at.is_none() || live == 1, "family {i}: consistent");
        live_held += usize::from(row.used_at.is_none());
    }
    drop(c);
    // And the service carries on: every family whose held token is live refreshes again.
    let mut ok = 0;
    for token in &held {
        let r = http
            .post(format!("{base}/token"))
            .basic_auth("app", Some(SECRET))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
            .send()
            .await
            .unwrap();
        ok += usize::from(r.status() == 200);
    }
    assert_eq!(ok, live_held, "after restart, every live held token refreshes");
    assert!(live_held >= 1);
    println!("crash test: {done} rotations before kill -9, {FAMILIES} families consistent, 0 rows lost");
    broker.kill().unwrap();
    broker.wait().unwrap();
}
