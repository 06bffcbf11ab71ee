//! The world of the token-exchange tests (issue 14): the broker with the fake upstream as `acme` (`store_tokens`,
//! `app` may exchange), a delegation rule, and the browser and app moves they need.
#![allow(dead_code)]

use super::TestApp;
use super::clients::ClientBuilder;
use super::fake_idp::FakeIdp;
use super::oauth::*;

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const AT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const ACME: &str = "urn:bridgekeeper:provider:acme";

pub struct World {
    pub app: TestApp,
    pub idp: FakeIdp,
    _providers: tempfile::TempDir,
}

pub fn clients() -> Vec<bridgekeeper::settings::StaticClient> {
    let grants = ["authorization_code", "refresh_token", GRANT];
    let scopes = ["openid", "profile", "email", "offline_access", "read", "write", "code"];
    vec![
        ClientBuilder::confidential("app", SECRET)
            .name("Mail App")
            .redirect(RP)
            .scopes(&scopes)
            .grants(&grants)
            .build(),
        ClientBuilder::confidential("other", "other-secret")
            .name("Other")
            .redirect("https://other.example/cb")
            .scopes(&scopes)
            .grants(&grants)
            .build(),
        ClientBuilder::confidential("api-a", "api-a-secret").scopes(&["openid"]).grants(&[GRANT]).build(),
        ClientBuilder::confidential("ops", "ops-secret").scopes(&["admin"]).grants(&["client_credentials"]).build(),
        ClientBuilder::confidential("api-b", "api-b-secret").scopes(&["openid"]).grants(&[GRANT]).build(),
    ]
}

/// The broker with the fake as `acme` (oidc, `store_tokens`, `app` may exchange) and a delegation rule for
/// `api-a` to `https://api-b` with `read`.
pub async fn world_on(db: super::TestDb, idp: Option<FakeIdp>, issuer: Option<String>) -> World {
    world_with(db, idp, issuer, "").await
}

pub async fn world_with(db: super::TestDb, idp: Option<FakeIdp>, issuer: Option<String>, more: &str) -> World {
    let extra = format!("store_tokens = true\ntoken_exchange_clients = [\"app\"]\nrefresh_skew_secs = 30\n{more}");
    world_raw(db, idp, issuer, &extra).await
}

/// The same world with `extra` as the whole of acme's settings beyond the fake's (`store_tokens` only if it says).
pub async fn world_raw(db: super::TestDb, idp: Option<FakeIdp>, issuer: Option<String>, extra: &str) -> World {
    let idp = match idp {
        Some(i) => i,
        None => FakeIdp::start().await,
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", extra)).unwrap();
    let p = dir.path().to_path_buf();
    let app = TestApp::spawn_on(db, move |s| {
        s.providers_dir = p;
        if let Some(i) = issuer {
            s.issuer = i;
        }
        s.clients = clients();
        s.scopes.insert("read".into(), "Read your things".into());
        s.scopes.insert("write".into(), "Change your things".into());
        s.scopes.insert("code".into(), "Your code at Acme".into());
        // All load comes from 127.0.0.1 (the throughput measurement below); the limiters still run.
        s.rate_limits.requests_per_second = 1_000_000;
        s.rate_limits.request_burst = 1_000_000;
        s.token_exchange.delegation = vec![
            bridgekeeper_core::token::token_exchange::DelegationRule {
                client: "api-a".into(),
                audiences: vec!["https://api-b".into()],
                scopes: vec!["read".into(), "write".into()],
                subject_clients: vec!["app".into()],
                known_as: vec![],
            },
            bridgekeeper_core::token::token_exchange::DelegationRule {
                client: "api-b".into(),
                audiences: vec!["https://api-c".into()],
                scopes: vec!["read".into()],
                subject_clients: vec![],
                known_as: vec!["https://api-b".into()],
            },
        ];
    })
    .await;
    World { app, idp, _providers: dir }
}

pub async fn world() -> World {
    world_on(super::test_db(), None, None).await
}

/// Plays the browser through sign-in at the fake and consent, until the app's redirect URI.
pub async fn drive(app: &TestApp, mut r: reqwest::Response) -> String {
    for _ in 0..12 {
        assert!(r.status().is_redirection(), "{}: {}", r.status(), r.text().await.unwrap());
        let loc = location(&r);
        if loc.starts_with(RP) || loc.starts_with("https://other.example") {
            return loc;
        }
        let loc = match loc.strip_prefix("/login?") {
            Some(rest) => format!("/login/acme?{rest}"),
            None => loc,
        };
        r = if loc.starts_with("/consent") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap().text().await.unwrap();
            app.http.post(app.url("/consent")).form(&consent_form(&page)).send().await.unwrap()
        } else if loc.starts_with('/') {
            app.http.get(app.url(&loc)).send().await.unwrap()
        } else {
            app.http.get(&loc).send().await.unwrap()
        };
    }
    panic!("the flow did not end");
}

