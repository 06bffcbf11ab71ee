//! A corpus of malformed requests driven against every endpoint over HTTP. For each: no 5xx, the spec's error
//! shape, never a redirect to an unregistered URI; and across the whole corpus no change to the database.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::oauth::*;
use diesel::RunQueryDsl;

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// An HTML error page (4xx), no Location.
    Page,
    /// An RFC JSON error (4xx) with one of these codes.
    Json(&'static [&'static str]),
    /// A redirect to the registered URI carrying `error` (and `iss`).
    ErrorRedirect,
    /// Any 4xx, or a 2xx that is not a success for the attacker (checked by the DB invariant).
    Harmless,
}

struct Case {
    name: String,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    expect: Expect,
}

fn get(name: &str, path: String, expect: Expect) -> Case {
    Case { name: name.into(), method: "GET", path, headers: vec![], body: None, expect }
}

fn post(
    name: &str,
    path: &str,
    ctype: &str,
    body: &[u8],
    headers: Vec<(&'static str, String)>,
    expect: Expect,
) -> Case {
    let mut h = headers;
    if !ctype.is_empty() {
        h.push(("content-type", ctype.to_string()));
    }
    Case { name: name.into(), method: "POST", path: path.into(), headers: h, body: Some(body.to_vec()), expect }
}

const FORM: &str = "application/x-www-form-urlencoded";
const TOKEN_ERRORS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_scope",
    "unauthorized_client",
];

fn q(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn authorize_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let good = |extra: &[(&str, &str)]| {
        let mut p: Vec<(String, String)> =
            auth_query(&[]).into_iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)).collect();
        p.extend(extra.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())));
        let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        format!("/authorize?{}", q(&pairs))
    };
    for uri in [
        "https://rp.example.evil.com/cb",
        "https://rp.example/cb@evil.com",
        "https://user@rp.example/cb",
        "https://rp.example/cb/../cb",
        "https://rp.example/CB",
        "https://rp.example/cb/",
        "https://rp.example/cb#frag",
        "javascript:alert(1)",
        "//evil.com/cb",
        "http://rp.example/cb",
        "https://rp.example:443/cb",
        "https://rp.example/cb%2F",
        "https://rp.example/cb ",
        "\thttps://rp.example/cb",
        "HTTPS://RP.EXAMPLE/cb",
        "https://rp.example/c%62",
        "https://rp.example/cb?dummy1=lorem",
        "https://rp.example/cb?dummy2=ipsum&dummy1=lorem",
        "data:text/html,x",
        &"https://rp.example/cb".repeat(300),
    ] {
        cases.push(get(&format!("redirect_uri {uri:.40}"), good(&[("redirect_uri", uri)]), Expect::Page));
    }
    cases.push(get("unknown client", good(&[("client_id", "nobody")]), Expect::Page));
    cases.push(get("no client", good(&[("client_id", "")]), Expect::Page));
    cases.push(get("client twice", format!("{}&client_id=other", good(&[])), Expect::Page));
    cases.push(get(
        "redirect twice",
        format!("{}&redirect_uri={}", good(&[]), "https%3A%2F%2Frp.example%2Fcb"),
        Expect::Page,
    ));
    cases.push(get("huge client id", good(&[("client_id", &"a".repeat(20_000))]), Expect::Harmless));
    for (k, v) in [
        ("response_type", "token"),
        ("response_type", "code token"),
        ("response_type", "id_token"),
        ("response_type", ""),
        ("response_type", "CODE"),
        ("code_challenge_method", "plain"),
        ("code_challenge_method", "S512"),
        ("code_challenge_method", "s256"),
        ("prompt", "none login"),
        ("prompt", "bogus"),
        ("max_age", "1e3"),
        ("max_age", "-1"),
        ("max_age", "99999999999999999999"),
        ("scope", "nothing-known"),
        ("scope", "\u{0}"),
        ("request", "eyJhbGciOiJub25lIn0.e30."),
        ("request_uri", "https://evil/r"),
        ("id_token_hint", "a.b.c"),
        ("id_token_hint", "not a jwt"),
        ("nonce", &"n".repeat(5000)),
        ("state", &"s".repeat(5000)),
    ] {
        cases.push(get(&format!("authorize {k}={v:.20}"), good(&[(k, v)]), Expect::ErrorRedirect));
    }
    for ch in [
        "short",
        &"a".repeat(42),
        &"a".repeat(129),
        &format!("{}+", "a".repeat(43)),
        &format!("{}/=", "a".repeat(43)),
        &"é".repeat(43),
    ] {
        cases.push(get(
            "code_challenge alphabet/length",
            good(&[("code_challenge", ch), ("code_challenge_method", "S256")]),
            Expect::ErrorRedirect,
        ));
    }
    cases.push(get("scope twice", format!("{}&scope=email", good(&[])), Expect::ErrorRedirect));
    cases.push(get("state twice", format!("{}&state=x", good(&[])), Expect::ErrorRedirect));
    for raw in [
        "client_id=app&redirect_uri=%ZZ",
        "client_id=%FF%FE&response_type=code",
        "client_id=app&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=%",
        "%%%%",
        "&&&=&==",
    ] {
        cases.push(get(&format!("bad encoding {raw:.30}"), format!("/authorize?{raw}"), Expect::Harmless));
    }
    cases.push(post(
        "authorize json body",
        "/authorize",
        "application/json",
        br#"{"client_id":"app"}"#,
        vec![],
        Expect::Page,
    ));
    cases.push(post("authorize invalid utf8", "/authorize", FORM, b"client_id=\xff\xfe", vec![], Expect::Page));
    cases.push(post("authorize huge body", "/authorize", FORM, &vec![b'a'; 200_000], vec![], Expect::Harmless));
    cases
}

