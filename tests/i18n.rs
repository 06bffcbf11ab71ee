//! Issue #16, pages in the person's language: `ui_locales`, then `Accept-Language`, then `default_locale`;
//! English, German and Korean catalogues; error pages translated; discovery lists `ui_locales_supported`.

mod common;

use common::TestApp;
use common::oauth::*;

fn browser(accept_language: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("accept-language", accept_language.parse().unwrap());
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn page(http: &reqwest::Client, url: &str) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// [LC-1] A browser asking for Korean gets Korean pages, the sign-in form and the consent page included; the
/// page says so in `<html lang>`.
#[actix_web::test]
async fn lc_1_a_browser_asking_for_korean_gets_korean_pages() {
    let app = spawn().await;
    let ko = browser("ko-KR,ko;q=0.9,en;q=0.5");
    let r = ko.get(app.url("/authorize")).query(&auth_query(&[])).send().await.unwrap();
    let mut loc = location(&r);
    while loc.starts_with("/login") && !loc.starts_with("/login/dev") {
        loc = location(&ko.get(app.url(&loc)).send().await.unwrap());
    }
    let (status, form) = page(&ko, &app.url(&loc)).await;
    assert_eq!(status, 200);
    assert!(form.contains("<html lang=\"ko\">") && form.contains("개발용 로그인"), "{form}");
    let mut fields =
        vec![("csrf", hidden(&form, "csrf")), ("email", "ada@example.com".into()), ("link", "false".into())];
    fields.push(("req", hidden(&form, "req")));
    let r = ko.post(app.url("/login/dev")).form(&fields).send().await.unwrap();
    let mut loc = location(&r);
    while !loc.starts_with("/consent") {
        loc = location(&ko.get(app.url(&loc)).send().await.unwrap());
    }
    let (_, consent) = page(&ko, &app.url(&loc)).await;
    assert!(consent.contains("접근을 허용할까요?") && consent.contains(">허용</button>"), "{consent}");
    assert!(consent.contains("이메일 주소"), "standard scopes in Korean: {consent}");
    let (_, english) = page(&browser("en-GB"), &app.url("/login/dev")).await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("Development sign-in"), "{english}");
    app.stop().await;
}

/// [LC-1] `ui_locales` on the authorization request wins over `Accept-Language`, and holds through the sign-in
/// pages that follow; an unsupported language falls back to `default_locale`.
#[actix_web::test]
async fn lc_1_ui_locales_win_over_accept_language_and_the_default_is_configurable() {
    let app = spawn().await;
    let ko = browser("ko");
    let r = ko.get(app.url("/authorize")).query(&auth_query(&[("ui_locales", "fr-CA de")])).send().await.unwrap();
    assert!(r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("bk_lang=de")));
    let mut loc = location(&r);
    while loc.starts_with("/login") && !loc.starts_with("/login/dev") {
        loc = location(&ko.get(app.url(&loc)).send().await.unwrap());
    }
    let (_, form) = page(&ko, &app.url(&loc)).await;
    assert!(form.contains("<html lang=\"de\">") && form.contains("Entwickler-Anmeldung"), "{form}");
    app.stop().await;

    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.default_locale = "ko".into();
    })
    .await;
    let (_, fallback) = page(&browser("fr, it;q=0.5"), &app.url("/login/dev")).await;
    assert!(fallback.contains("<html lang=\"ko\">"), "{fallback}");
    app.stop().await;
}

/// [LC-1] `ui_locales` in the form of a `POST /authorize` counts as in the query, and the form still reaches the
/// handler whole (the request goes on to the sign-in page, not to an error).
#[actix_web::test]
async fn lc_1_ui_locales_in_a_posted_authorization_request_count() {
    let app = spawn().await;
    let ko = browser("ko");
    let r = ko.post(app.url("/authorize")).form(&auth_query(&[("ui_locales", "de")])).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("bk_lang=de")));
    let mut loc = location(&r);
    assert!(loc.starts_with("/login"), "{loc}");
    while loc.starts_with("/login") && !loc.starts_with("/login/dev") {
        loc = location(&ko.get(app.url(&loc)).send().await.unwrap());
    }
    let (_, form) = page(&ko, &app.url(&loc)).await;
    assert!(form.contains("<html lang=\"de\">"), "{form}");
}

/// [LC-4] A response a shared cache may keep (discovery, JWKS) never sets the language cookie, whatever the query.
#[actix_web::test]
async fn lc_4_no_language_cookie_on_cacheable_responses() {
    let app = spawn().await;
    for path in ["/.well-known/openid-configuration?ui_locales=de", "/jwks.json?ui_locales=de"] {
        let r = browser("en").get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let cc = r.headers().get("cache-control").unwrap().to_str().unwrap().to_string();
        assert!(cc.contains("public") || cc.contains("max-age"), "{path}: {cc}");
        assert!(r.headers().get("set-cookie").is_none(), "{path} set a cookie");
    }
}

/// [LC-3] Error pages speak the person's language too.
#[actix_web::test]
async fn lc_3_error_pages_are_translated() {
    let app = spawn().await;
    let (status, body) = page(&browser("ko"), &app.url("/login/nope")).await;
    assert_eq!(status, 404);
    assert!(body.contains("알 수 없는 로그인 방법") && body.contains("요청 ID:"), "{body}");
    let (_, body) = page(&browser("de"), &app.url("/authorize?client_id=nobody&response_type=code")).await;
    assert!(body.contains("Unbekannte Anwendung"), "{body}");
    let (_, body) = page(&browser("en"), &app.url("/authorize?client_id=nobody&response_type=code")).await;
    assert!(body.contains("Unknown application"), "{body}");
    app.stop().await;
}

/// [LC-3] The sign-out refusals and the expired return from an upstream sign-out are translated too.
#[actix_web::test]
async fn lc_3_sign_out_error_pages_are_translated() {
    let app = spawn().await;
    let (status, body) = page(&browser("de"), &app.url("/logout?post_logout_redirect_uri=https://x.example/")).await;
    assert_eq!(status, 400);
    assert!(body.contains("Automatische Abmeldung nicht möglich") && body.contains("Rücksprungadresse"), "{body}");
    let (_, body) = page(&browser("ko"), &app.url("/logout?client_id=a&client_id=b")).await;
    assert!(body.contains("같은 매개변수가 두 번"), "{body}");
    let (_, body) = page(&browser("en"), &app.url("/logout?id_token_hint=not.a.token")).await;
    assert!(body.contains("did not issue"), "{body}");
    app.stop().await;
}

/// [LC-1] Discovery lists the languages of the pages.
#[actix_web::test]
async fn lc_1_discovery_lists_ui_locales_supported() {
    let app = spawn().await;
    let doc: serde_json::Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["ui_locales_supported"], serde_json::json!(["de", "en", "ko"]));
    app.stop().await;
}
