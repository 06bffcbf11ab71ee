//! Helpers for driving the authorization flow like a browser and an app would.
#![allow(dead_code)]

use super::TestApp;
use super::clients::ClientBuilder;
use bridgekeeper::settings::StaticClient;

pub const RP: &str = "https://rp.example/cb";
pub const SECRET: &str = "s3cret:+% x";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client(id: &str, secret: Option<&str>, uris: &[&str]) -> StaticClient {
    let b = match secret {
        Some(s) => {
            ClientBuilder::confidential(id, s).grants(&["authorization_code", "refresh_token", "client_credentials"])
        }
        None => ClientBuilder::public(id),
    };
    let b = uris.iter().fold(b.name(&format!("App {id}")), |b, u| b.redirect(u));
    b.post_logout("https://rp.example/bye").scopes(&["openid", "profile", "email", "offline_access", "groups"]).build()
}

/// An app with dev sign-in, a confidential client `app`, another confidential `other`, a public `native`.
pub async fn spawn() -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![
            client("app", Some(SECRET), &[RP, "https://rp.example/cb?dummy1=lorem&dummy2=ipsum"]),
            client("other", Some("other-secret"), &["https://other.example/cb"]),
            client("native", None, &["http://127.0.0.1/cb"]),
        ];
    })
    .await
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

pub fn param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).unwrap();
    u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The first `NAME="..."` attribute value in a page.
pub fn attr(html: &str, name: &str) -> String {
    let needle = format!("{name}=\"");
    let start = html.find(&needle).unwrap_or_else(|| panic!("no {name} in {html}")) + needle.len();
    unescape(&html[start..start + html[start..].find('"').unwrap()])
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&").replace("&#x2F;", "/").replace("&#x3D;", "=").replace("&#x27;", "'")
}

pub fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).unwrap_or_else(|| panic!("no {name} in {html}")) + needle.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].replace("&amp;", "&").replace("&#x2F;", "/").replace("&#x3D;", "=").replace("&#x27;", "'")
}

/// Standard authorization request query for client `app`.
pub fn auth_query(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = vec![
        ("client_id".into(), "app".into()),
        ("redirect_uri".into(), RP.into()),
        ("response_type".into(), "code".into()),
        ("scope".into(), "openid profile email offline_access".into()),
        ("state".into(), "st-1".into()),
        ("nonce".into(), "n-1".into()),
    ];
    for (k, v) in extra {
        q.retain(|(kk, _)| kk != k);
        if !v.is_empty() {
            q.push((k.to_string(), v.to_string()));
        }
    }
    q
}

pub async fn authorize(app: &TestApp, q: &[(String, String)]) -> reqwest::Response {
    app.http.get(app.url("/authorize")).query(q).send().await.unwrap()
}

/// Follows login (dev) and consent from a redirect to /login or /consent until the app's redirect URI.
pub async fn complete(app: &TestApp, mut r: reqwest::Response, email: &str) -> String {
    for _ in 0..6 {
        let loc = location(&r);
        assert!(r.status().is_redirection(), "expected a redirect, got {}: {}", r.status(), r.text().await.unwrap());
        if loc.starts_with("/login") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap();
            if page.status().is_redirection() {
                r = page;
                continue;
            }
            let page = page.text().await.unwrap();
            let action = attr(&page, "action");
            let mut form = vec![
                ("csrf", hidden(&page, "csrf")),
                ("email", email.into()),
                ("name", "Ada".into()),
                ("link", "false".into()),
            ];
            if page.contains("name=\"req\"") {
                form.push(("req", hidden(&page, "req")));
            }
            r = app.http.post(app.url(&action)).form(&form).send().await.unwrap();
            assert_eq!(r.status(), 303);
        } else if loc.starts_with("/consent") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap().text().await.unwrap();
            let form = [("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("decision", "allow".into())];
            r = app.http.post(app.url("/consent")).form(&form).send().await.unwrap();
        } else if loc.starts_with('/') {
            r = app.http.get(app.url(&loc)).send().await.unwrap();
        } else {
            return loc;
        }
    }
    panic!("flow did not finish");
}

/// Runs a full authorization for `app` and returns the code.
pub async fn code(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let r = authorize(app, &auth_query(extra)).await;
    let loc = complete(app, r, "ada@example.com").await;
    assert!(loc.starts_with(RP), "{loc}");
    param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"))
}

pub async fn token(app: &TestApp, client: (&str, &str), form: &[(&str, &str)]) -> reqwest::Response {
    app.http.post(app.url("/token")).basic_auth(enc(client.0), Some(enc(client.1))).form(form).send().await.unwrap()
}

/// RFC 6749 §2.3.1: form-urlencode before Basic.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn exchange(app: &TestApp, code: &str) -> serde_json::Value {
    let r = token(app, ("app", SECRET), &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", RP)])
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

pub async fn json_error(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_string())
}

/// Verifies a JWT against the published JWKS; returns (header, claims).
pub async fn verify_jwt(app: &TestApp, token: &str) -> (jsonwebtoken::Header, serde_json::Value) {
    let jwks: jsonwebtoken::jwk::JwkSet =
        app.http.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).unwrap();
    (header, data.claims)
}

pub async fn userinfo(app: &TestApp, at: &str) -> reqwest::Response {
    app.http.get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap()
}

/// Signs in at client `app` through upstream `provider` in this browser (`prompt=login`); the app gets an ID token.
pub async fn sign_in_through(app: &TestApp, provider: &str) {
    let q = auth_query(&[("scope", "openid email"), ("prompt", "login")]);
    let mut r = authorize(app, &q).await;
    for _ in 0..12 {
        let loc = location(&r);
        assert!(r.status().is_redirection(), "{}: {}", r.status(), r.text().await.unwrap());
        if loc.starts_with(RP) {
            let code = param(&loc, "code").unwrap();
            let t = token(
                app,
                ("app", SECRET),
                &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", RP)],
            )
            .await;
            assert_eq!(t.status(), 200);
            return;
        }
        let loc = match loc.strip_prefix("/login?") {
            Some(rest) => format!("/login/{provider}?{rest}"),
            None => loc,
        };
        r = if loc.starts_with('/') { app.http.get(app.url(&loc)) } else { app.http.get(&loc) }.send().await.unwrap();
    }
    panic!("the sign-in did not finish");
}

/// Does this browser still have a broker session (`prompt=none` gives a code)?
pub async fn signed_in(app: &TestApp) -> bool {
    let r = authorize(app, &auth_query(&[("prompt", "none"), ("scope", "openid email")])).await;
    param(&location(&r), "code").is_some()
}

/// A token for the admin API: a config client `ops` with the `admin` scope, synced into the running app.
pub async fn admin_api_token(app: &TestApp) -> String {
    let mut settings = (*app.state.settings()).clone();
    settings.clients = vec![
        ClientBuilder::confidential("ops", "admin-secret-for-tests")
            .scopes(&["admin"])
            .grants(&["client_credentials"])
            .build(),
    ];
    bridgekeeper::accounts::clients::sync_static(&app.state.db, &settings, &[], 0).await.unwrap();
    let form = [("grant_type", "client_credentials"), ("scope", "admin")];
    let r = token(app, ("ops", "admin-secret-for-tests"), &form).await;
    assert_eq!(r.status(), 200);
    r.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}
