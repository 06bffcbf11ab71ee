//! [TX-1] `kill -9` of the broker while it waits for the upstream's answer to a vault refresh: the lease it held
//! lapses, and the next broker process refreshes with the stored refresh token, which the upstream never spent
//! (no burned refresh token). The real binary, the fake upstream in this process, one database.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_idp::FakeIdp;

const SECRET: &str = "crash-secret";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const RP: &str = "https://rp.example/cb";

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

async fn wait_for(what: &str, secs: u64, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Signs in through the fake (a skip-consent app) and returns the app's broker access token.
async fn sign_in(base: &str) -> String {
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let q = [
        ("client_id", "app"),
        ("redirect_uri", RP),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s"),
        ("nonce", "n"),
    ];
    let mut r = http.get(format!("{base}/authorize")).query(&q).send().await.unwrap();
    let mut code = None;
    for _ in 0..10 {
        let loc = location(&r);
        if loc.starts_with(RP) {
            let u = url::Url::parse(&loc).unwrap();
            code = u.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
            break;
        }
        let loc = loc.strip_prefix("/login?").map(|q| format!("/login/acme?{q}")).unwrap_or(loc);
        let url = if loc.starts_with('/') { format!("{base}{loc}") } else { loc };
        r = http.get(url).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
    }
    let code = code.expect("a code");
    let t: serde_json::Value = http
        .post(format!("{base}/token"))
        .basic_auth("app", Some(SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", RP)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_string()
}

async fn exchange(base: &str, at: &str) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth("app", Some(SECRET))
        .form(&[
            ("grant_type", GRANT),
            ("subject_token", at),
            ("subject_token_type", AT_TYPE),
            ("resource", "urn:bridgekeeper:provider:acme"),
        ])
        .send()
        .await
}

#[actix_web::test]
async fn tx_1_kill_dash_nine_during_the_upstream_refresh_burns_no_refresh_token() {
    let idp = FakeIdp::start().await;
    // Short-lived upstream access tokens (5 s), so that the vault soon refreshes.
    idp.set_access_ttl(5);
    let tdb = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("providers")).unwrap();
    let extra = "store_tokens = true\ntoken_exchange_clients = [\"app\"]\nrefresh_skew_secs = 30\n";
    std::fs::write(dir.path().join("providers/acme.toml"), idp.oidc_toml("acme", extra)).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"{base}\"\nbind = \"127.0.0.1:{port}\"\ndatabase_url = \"{}\"\nproviders_dir = \"{}\"\ntemplates_dir = \"{}/templates\"\nencryption_keys = \"{}\"\nupstream_timeout_secs = 2\n[rate_limits]\nenabled = false\n[[clients]]\nclient_id = \"app\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"{RP}\"]\nallowed_scopes = [\"openid\", \"email\"]\ngrant_types = [\"authorization_code\", \"{GRANT}\"]\nskip_consent = true\n",
            tdb.url,
            dir.path().join("providers").display(),
            env!("CARGO_MANIFEST_DIR"),
            common::TEST_ENCRYPTION_KEYS
        ),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let ready = async || http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200);
    let mut broker = start(&config);
    wait_for("the broker", 30, ready).await;
    let at = sign_in(&base).await;

    // The upstream holds the refresh request unanswered (it has not spent the token); the broker dies meanwhile.
    idp.set_refresh_delay_ms(60_000);
    let (b, t) = (base.clone(), at.clone());
    // 5 s tokens: the refresh skew is capped at half the lifetime ([TX-1]), so the stored token is handed as it is
    // for the first seconds; the app asks until one exchange needs the refresh (and hangs with it).
    let pending = tokio::spawn(async move {
        loop {
            match exchange(&b, &t).await {
                Ok(r) if r.status() == 200 => tokio::time::sleep(Duration::from_millis(100)).await,
                other => return other.map(|r| r.status().as_u16()),
            }
        }
    });
    wait_for("the refresh at the upstream", 10, async || idp.refresh_requests_seen() == 1).await;
    broker.kill().unwrap();
    broker.wait().unwrap();
    assert!(pending.await.unwrap().is_err(), "the caller got no answer from the killed broker");
    assert_eq!(idp.refreshes(), 0, "the upstream never answered: the stored refresh token is unspent");

    // The next process: waits for the dead holder's lease to lapse, then refreshes with the stored token.
    idp.set_refresh_delay_ms(0);
    let mut broker = start(&config);
    wait_for("the broker again", 30, ready).await;
    let r = exchange(&base, &at).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(idp.token_user(body["access_token"].as_str().unwrap()).as_deref(), Some("upstream-sub-1"));
    assert_eq!(idp.refreshes(), 1, "one refresh, with the refresh token the killed broker had not spent");
    broker.kill().unwrap();
    broker.wait().unwrap();
}
