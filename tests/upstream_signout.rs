//! Signing out at the upstream too, as the person chooses (security.md [UL-7]) and bound to the browser that
//! signed out ([UL-8]): `logout_upstream = "ask"` puts an "Also sign out of …" box on the confirmation page, and
//! the upstream's return to `/logout/upstream/{provider}` is believed only in that browser.

mod common;

use common::TestApp;
use common::fake_idp::FakeIdp;
use common::oauth::*;
use serde_json::Value;

struct World {
    app: TestApp,
    idp: FakeIdp,
    _providers: tempfile::TempDir,
}

async fn world(mode: &str) -> World {
    world_with(mode, |c| c).await
}

async fn world_with(
    mode: &str,
    client: impl FnOnce(common::clients::ClientBuilder) -> common::clients::ClientBuilder + Send + 'static,
) -> World {
    world_on(FakeIdp::start().await, mode, client).await
}

async fn world_on(
    idp: FakeIdp,
    mode: &str,
    client: impl FnOnce(common::clients::ClientBuilder) -> common::clients::ClientBuilder + Send + 'static,
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let toml = idp.oidc_toml("acme", &format!("logout_upstream = \"{mode}\""));
    std::fs::write(dir.path().join("acme.toml"), toml).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| {
        s.providers_dir = providers;
        s.clients = vec![
            client(
                common::clients::ClientBuilder::confidential("app", SECRET)
                    .redirect(RP)
                    .post_logout("https://rp.example/bye")
                    .scopes(&["openid", "email"])
                    .grants(&["authorization_code"])
                    .skip_consent(),
            )
            .build(),
        ];
    })
    .await;
    World { app, idp, _providers: dir }
}

/// The app's RP-initiated logout with its own fresh ID token as hint.
async fn rp_logout(app: &TestApp) -> reqwest::Response {
    let loc = location(&authorize(app, &auth_query(&[("scope", "openid email")])).await);
    let code = param(&loc, "code").unwrap();
    let t: Value =
        token(app, ("app", SECRET), &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", RP)])
            .await
            .json()
            .await
            .unwrap();
    let q = [
        ("id_token_hint", t["id_token"].as_str().unwrap()),
        ("post_logout_redirect_uri", "https://rp.example/bye"),
        ("state", "app-state"),
    ];
    app.http.get(app.url("/logout")).query(&q).send().await.unwrap()
}

/// Submits the confirmation page's form, with the upstream box ticked or not, and a CSRF token of choice.
async fn confirm(app: &TestApp, page: &str, tick: bool, csrf: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("csrf", csrf.map(String::from).unwrap_or_else(|| hidden(page, "csrf"))),
        ("params", hidden(page, "params")),
    ];
    if tick {
        form.push(("upstream", "yes".into()));
    }
    app.http.post(app.url("/logout/confirm")).form(&form).send().await.unwrap()
}

#[actix_web::test]
async fn ul_7_ask_offers_the_upstream_sign_out_as_a_box_and_does_what_the_person_chose() {
    let w = world("ask").await;
    sign_in_through(&w.app, "acme").await;
    // Even the app's own hint asks now: only the person can choose.
    let r = rp_logout(&w.app).await;
    assert_eq!(r.status(), 200, "[UL-7] the confirmation page, not a redirect");
    let page = r.text().await.unwrap();
    assert!(page.contains("Also sign out of Acme acme"), "{page}");
    assert!(page.contains("type=\"checkbox\" name=\"upstream\" value=\"yes\""), "{page}");
    assert!(!page.contains("checked"), "not ticked unless the person ticks it");

    // A forged form (wrong CSRF token) with the box ticked ends nothing and goes nowhere.
    let r = confirm(&w.app, &page, true, Some("forged")).await;
    assert_eq!(r.status(), 400);
    assert!(signed_in(&w.app).await);
    assert!(w.idp.state.lock().unwrap().end_session_requests.is_empty());

    // Not ticked: the broker session ends, the upstream is left alone, on to the app.
    let r = confirm(&w.app, &page, false, None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example/bye?state=app-state");
    assert!(!signed_in(&w.app).await);
    assert!(w.idp.state.lock().unwrap().end_session_requests.is_empty(), "not ticked: no upstream sign-out");

    // Ticked: through the upstream's end-session endpoint, then on to the app.
    sign_in_through(&w.app, "acme").await;
    let page = rp_logout(&w.app).await.text().await.unwrap();
    let r = confirm(&w.app, &page, true, None).await;
    assert_eq!(r.status(), 303);
    let to_upstream = location(&r);
    assert!(to_upstream.starts_with(&format!("{}/logout?", w.idp.base)), "{to_upstream}");
    assert!(param(&to_upstream, "id_token_hint").is_some());
    let back = location(&w.app.http.get(&to_upstream).send().await.unwrap());
    let r = w.app.http.get(&back).send().await.unwrap();
    assert_eq!(location(&r), "https://rp.example/bye?state=app-state");
    assert_eq!(w.idp.state.lock().unwrap().end_session_requests.len(), 1);
}

#[actix_web::test]
async fn ul_7_always_and_never_show_no_box() {
    for mode in ["always", "never"] {
        let w = world(mode).await;
        sign_in_through(&w.app, "acme").await;
        let page = w.app.http.get(w.app.url("/logout")).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("name=\"upstream\""), "{mode}: {page}");
        // A hand-made `upstream=yes` changes nothing: "never" never goes upstream, "always" always does.
        let r = confirm(&w.app, &page, true, None).await;
        let went_upstream = location(&r).starts_with(&w.idp.base);
        assert_eq!(went_upstream, mode == "always", "{mode}");
    }
}

