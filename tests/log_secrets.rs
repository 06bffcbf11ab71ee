//! No secret, code or token ever reaches a log line: a whole run (upstream login, code flow, refresh,
//! introspection, revocation, token exchange from the upstream token vault with an upstream refresh, logout) at
//! TRACE level, then a grep of everything logged for every value used.

mod common;
use common::clients::ClientBuilder;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::TestApp;
use common::fake_idp::FakeIdp;
use common::oauth::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn no_secret_code_or_token_is_logged() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let vault = "store_tokens = true\ntoken_exchange_clients = [\"app\"]\n";
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", vault)).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| {
        s.providers_dir = providers;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .post_logout("https://rp.example/bye")
                .scopes(&["openid", "email", "offline_access"])
                .grants(&["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"])
                .skip_consent()
                .build(),
        ];
    })
    .await;

    let mut values: Vec<String> = vec![SECRET.into(), common::fake_idp::CLIENT_SECRET.into()];
    let r = authorize(
        &app,
        &auth_query(&[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "state-value-123456"),
        ]),
    )
    .await;
    let loc = follow(&app, r).await;
    let code = param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    values.push(code.clone());
    let t: serde_json::Value = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", RP), ("code_verifier", VERIFIER)],
    )
    .await
    .json()
    .await
    .unwrap();
    let (at, rt, id) =
        (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap(), t["id_token"].as_str().unwrap());
    values.extend([at.to_string(), rt.to_string(), id.to_string(), VERIFIER.to_string()]);
    assert_eq!(userinfo(&app, at).await.status(), 200);
    // [TX-1] Token exchange for the upstream token, fresh from the vault and then refreshed upstream.
    for advance in [0, 280] {
        app.clock.advance(advance);
        let x: serde_json::Value = token(
            &app,
            ("app", SECRET),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", at),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("resource", "urn:bridgekeeper:provider:acme"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
        values.push(x["access_token"].as_str().expect("exchanged").to_string());
    }
    let t2: serde_json::Value = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .await
        .json()
        .await
        .unwrap();
    values.push(t2["refresh_token"].as_str().unwrap().to_string());
    app.http
        .post(app.url("/introspect"))
        .basic_auth("app", Some(enc(SECRET)))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    app.http
        .post(app.url("/revoke"))
        .basic_auth("app", Some(enc(SECRET)))
        .form(&[("token", t2["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    token(&app, ("app", "wrong-secret-value-42"), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    values.push("wrong-secret-value-42".into());
    // The session cookie and CSRF token of this browser.
    let cookies = app.http.get(app.url("/account")).send().await.unwrap();
    drop(cookies);
    app.http.get(app.url("/logout")).query(&[("id_token_hint", id)]).send().await.unwrap();

    assert_eq!(idp.refreshes(), 1, "the second exchange refreshed upstream");
    // Spent upstream refresh tokens are no longer among the fake's live tokens: take them from its requests.
    let spent: Vec<String> =
        idp.state.lock().unwrap().token_requests.iter().filter_map(|f| f.get("refresh_token").cloned()).collect();
    assert!(!spent.is_empty());
    values.extend(spent);
    let upstream = idp.issued_tokens();
    assert!(upstream.len() >= 2, "the upstream issued tokens");
    values.extend(upstream);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.len() > 1000, "the run logged something: {} bytes", text.len());
    assert!(text.contains("request") && text.contains("status"), "request lines are logged");
    for v in &values {
        assert!(!text.contains(v.as_str()), "a secret value reached the logs: {}…", &v[..v.len().min(12)]);
    }
    assert!(!text.contains("state-value-123456"), "query strings are not logged");
}

/// Follows redirects (broker and upstream) until the app's redirect URI; the chooser has one provider.
async fn follow(app: &TestApp, mut r: reqwest::Response) -> String {
    for _ in 0..12 {
        let loc = location(&r);
        assert!(r.status().is_redirection(), "{}: {}", r.status(), r.text().await.unwrap());
        if loc.starts_with(RP) {
            return loc;
        }
        let url = if loc.starts_with('/') { app.url(&loc) } else { loc };
        r = app.http.get(url).send().await.unwrap();
    }
    panic!("no end");
}
