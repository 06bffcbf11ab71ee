//! Browser binding (security.md [CK-1], [CK-2]; issue 12 item 8): with an https issuer every cookie is
//! `__Host-` prefixed (Secure, Path=/, no Domain) and only such cookies are believed; a form's CSRF token must be
//! the one the broker issued to this browser, so a cookie + token pair chosen by someone else is refused.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::fake_idp::FakeIdp;
use common::oauth::*;

fn app_client() -> bridgekeeper::settings::StaticClient {
    ClientBuilder::confidential("app", SECRET)
        .redirect(RP)
        .scopes(&["openid", "email"])
        .grants(&["authorization_code"])
        .skip_consent()
        .build()
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

fn host_cookie(set: &[String], name: &str) -> String {
    let c = set
        .iter()
        .find(|c| c.starts_with(&format!("__Host-{name}=")))
        .unwrap_or_else(|| panic!("no __Host-{name} in {set:?}"))
        .clone();
    assert!(c.contains("Secure") && c.contains("Path=/") && !c.contains("Domain=") && c.contains("HttpOnly"), "{c}");
    c
}

async fn https_app(providers: Option<std::path::PathBuf>) -> TestApp {
    TestApp::spawn_with(move |s| {
        s.issuer = "https://broker.example".into();
        s.dev_mode = true;
        s.clients = vec![app_client()];
        if let Some(p) = providers {
            s.providers_dir = p;
        }
    })
    .await
}

#[actix_web::test]
async fn ck_1_cookies_carry_the_host_prefix_when_the_issuer_is_https() {
    let app = https_app(None).await;
    let r = authorize(&app, &auth_query(&[("scope", "openid email")])).await;
    let chooser = app.http.get(app.url(&location(&r))).send().await.unwrap();
    let login = app.http.get(app.url(&location(&chooser))).send().await.unwrap();
    host_cookie(&set_cookies(&login), "bk_csrf");
    let page = login.text().await.unwrap();
    let form = [("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("email", "b@example.com".into())];
    let r = app.http.post(app.url("/login/dev")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "the prefixed CSRF cookie is read back");
    host_cookie(&set_cookies(&r), "bk_session");
    let loc = complete(&app, r, "b@example.com").await;
    assert!(param(&loc, "code").is_some(), "the prefixed session cookie is read back: {loc}");
    // A plain-named cookie (which a sibling host or an http page could have planted) is not believed.
    let planted = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = planted.get(app.url("/logout")).send().await.unwrap();
    let csrf_cookie = host_cookie(&set_cookies(&page), "bk_csrf");
    let value = csrf_cookie.split(';').next().unwrap().trim_start_matches("__Host-bk_csrf=").to_string();
    let token = hidden(&page.text().await.unwrap(), "csrf");
    let r = planted
        .post(app.url("/logout/confirm"))
        .header("cookie", format!("bk_csrf={value}"))
        .form(&[("csrf", token.as_str()), ("params", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an unprefixed cookie is ignored over https");
}

#[actix_web::test]
async fn ck_1_the_login_binding_cookie_carries_the_host_prefix() {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "")).unwrap();
    let app = https_app(Some(dir.path().to_path_buf())).await;
    let r = authorize(&app, &auth_query(&[("scope", "openid email")])).await;
    let req = param(&format!("https://x{}", location(&r)), "req").unwrap();
    let r = app.http.get(app.url(&format!("/login/acme?req={req}"))).send().await.unwrap();
    assert_eq!(r.status(), 302, "off to the upstream");
    host_cookie(&set_cookies(&r), "bk_login");
    // The upstream answers to https://broker.example/callback/acme; the test delivers it to the broker itself.
    let back = app.http.get(location(&r)).send().await.unwrap();
    let callback = location(&back);
    let path = callback.strip_prefix("https://broker.example").unwrap_or_else(|| panic!("{callback}"));
    let r = app.http.get(app.url(path)).send().await.unwrap();
    assert!(r.status().is_redirection(), "the prefixed login cookie binds the callback: {}", r.status());
    let loc = complete(&app, r, "ada@example.com").await;
    assert!(param(&loc, "code").is_some(), "{loc}");
}

#[actix_web::test]
async fn ck_2_a_self_chosen_csrf_cookie_and_token_pair_is_refused() {
    let app = spawn().await;
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let chosen = "a-value-the-attacker-chose-and-planted-0123456789";
    let r = browser
        .post(app.url("/logout/confirm"))
        .header("cookie", format!("bk_csrf={chosen}"))
        .form(&[("csrf", chosen), ("params", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the cookie value itself is no token");
    // The token the broker issued to this browser (for the cookie it set) works.
    let page = app.http.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", String::new())];
    let r = app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200, "signed out page");
    // And that token is bound to that cookie: with another cookie it fails.
    let r = browser
        .post(app.url("/logout/confirm"))
        .header("cookie", format!("bk_csrf={chosen}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
