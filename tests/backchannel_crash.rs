//! `kill -9` of the broker between ending a session and delivering its Logout Token ([BL-5]): the token was
//! committed to the outbox with the session's end, the killed instance's claim lapses, and the next broker process
//! delivers it, once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bridgekeeper::secret::{hash_token, random_token};
use bridgekeeper::store::{self, Db};
use common::backchannel::{Receiver, until};
use common::oauth::hidden;

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

/// A user signed in (cookie value returned) at an app that got an ID token and listens at `uri`.
fn seed(db: &Db, uri: &str) -> String {
    db.migrate().unwrap();
    let mut c = db.conn().unwrap();
    let now = bridgekeeper::clock::Clock::System.now();
    let user = store::users::User {
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
    };
    store::users::insert(&mut c, &user).unwrap();
    let client = store::clients::Client {
        client_id: "app".into(),
        secret_hash: Some(hash_token("s")),
        name: "app".into(),
        redirect_uris: vec!["https://rp.example/cb".into()],
        allowed_scopes: vec!["openid".into()],
        grant_types: vec!["authorization_code".into()],
        source: "api".into(),
        created_at: now,
        updated_at: now,
        backchannel_logout_uri: Some(uri.into()),
        ..Default::default()
    };
    db.write_blocking(|w| store::clients::insert(w, &client)).unwrap();
    let cookie = random_token();
    let session = store::sessions::Session {
        id_hash: hash_token(&cookie),
        user_id: "u1".into(),
        provider: "dev".into(),
        auth_time: now,
        created_at: now,
        expires_at: now + 3600,
        revoked_at: None,
    };
    store::sessions::insert(&mut c, &session).unwrap();
    let grant = store::grants::Grant {
        id: "g1".into(),
        client_id: "app".into(),
        user_id: Some("u1".into()),
        session_hash: Some(session.id_hash.clone()),
        scope: "openid".into(),
        auth_time: Some(now),
        created_at: now,
        expires_at: now + 3600,
        revoked_at: None,
    };
    store::grants::insert(&mut c, &grant).unwrap();
    cookie
}

#[actix_web::test]
async fn bl_5_kill_dash_nine_between_the_sessions_end_and_delivery_loses_no_logout_token() {
    let t = common::test_db();
    let db = Db::open(&t.url, 2, Duration::from_secs(5)).unwrap();
    // The app hangs: the broker claims the token and waits on it when it is killed.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app_addr = hanging.local_addr().unwrap();
    let cookie = seed(&db, &format!("http://{app_addr}/bc"));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bk.toml");
    let providers = dir.path().join("providers");
    std::fs::create_dir(&providers).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "issuer = \"{base}\"\nbind = \"127.0.0.1:{port}\"\ndatabase_url = \"{}\"\nencryption_keys = \"{}\"\n\
             providers_dir = \"{}\"\ntemplates_dir = \"{}/templates\"\ngc_interval_secs = 0\n\
             [backchannel_logout]\ntimeout_secs = 30\nclaim_secs = 2\npoll_interval_ms = 100\n",
            t.url,
            common::TEST_ENCRYPTION_KEYS,
            providers.display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut broker = start(&cfg);
    wait_ready(&http, &base).await;

    // The person signs out (the confirmation page, CSRF-protected).
    let page =
        http.get(format!("{base}/logout")).header("cookie", format!("bk_session={cookie}")).send().await.unwrap();
    let csrf_cookie =
        page.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let page = page.text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    let r = http
        .post(format!("{base}/logout/confirm"))
        .header("cookie", format!("bk_session={cookie}; {csrf_cookie}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let claimed = || {
        let rows = store::outbox::list(&mut db.conn().unwrap()).unwrap();
        rows.len() == 1 && rows[0].claimed_until > 0
    };
    until(10, "the token is committed and claimed for delivery", claimed).await;
    broker.kill().unwrap(); // SIGKILL
    broker.wait().unwrap();
    assert_eq!(store::outbox::list(&mut db.conn().unwrap()).unwrap().len(), 1, "the killed delivery is still queued");

    // The app comes back; the next broker process delivers once the dead claim has lapsed.
    drop(hanging);
    let mut receiver = Receiver::down_at(app_addr);
    receiver.up();
    let mut broker = start(&cfg);
    wait_ready(&http, &base).await;
    until(15, "the token is delivered after the restart", || receiver.tokens().len() == 1).await;
    until(5, "the outbox empties", || store::outbox::list(&mut db.conn().unwrap()).unwrap().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.tokens().len(), 1, "delivered once");
    broker.kill().unwrap();
    broker.wait().unwrap();
}
