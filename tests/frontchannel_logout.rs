//! OpenID Connect Front-Channel Logout 1.0, the broker as OP (security.md [FL-1]…[FL-5]): the signed-out page loads
//! the `frontchannel_logout_uri` of every app that got an ID token in the ended session, under a CSP whose
//! `frame-src` is exactly those origins, and still continues to the app's `post_logout_redirect_uri`.

mod common;

use common::TestApp;
use common::clients::ClientBuilder;
use common::oauth::*;
use serde_json::Value;

fn client(id: &str) -> ClientBuilder {
    ClientBuilder::confidential(id, SECRET)
        .redirect(&format!("https://{id}.example/cb"))
        .post_logout(&format!("https://{id}.example/bye"))
        .scopes(&["openid", "email"])
        .skip_consent()
}

async fn spawn(clients: Vec<ClientBuilder>) -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = clients.into_iter().map(ClientBuilder::build).collect();
        s.registration.enabled = true;
        s.registration.open = true;
    })
    .await
}

/// Signs in (or, with a session, just authorizes) at app `cid` in this browser; returns the token response.
async fn sign_in(app: &TestApp, cid: &str, scope: &str) -> Value {
    let redirect = format!("https://{cid}.example/cb");
    let q: Vec<(String, String)> =
        [("client_id", cid), ("redirect_uri", &redirect), ("response_type", "code"), ("scope", scope), ("state", "s")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let loc = complete(app, authorize(app, &q).await, "ada@example.com").await;
    let code = param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect.as_str())];
    let r = token(app, (cid, SECRET), &form).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The `src` of every iframe of a page, HTML entities undone.
fn frames(html: &str) -> Vec<String> {
    html.split("<iframe ").skip(1).map(|f| attr(f, "src")).collect()
}

fn csp(r: &reqwest::Response) -> String {
    r.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string()
}

fn frame_src(csp: &str) -> String {
    csp.split(';').map(str::trim).find(|d| d.starts_with("frame-src")).unwrap_or_default().to_string()
}

#[actix_web::test]
async fn fl_3_4_5_the_signed_out_page_frames_each_app_of_the_session_under_a_csp_of_their_origins() {
    let app = spawn(vec![
        client("a").frontchannel_logout("https://a.example/fc?tenant=1", true),
        client("b").frontchannel_logout("https://b.example/fc", false),
        client("off").frontchannel_logout("https://off.example/fc", true),
        client("unused").frontchannel_logout("https://unused.example/fc", true),
        client("quiet"),
    ])
    .await;
    let ta = sign_in(&app, "a", "openid email").await;
    sign_in(&app, "b", "openid").await;
    sign_in(&app, "off", "openid").await;
    sign_in(&app, "quiet", "openid").await;
    let (_, ida) = verify_jwt(&app, ta["id_token"].as_str().unwrap()).await;
    let sid = ida["sid"].as_str().unwrap().to_string();
    use bridgekeeper::accounts::clients::{ClientUpdate, update};
    let disable = ClientUpdate { disabled: Some(true), ..Default::default() };
    update(&app.state.db, &app.state.settings(), "off", disable, app.clock.now()).await.unwrap();

    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", ta["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "https://a.example/bye"),
            ("state", "st&x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "[FL-5] the frames page, not a redirect past it");
    let policy = csp(&r);
    let page = r.text().await.unwrap();
    let mut got = frames(&page);
    got.sort();
    let iss = enc(&app.state.settings().issuer);
    assert_eq!(
        got,
        vec![format!("https://a.example/fc?tenant=1&iss={iss}&sid={sid}"), "https://b.example/fc".to_string()],
        "[FL-3] one frame per app that got an ID token and registered a URI; iss+sid only when required"
    );
    assert_eq!(frame_src(&policy), "frame-src https://a.example https://b.example", "[FL-4] {policy}");
    assert!(policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self'"), "{policy}");
    let next = "https://a.example/bye?state=st%26x";
    let refresh = page.find("http-equiv=\"refresh\"").expect("[FL-5] continues once the frames loaded");
    assert_eq!(attr(&page[refresh..], "content"), format!("0; url={next}"));
    let link = page.find("<a href").unwrap();
    assert_eq!(attr(&page[link..], "href"), next, "[FL-5] a link when a frame never loads");

    // Nothing ended this time: no frames, the default policy's frame-src is 'none' on the signed-out page.
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    let r = app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(frame_src(&csp(&r)), "frame-src 'none'");
    assert!(frames(&r.text().await.unwrap()).is_empty());
}

#[actix_web::test]
async fn fl_5_without_front_channel_apps_the_sign_out_still_redirects_at_once() {
    let app = spawn(vec![client("a")]).await;
    let ta = sign_in(&app, "a", "openid").await;
    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", ta["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "https://a.example/bye"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://a.example/bye?state=s1");
}

#[actix_web::test]
async fn fl_3_the_confirmation_page_sign_out_frames_the_apps_too() {
    let app = spawn(vec![client("a").frontchannel_logout("https://a.example/fc", true)]).await;
    sign_in(&app, "a", "openid").await;
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", hidden(&page, "params"))];
    let r = app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(frame_src(&csp(&r)), "frame-src https://a.example");
    let page = r.text().await.unwrap();
    assert_eq!(frames(&page).len(), 1);
    assert!(!page.contains("http-equiv=\"refresh\""), "nowhere to continue to");
}

#[actix_web::test]
async fn fl_2_discovery_advertises_front_channel_logout_with_sessions() {
    let app = spawn(vec![]).await;
    let d: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["frontchannel_logout_supported"], true);
    assert_eq!(d["frontchannel_logout_session_supported"], true);
}