#[actix_web::test]
async fn ul_8_the_upstream_return_is_believed_only_in_the_browser_that_signed_out() {
    let w = world("always").await;
    sign_in_through(&w.app, "acme").await;
    let r = rp_logout(&w.app).await;
    assert_eq!(r.status(), 303);
    let back = location(&w.app.http.get(location(&r)).send().await.unwrap());
    assert!(back.starts_with(&w.app.url("/logout/upstream/acme?")), "{back}");

    // The state leaked (a log, a referrer, a shared link): another browser gets a page, no redirect, and the
    // pending sign-out stays for the browser it belongs to.
    let other = w.app.view();
    let r = other.http.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400, "[UL-8] another browser's return is not believed");
    assert!(r.headers().get("location").is_none());

    let r = w.app.http.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example/bye?state=app-state");
    let cleared = r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the binding cookie goes once it was used");
}

#[actix_web::test]
async fn fl_5_with_an_upstream_sign_out_the_frames_wait_for_the_return() {
    let w = world_with("always", |c| c.frontchannel_logout("https://rp.example/fc", false)).await;
    sign_in_through(&w.app, "acme").await;
    let r = rp_logout(&w.app).await;
    // No page that waits for the frames before going upstream (an app that never answers would hold it back).
    assert_eq!(r.status(), 303, "[FL-5] straight on to the upstream");
    let to_upstream = location(&r);
    assert!(to_upstream.starts_with(&format!("{}/logout?", w.idp.base)), "{to_upstream}");
    let back = location(&w.app.http.get(&to_upstream).send().await.unwrap());
    assert!(back.starts_with(&w.app.url("/logout/upstream/acme?")), "{back}");

    // The return page frames the apps of the ended session, under their CSP, then continues to the app.
    let r = w.app.http.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 200, "[FL-5] the frames are on the return page");
    let policy = r.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
    assert!(policy.contains("frame-src https://rp.example"), "[FL-4] {policy}");
    let page = r.text().await.unwrap();
    let frames: Vec<String> = page.split("<iframe ").skip(1).map(|f| attr(f, "src")).collect();
    assert_eq!(frames, vec!["https://rp.example/fc".to_string()]);
    let refresh = page.find("http-equiv=\"refresh\"").expect("continues once the frames loaded");
    assert_eq!(attr(&page[refresh..], "content"), "0; url=https://rp.example/bye?state=app-state");
    // Used once: the same return again finds nothing.
    assert_eq!(w.app.http.get(&back).send().await.unwrap().status(), 400);
}

#[actix_web::test]
async fn ul_7_a_box_that_cannot_be_honoured_is_not_offered() {
    // The upstream names no end_session_endpoint: "Also sign out of …" could only be a false promise.
    let idp = FakeIdp::start().await;
    idp.state.lock().unwrap().advertise_end_session = false;
    let w = world_on(idp, "ask", |c| c).await;
    sign_in_through(&w.app, "acme").await;
    let page = w.app.http.get(w.app.url("/logout")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"csrf\""), "the confirmation page: {page}");
    assert!(!page.contains("name=\"upstream\""), "[UL-7] no box that cannot be honoured: {page}");
    // Nothing to choose, so the app's own hint signs out at once, as for "never".
    let r = rp_logout(&w.app).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example/bye?state=app-state");
    assert!(!signed_in(&w.app).await);
}