fn token_cases() -> Vec<Case> {
    let basic = ("authorization", format!("Basic {}", base64_encode(&format!("app:{}", enc(SECRET)))));
    let mut cases = Vec::new();
    let mut p = |name: &str, ctype: &str, body: &str, headers: Vec<(&'static str, String)>| {
        cases.push(post(name, "/token", ctype, body.as_bytes(), headers, Expect::Json(TOKEN_ERRORS)));
    };
    p("json body", "application/json", r#"{"grant_type":"client_credentials"}"#, vec![basic.clone()]);
    p("text body", "text/plain", "grant_type=client_credentials", vec![basic.clone()]);
    p("multipart", "multipart/form-data; boundary=x", "--x--", vec![basic.clone()]);
    p("no content type", "", "grant_type=client_credentials", vec![basic.clone()]);
    p("no grant type", FORM, "code=x", vec![basic.clone()]);
    p("grant twice", FORM, "grant_type=authorization_code&grant_type=refresh_token&code=x", vec![basic.clone()]);
    p("password grant", FORM, "grant_type=password&username=a&password=b", vec![basic.clone()]);
    p("implicit grant", FORM, "grant_type=implicit", vec![basic.clone()]);
    p("code missing", FORM, "grant_type=authorization_code", vec![basic.clone()]);
    p("code garbage", FORM, "grant_type=authorization_code&code=%00%01", vec![basic.clone()]);
    p("verifier short", FORM, "grant_type=authorization_code&code=abc&code_verifier=short", vec![basic.clone()]);
    p(
        "verifier alphabet",
        FORM,
        &format!("grant_type=authorization_code&code=abc&code_verifier={}%2B", "a".repeat(43)),
        vec![basic.clone()],
    );
    p("refresh missing", FORM, "grant_type=refresh_token", vec![basic.clone()]);
    p("refresh garbage", FORM, "grant_type=refresh_token&refresh_token=x", vec![basic.clone()]);
    p("scope garbage", FORM, "grant_type=client_credentials&scope=%00", vec![basic.clone()]);
    for h in [
        "Basic",
        "Basic ",
        "Basic !!!!",
        "Basic YWJj",
        "Basic Og==",
        "Bearer x",
        "basic",
        &format!("Basic {}", "A".repeat(10_000)),
    ] {
        p(
            &format!("authorization {h:.20}"),
            FORM,
            "grant_type=client_credentials",
            vec![("authorization", h.to_string())],
        );
    }
    p(
        "two methods",
        FORM,
        &format!("grant_type=client_credentials&client_secret={}", enc(SECRET)),
        vec![basic.clone()],
    );
    p("secret only in query", FORM, "grant_type=client_credentials&client_id=app", vec![]);
    p("invalid utf8", FORM, "grant_type=client_credentials&client_id=\u{fffd}", vec![]);
    cases.push(post(
        "token invalid utf8 bytes",
        "/token",
        FORM,
        b"grant_type=\xff",
        vec![],
        Expect::Json(TOKEN_ERRORS),
    ));
    cases.push(post("token huge body", "/token", FORM, &vec![b'a'; 200_000], vec![], Expect::Harmless));
    cases.push(get("token via GET", "/token?grant_type=client_credentials".into(), Expect::Json(&["invalid_request"])));
    cases.push(Case {
        name: "secret in query".into(),
        method: "POST",
        path: format!("/token?client_id=app&client_secret={}", enc(SECRET)),
        headers: vec![("content-type", FORM.into())],
        body: Some(b"grant_type=client_credentials".to_vec()),
        expect: Expect::Json(TOKEN_ERRORS),
    });
    cases
}

fn other_cases() -> Vec<Case> {
    let basic = ("authorization", format!("Basic {}", base64_encode(&format!("app:{}", enc(SECRET)))));
    let mut cases = Vec::new();
    for h in [
        "Bearer",
        "Bearer ",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.",
        "Basic abc",
        "Bearer  x y",
        &format!("Bearer {}", "a".repeat(20_000)),
    ] {
        cases.push(Case {
            name: format!("userinfo {h:.20}"),
            method: "GET",
            path: "/userinfo".into(),
            headers: vec![("authorization", h.into())],
            body: None,
            expect: Expect::Harmless,
        });
    }
    cases.push(get("userinfo token in query", "/userinfo?access_token=x".into(), Expect::Harmless));
    for (name, body) in [
        ("no token", "token_type_hint=access_token"),
        ("garbage", "token=%00%FF"),
        ("jwt none", "token=eyJhbGciOiJub25lIn0.e30."),
    ] {
        cases.push(post(
            &format!("introspect {name}"),
            "/introspect",
            FORM,
            body.as_bytes(),
            vec![basic.clone()],
            Expect::Harmless,
        ));
        cases.push(post(
            &format!("revoke {name}"),
            "/revoke",
            FORM,
            body.as_bytes(),
            vec![basic.clone()],
            Expect::Harmless,
        ));
    }
    cases.push(post(
        "introspect json",
        "/introspect",
        "application/json",
        b"{}",
        vec![basic.clone()],
        Expect::Json(&["invalid_request"]),
    ));
    cases.push(post("introspect no auth", "/introspect", FORM, b"token=x", vec![], Expect::Json(&["invalid_client"])));
    cases.push(get("introspect GET", "/introspect".into(), Expect::Json(&["invalid_request"])));
    for (hint, uri) in [
        ("a.b", "https://rp.example/bye"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "https://rp.example/bye"),
        ("", "https://evil.example/"),
        ("", "https://rp.example/bye?x=1"),
        ("", "javascript:alert(1)"),
    ] {
        cases.push(get(
            &format!("logout {hint:.10} {uri:.25}"),
            format!(
                "/logout?{}",
                q(&[
                    ("id_token_hint", hint),
                    ("post_logout_redirect_uri", uri),
                    ("client_id", if hint.is_empty() { "app" } else { "" })
                ]
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .copied()
                .collect::<Vec<_>>())
            ),
            Expect::Page,
        ));
    }
    for path in [
        "/callback/dev?state=x&code=y",
        "/callback/nobody?state=x",
        "/callback/dev",
        "/login?req=garbage",
        "/login/nobody",
        "/consent?req=garbage",
        "/authorize/resume?req=nope",
        "/login/dev?req=nope",
    ] {
        cases.push(get(&format!("page {path}"), path.into(), Expect::Page));
    }
    cases.push(post("dev login no csrf", "/login/dev", FORM, b"email=a%40b.c", vec![], Expect::Page));
    cases.push(post("dev login json", "/login/dev", "application/json", b"{}", vec![], Expect::Harmless));
    cases.push(post("consent no csrf", "/consent", FORM, b"req=x&decision=allow", vec![], Expect::Page));
    cases.push(post("unlink no session", "/account/unlink", FORM, b"csrf=x&identity_id=y", vec![], Expect::Page));
    cases.push(post("revoke app no session", "/account/revoke", FORM, b"csrf=x&client_id=app", vec![], Expect::Page));
    cases.push(post("logout confirm no csrf", "/logout/confirm", FORM, b"params=", vec![], Expect::Page));
    cases.push(Case {
        name: "huge header".into(),
        method: "GET",
        path: "/healthz".into(),
        headers: vec![("x-junk", "a".repeat(40_000))],
        body: None,
        expect: Expect::Harmless,
    });
    cases.push(post("POST jwks", "/jwks.json", FORM, b"", vec![], Expect::Harmless));
    cases
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn counts(app: &TestApp) -> Vec<i64> {
    app.state
        .db
        .run(|c| {
            let mut out = Vec::new();
            for t in [
                "users",
                "identities",
                "clients",
                "consents",
                "sessions",
                "grants",
                "auth_codes",
                "refresh_tokens",
                "revoked_jtis",
                "auth_requests",
                "upstream_logins",
                "signing_keys",
            ] {
                #[derive(diesel::QueryableByName)]
                struct N {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let r: N = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {t}")).get_result(c)?;
                out.push(r.n);
            }
            Ok(out)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn malformed_request_corpus() {
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.rate_limits.enabled = false;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .redirect("https://rp.example/cb?dummy1=lorem&dummy2=ipsum")
                .post_logout("https://rp.example/bye")
                .scopes(&["openid", "email"])
                .grants(&["authorization_code", "refresh_token", "client_credentials"])
                .skip_consent()
                .build(),
        ];
    })
    .await;
    let before = counts(&app).await;
    let cases: Vec<Case> = authorize_cases().into_iter().chain(token_cases()).chain(other_cases()).collect();
    let (mut run, mut passed, mut failures) = (0, 0, Vec::new());
    for c in &cases {
        run += 1;
        let mut req = app.http.request(c.method.parse().unwrap(), app.url(&c.path));
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        if let Some(b) = &c.body {
            req = req.body(b.clone());
        }
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: transport error {e}", c.name));
                continue;
            }
        };
        let status = r.status().as_u16();
        let loc = location(&r);
        let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let no_store = r.headers().get("cache-control").is_some_and(|v| v == "no-store");
        let body = r.text().await.unwrap_or_default();
        let ok = status < 500
            && (loc.is_empty()
                || loc.starts_with('/')
                || loc.starts_with(RP)
                || loc.starts_with("https://rp.example/cb?dummy1"))
            && match c.expect {
                Expect::Page => (400..500).contains(&status) && loc.is_empty() && ctype.starts_with("text/html"),
                Expect::Json(codes) => {
                    (400..500).contains(&status)
                        && no_store
                        && serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["error"].as_str().map(|e| codes.contains(&e)))
                            .unwrap_or(false)
                }
                Expect::ErrorRedirect => {
                    status == 302
                        && param(&loc, "error").is_some()
                        && param(&loc, "code").is_none()
                        && param(&loc, "iss").is_some()
                }
                Expect::Harmless => !(200..300).contains(&status) || !body.contains("access_token"),
            };
        if ok {
            passed += 1;
        } else {
            failures.push(format!("{}: {status} {loc:.60} {body:.120}", c.name));
        }
    }
    let after = counts(&app).await;
    println!("malformed corpus: {run} cases run, {passed} passed");
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(before, after, "no state change in the database");
    assert!(run >= 100, "the corpus is substantial: {run}");
}