#[actix_web::test]
async fn fl_1_every_registration_path_records_the_front_channel_uri_and_refuses_one_off_the_redirect_origin() {
    // [[clients]]
    let toml = "[[clients]]\nclient_id = \"x\"\nredirect_uris = [\"https://x.example/cb\"]\n\
                frontchannel_logout_uri = \"https://elsewhere.example/fc\"\n";
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bk.toml");
    std::fs::write(&f, toml).unwrap();
    let err = bridgekeeper::settings::Settings::load_with_env(Some(&f), &[]).unwrap_err().to_string();
    assert!(err.contains("frontchannel_logout_uri") && err.contains("redirect URI"), "{err}");

    let app =
        spawn(vec![ClientBuilder::confidential("ops", SECRET).scopes(&["admin"]).grants(&["client_credentials"])])
            .await;
    // Dynamic registration.
    let body = |uri: &str| {
        serde_json::json!({"redirect_uris": ["https://rp.example/cb"],
        "frontchannel_logout_uri": uri, "frontchannel_logout_session_required": true})
    };
    let r = app.http.post(app.url("/register")).json(&body("https://rp.example/fc")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["frontchannel_logout_uri"], "https://rp.example/fc");
    assert_eq!(m["frontchannel_logout_session_required"], true);
    for bad in ["https://evil.example/fc", "https://rp.example:8443/fc", "https://rp.example/fc#x", "javascript:x"] {
        let r = app.http.post(app.url("/register")).json(&body(bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client_metadata", "{bad}");
    }

    // Admin API: set, shown, refused when bad, removed with "".
    let r = token(&app, ("ops", SECRET), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let admin = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let create = |uri: &str| {
        serde_json::json!({"client_id": "api-fc", "name": "API app", "redirect_uris": ["https://api.example/cb"],
                           "frontchannel_logout_uri": uri, "frontchannel_logout_session_required": true})
    };
    let post = |b: Value| app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&b).send();
    assert_eq!(post(create("https://other.example/fc")).await.unwrap().status(), 400);
    let r = post(create("https://api.example/fc")).await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["client"]["frontchannel_logout_uri"], "https://api.example/fc");
    assert_eq!(v["client"]["frontchannel_logout_session_required"], true);
    let patch = |b: Value| app.http.patch(app.url("/admin/api/clients/api-fc")).bearer_auth(&admin).json(&b).send();
    // Moving the redirect URIs away from the front-channel URI's origin is refused too.
    let r = patch(serde_json::json!({"redirect_uris": ["https://moved.example/cb"]})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = patch(serde_json::json!({"frontchannel_logout_uri": ""})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["frontchannel_logout_uri"].is_null(), "\"\" removes it");

    // The portal's service layer.
    let portal = bridgekeeper::accounts::clients::NewClient {
        name: "p".into(),
        source: "portal".into(),
        redirect_uris: vec!["https://p.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        allowed_scopes: vec!["openid".into()],
        frontchannel_logout_uri: Some("https://q.example/fc".into()),
        ..Default::default()
    };
    let r =
        bridgekeeper::accounts::clients::create(&app.state.db, &app.state.settings(), portal, app.clock.now()).await;
    assert!(matches!(r, Err(bridgekeeper::accounts::clients::ClientError::InvalidRedirect(_))), "{r:?}");
}

#[test]
fn fl_1_the_cli_records_a_front_channel_logout_uri_and_refuses_a_bad_one() {
    let db = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, format!("database_url = \"{}\"\n", db.url)).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
            .env_remove("RUST_LOG")
            .args(["--config", f.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let add = |uri: &str| {
        let base = ["clients", "add", "--name", "A", "--id", "cli-fc", "--redirect-uri", "https://a.example/cb"];
        run(&[&base[..], &["--frontchannel-logout-uri", uri, "--frontchannel-logout-session-required"]].concat())
    };
    assert!(!add("https://b.example/fc").0, "another origin than the redirect URI");
    assert!(add("https://a.example/fc").0);
    let (_, shown) = run(&["clients", "show", "cli-fc"]);
    assert!(shown.contains("frontchannel_logout_uri: https://a.example/fc"), "{shown}");
}

#[actix_web::test]
async fn fl_1_a_redirect_host_outside_the_dns_alphabet_is_refused() {
    let app = spawn(vec![]).await;
    for (redirect, fc) in [
        ("https://evil.example,frame-src/cb", "https://evil.example,frame-src/fc"),
        ("https://evil.example;sandbox/cb", "https://evil.example;sandbox/fc"),
    ] {
        let body = serde_json::json!({"redirect_uris": [redirect], "frontchannel_logout_uri": fc});
        let r = app.http.post(app.url("/register")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{redirect}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_redirect_uri", "{redirect}");
    }
    // [[clients]] follow the same redirect rules.
    let toml = "[[clients]]\nclient_id = \"x\"\nredirect_uris = [\"https://x.example,frame-src/cb\"]\n";
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bk.toml");
    std::fs::write(&f, toml).unwrap();
    assert!(bridgekeeper::settings::Settings::load_with_env(Some(&f), &[]).is_err());
}

#[actix_web::test]
async fn fl_3_the_frames_are_sandboxed_without_top_navigation() {
    let app = spawn(vec![client("a").frontchannel_logout("https://a.example/fc", true)]).await;
    let ta = sign_in(&app, "a", "openid").await;
    let q =
        [("id_token_hint", ta["id_token"].as_str().unwrap()), ("post_logout_redirect_uri", "https://a.example/bye")];
    let r = app.http.get(app.url("/logout")).query(&q).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let tags: Vec<&str> = page.split("<iframe ").skip(1).map(|f| &f[..f.find('>').unwrap()]).collect();
    assert_eq!(tags.len(), 1);
    // The app's page may run its script and read its own cookies, but may not navigate the broker's page.
    assert_eq!(attr(tags[0], "sandbox"), "allow-scripts allow-same-origin", "[FL-3] {}", tags[0]);
    assert!(!tags[0].contains("allow-top-navigation") && !tags[0].contains("allow-popups"), "{}", tags[0]);
}
