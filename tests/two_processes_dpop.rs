//! Two broker processes (the real binary) on one database — PostgreSQL in the PostgreSQL pass: a DPoP proof
//! accepted at one is a replay at the other ([DP-2]), and a request pushed at one is used once at the other
//! ([PAR-2]).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bridgekeeper::tokens::keys::Alg;
use common::dpop::*;
use common::oauth::{attr, hidden, param};
use serde_json::{Value, json};

const SECRET: &str = "two-secret";
const ISSUER: &str = "http://bridgekeeper.test";

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
            "issuer = \"{ISSUER}\"\nbind = \"127.0.0.1:{port}\"\ndatabase_url = \"{db_url}\"\ndev_mode = true\nproviders_dir = \"{}\"\ntemplates_dir = \"{}/templates\"\nencryption_keys = \"{}\"\n[[clients]]\nclient_id = \"app\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"https://rp.example/cb\"]\nallowed_scopes = [\"openid\", \"email\"]\ngrant_types = [\"authorization_code\", \"client_credentials\"]\nskip_consent = true\n",
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

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

/// A proof for `POST {ISSUER}{path}` now (both processes answer for the one issuer).
fn proof(k: &DpopKey, path: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = json!({"jti": bridgekeeper::secret::random_token_bytes(12), "htm": "POST",
        "htu": format!("{ISSUER}{path}"), "iat": now});
    k.sign(&k.header(), &claims)
}

/// Follows the dev sign-in at `base` from a redirect until the app's redirect URI.
async fn complete(http: &reqwest::Client, base: &str, mut r: reqwest::Response) -> String {
    for _ in 0..8 {
        assert!(r.status().is_redirection(), "{}: {}", r.status(), r.text().await.unwrap());
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        if loc.starts_with("/login") {
            let page = http.get(format!("{base}{loc}")).send().await.unwrap();
            if page.status().is_redirection() {
                r = page;
                continue;
            }
            let page = page.text().await.unwrap();
            let mut form =
                vec![("csrf", hidden(&page, "csrf")), ("email", "ada@example.com".into()), ("name", "Ada".into())];
            form.push(("link", "false".into()));
            if page.contains("name=\"req\"") {
                form.push(("req", hidden(&page, "req")));
            }
            r = http.post(format!("{base}{}", attr(&page, "action"))).form(&form).send().await.unwrap();
        } else if loc.starts_with('/') {
            r = http.get(format!("{base}{loc}")).send().await.unwrap();
        } else {
            return loc;
        }
    }
    panic!("the flow did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dp_2_par_2_two_processes_share_proofs_seen_and_pushed_requests() {
    let tdb = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("providers")).unwrap();
    let dev = concat!(env!("CARGO_MANIFEST_DIR"), "/providers/dev.toml");
    std::fs::copy(dev, dir.path().join("providers/dev.toml")).unwrap();
    let http = reqwest::Client::new();
    let (pa, pb) = (free_port(), free_port());
    let (ca, cb) = (config(dir.path(), "a", &tdb.url, pa), config(dir.path(), "b", &tdb.url, pb));
    let a = start(&ca, pa, &http).await;
    let b = start(&cb, pb, &http).await;

    // [DP-2] A proof accepted at A is a replay at B.
    let k = dpop_key(Alg::Es256);
    let p = proof(&k, "/token");
    let cc = |base: &str, p: &str| {
        http.post(format!("{base}/token"))
            .basic_auth("app", Some(SECRET))
            .header("DPoP", p)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let r = cc(&a.base, &p).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["token_type"], "DPoP");
    assert_eq!(error_of(cc(&b.base, &p).await.unwrap()).await, (400, "invalid_dpop_proof".into()), "replay at B");
    assert_eq!(cc(&b.base, &proof(&k, "/token")).await.unwrap().status(), 200, "a fresh proof at B");

    // [PAR-2] Pushed at A, used once at B, then spent for A too.
    let form = [
        ("client_id", "app"),
        ("redirect_uri", "https://rp.example/cb"),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s1"),
    ];
    let r = http.post(format!("{}/par", a.base)).basic_auth("app", Some(SECRET)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_string();
    let q = [("client_id", "app"), ("request_uri", uri.as_str())];
    let person = browser();
    let r = person.get(format!("{}/authorize", b.base)).query(&q).send().await.unwrap();
    let loc = complete(&person, &b.base, r).await;
    assert!(loc.starts_with("https://rp.example/cb") && param(&loc, "code").is_some(), "{loc}");
    assert_eq!(param(&loc, "state").as_deref(), Some("s1"));
    for base in [&a.base, &b.base] {
        let r = person.get(format!("{base}/authorize")).query(&q).send().await.unwrap();
        assert_eq!(r.status(), 400, "spent: a page, not a redirect ({base})");
    }
}