/// What "Allow" on a consent page posts (its hidden fields, the act-for lines it showed among them).
pub fn consent_form(page: &str) -> Vec<(&'static str, String)> {
    let act_for = if page.contains("name=\"act_for\"") { hidden(page, "act_for") } else { String::new() };
    vec![
        ("req", hidden(page, "req")),
        ("csrf", hidden(page, "csrf")),
        ("act_for", act_for),
        ("decision", "allow".into()),
    ]
}

/// Signs in through acme for `client` in a new browser and returns its token response.
pub async fn sign_in_as(w: &World, client: (&str, &str, &str)) -> serde_json::Value {
    sign_in_with(&w.app.view(), client).await
}

/// Signs in through acme for `client` in this browser.
pub async fn sign_in_with(browser: &TestApp, client: (&str, &str, &str)) -> serde_json::Value {
    let w = browser;
    let scope = "openid email offline_access read write";
    let q = auth_query(&[("client_id", client.0), ("redirect_uri", client.2), ("scope", scope)]);
    let loc = drive(browser, authorize(browser, &q).await).await;
    let code = param(&loc, "code").unwrap();
    let r = token(
        w,
        (client.0, client.1),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", client.2)],
    )
    .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

pub async fn sign_in(w: &World) -> String {
    sign_in_as(w, ("app", SECRET, RP)).await["access_token"].as_str().unwrap().to_string()
}

pub async fn upstream_exchange(app: &TestApp, client: (&str, &str), subject: &str) -> reqwest::Response {
    token(
        app,
        client,
        &[
            ("grant_type", GRANT),
            ("subject_token", subject),
            ("subject_token_type", AT_TYPE),
            ("requested_token_type", AT_TYPE),
            ("resource", ACME),
        ],
    )
    .await
}

/// `n` exchanges at once, spread over `apps`; the upstream access tokens they got.
pub async fn concurrently(apps: &[&TestApp], n: usize, subject: &str) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = apps[i % apps.len()];
        let (http, url, at) = (app.http.clone(), app.url("/token"), subject.to_string());
        tasks.push(tokio::spawn(async move {
            let form =
                [("grant_type", GRANT), ("subject_token", &at), ("subject_token_type", AT_TYPE), ("resource", ACME)];
            let r = http.post(url).basic_auth("app", Some(enc(SECRET))).form(&form).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

pub async fn ok_json(r: reqwest::Response) -> serde_json::Value {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    r.json().await.unwrap()
}

pub async fn vault_rows(app: &TestApp) -> Vec<bridgekeeper::store::vault::VaultRow> {
    let users = app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap();
    let mut rows = Vec::new();
    for u in users {
        let uid = u.id.clone();
        let idents = app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &uid)).await.unwrap();
        for i in idents {
            if let Some(r) = app.state.db.run(move |c| bridgekeeper::store::vault::find(c, &i.id)).await.unwrap() {
                rows.push(r);
            }
        }
    }
    rows
}
