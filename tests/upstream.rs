//! Upstream providers: sign-in through an `oidc` and a GitHub-shaped upstream, every verification failure,
//! replayed and forged callbacks, scope mapping, claim and group mapping, and the linking rules.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::fake_idp::{FakeIdp, Tamper, User};
use common::oauth::*;

enum End {
    /// Redirected back to the app.
    App(String),
    /// A page (error or otherwise) with its status.
    Page(u16, String),
}

/// Plays the browser from any response until the app's redirect URI or a page, choosing `provider` on the
/// chooser and filling the dev form with `email`.
async fn drive(app: &TestApp, mut r: reqwest::Response, provider: &str, email: &str) -> End {
    for _ in 0..12 {
        if !r.status().is_redirection() {
            let status = r.status().as_u16();
            return End::Page(status, r.text().await.unwrap());
        }
        let loc = location(&r);
        if loc.starts_with(RP) || loc.starts_with("https://other.example") {
            return End::App(loc);
        }
        let loc = match loc.strip_prefix("/login?") {
            Some(rest) => format!("/login/{provider}?{rest}"),
            None => loc,
        };
        if loc.starts_with("/login/dev") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap().text().await.unwrap();
            let mut form =
                vec![("csrf", hidden(&page, "csrf")), ("email", email.to_string()), ("link", "false".into())];
            if page.contains("name=\"req\"") {
                form.push(("req", hidden(&page, "req")));
            }
            r = app.http.post(app.url("/login/dev")).form(&form).send().await.unwrap();
        } else if loc.starts_with("/consent") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap().text().await.unwrap();
            let form = [("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("decision", "allow".into())];
            r = app.http.post(app.url("/consent")).form(&form).send().await.unwrap();
        } else if loc.starts_with('/') {
            r = app.http.get(app.url(&loc)).send().await.unwrap();
        } else {
            r = app.http.get(&loc).send().await.unwrap();
        }
    }
    panic!("the flow did not end");
}

struct World {
    app: TestApp,
    idp: FakeIdp,
    _providers: tempfile::TempDir,
}

/// The broker with the dev provider, the fake as `acme` (oidc) and as `gh` (github).
async fn world(acme_extra: &str, gh_extra: &str) -> World {
    world_with(acme_extra, gh_extra, "trust_email = true\n").await
}

async fn world_with(acme_extra: &str, gh_extra: &str, dev_extra: &str) -> World {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", acme_extra)).unwrap();
    std::fs::write(dir.path().join("gh.toml"), idp.github_toml("gh", gh_extra)).unwrap();
    std::fs::write(dir.path().join("dev.toml"), format!("kind = \"dev\"\n{dev_extra}")).unwrap();
    let p = dir.path().to_path_buf();
    let app = spawn_in(p).await;
    World { app, idp, _providers: dir }
}

async fn spawn_in(providers: std::path::PathBuf) -> TestApp {
    let base = spawn_config();
    TestApp::spawn_with(move |s| {
        base(s);
        s.providers_dir = providers;
    })
    .await
}

fn spawn_config() -> impl FnOnce(&mut bridgekeeper::settings::Settings) {
    |s| {
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .name("App app")
                .redirect(RP)
                .scopes(&["openid", "profile", "email", "offline_access", "groups"])
                .build(),
        ];
    }
}

async fn sign_in(w: &World, provider: &str, scope: &str) -> End {
    let r = authorize(&w.app, &auth_query(&[("scope", scope)])).await;
    drive(&w.app, r, provider, "ada@example.com").await
}

async fn id_claims(w: &World, end: End) -> serde_json::Value {
    let End::App(loc) = end else { panic!("expected a redirect to the app") };
    let t = exchange(&w.app, &param(&loc, "code").unwrap()).await;
    verify_jwt(&w.app, t["id_token"].as_str().unwrap()).await.1
}

async fn user_count(app: &TestApp) -> usize {
    app.state.db.run(|c| bridgekeeper::store::users::list(c, 1000, 0)).await.unwrap().len()
}

#[actix_web::test]
async fn oidc_upstream_sign_in_end_to_end_with_state_nonce_pkce() {
    let w = world("", "").await;
    let claims = id_claims(&w, sign_in(&w, "acme", "openid email profile").await).await;
    assert_ne!(claims["sub"], "upstream-sub-1", "sub is the broker's own id");
    assert_eq!(claims["email"], "ada@upstream.test");
    assert_eq!(claims["name"], "User upstream-sub-1");
    let a = w.idp.last_authorize();
    assert_eq!(a.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert!(a.get("state").is_some_and(|s| s.len() >= 43) && a.get("nonce").is_some_and(|n| n.len() >= 43));
    assert_eq!(
        a.get("redirect_uri").unwrap(),
        &format!("{}/callback/acme", w.app.base),
        "distinct callback per upstream"
    );
    let t = w.idp.last_token_request();
    assert!(t.get("code_verifier").is_some_and(|v| v.len() >= 43), "PKCE round trip");
}

#[actix_web::test]
async fn every_upstream_verification_failure_is_rejected_and_stores_nothing() {
    let w = world("", "").await;
    for t in [
        Tamper::BadSignature,
        Tamper::WrongIss,
        Tamper::WrongAud,
        Tamper::WrongNonce,
        Tamper::Expired,
        Tamper::NoIssParam,
        Tamper::WrongIssParam,
        Tamper::BadAtHash,
        Tamper::UserinfoOtherSub,
        Tamper::NoIdToken,
        Tamper::AlgNone,
    ] {
        w.idp.set_tamper(t);
        match sign_in(&w, "acme", "openid email").await {
            End::Page(status, body) => {
                assert!((400..500).contains(&status) || status == 502, "{t:?}: {status}");
                assert!(body.contains("Request id"), "{t:?}: readable page");
            }
            End::App(loc) => panic!("{t:?} was accepted: {loc}"),
        }
        assert_eq!(user_count(&w.app).await, 0, "{t:?} created a user");
    }
    w.idp.set_tamper(Tamper::None);
    assert!(matches!(sign_in(&w, "acme", "openid").await, End::App(_)), "and a good answer still works");
}

#[actix_web::test]
async fn replayed_forged_and_cross_browser_callbacks_are_refused() {
    let w = world("", "").await;
    let r = authorize(&w.app, &auth_query(&[])).await;
    let req = location(&r);
    let r = w
        .app
        .http
        .get(w.app.url(&format!("/login/acme?{}", req.strip_prefix("/login?").unwrap())))
        .send()
        .await
        .unwrap();
    let upstream = w.app.http.get(location(&r)).send().await.unwrap();
    let callback = location(&upstream);
    assert!(callback.starts_with(&format!("{}/callback/acme?", w.app.base)));
    let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    assert_eq!(stranger.get(&callback).send().await.unwrap().status(), 400, "another browser");
    let first = w.app.http.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 400, "the cross-browser attempt spent the state");
    let users = user_count(&w.app).await;
    let forged = callback.replace("state=", "state=x");
    assert_eq!(w.app.http.get(&forged).send().await.unwrap().status(), 400, "forged state");
    assert_eq!(w.app.http.get(w.app.url("/callback/acme?code=abc")).send().await.unwrap().status(), 400, "no state");
    assert_eq!(user_count(&w.app).await, users, "nothing stored");
    // A clean run, then its replay.
    let r = authorize(&w.app, &auth_query(&[])).await;
    let req = location(&r);
    let r = w
        .app
        .http
        .get(w.app.url(&format!("/login/acme?{}", req.strip_prefix("/login?").unwrap())))
        .send()
        .await
        .unwrap();
    let upstream = w.app.http.get(location(&r)).send().await.unwrap();
    let callback = location(&upstream);
    assert_eq!(w.app.http.get(&callback).send().await.unwrap().status(), 303);
    assert_eq!(w.app.http.get(&callback).send().await.unwrap().status(), 400, "replayed callback");
}

/// `POST /callback/{id}` exists for Apple's form_post only: another provider answers 405 and its pending login
/// (the state) is left as it was, so the real `GET` callback still completes.
#[actix_web::test]
async fn ap_3_a_post_callback_to_a_non_apple_provider_is_405() {
    let w = world("", "").await;
    let r = authorize(&w.app, &auth_query(&[])).await;
    let req = location(&r);
    let login = format!("/login/acme?{}", req.strip_prefix("/login?").unwrap());
    let r = w.app.http.get(w.app.url(&login)).send().await.unwrap();
    let callback = location(&w.app.http.get(location(&r)).send().await.unwrap());
    let (url, query) = callback.split_once('?').unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let post = w.app.http.post(url).form(&form).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(user_count(&w.app).await, 0);
    let r = w.app.http.get(&callback).send().await.unwrap();
    assert!(matches!(drive(&w.app, r, "acme", "").await, End::App(_)), "the state was not spent");
}

/// accept-string-booleans: a string `email_verified` is only ever "true" or "false" (openidconnect refuses any
/// other string); "false" is false, never a verified email.
#[actix_web::test]
async fn tb_1b_string_email_verified_false_is_false() {
    let w = world("trust_email = true\n", "").await;
    w.idp.set_email_verified_claim(Some("false".into()));
    let claims = id_claims(&w, sign_in(&w, "acme", "openid email").await).await;
    assert_eq!(claims["email"], "ada@upstream.test");
    assert_eq!(claims["email_verified"], false, "{claims}");
    let ident = w
        .app
        .state
        .db
        .run(|c| {
            let u = bridgekeeper::store::users::list(c, 10, 0)?;
            bridgekeeper::store::identities::list_for_user(c, &u[0].id)
        })
        .await
        .unwrap();
    assert!(!ident[0].email_verified && !ident[0].email_trusted, "recorded unverified");
    // Each later sign-in in a fresh browser (no broker session), so that it reaches the upstream.
    let fresh = |sub: &str| {
        w.idp.set_user(User::new(sub, &format!("{sub}@upstream.test")));
        let b = w.app.view();
        async move {
            let r = authorize(&b, &auth_query(&[("scope", "openid email")])).await;
            drive(&b, r, "acme", "").await
        }
    };
    w.idp.set_email_verified_claim(Some("yes".into()));
    match fresh("bob").await {
        // openidconnect fails the whole token response (an upstream answer it cannot read: 502), never a 500.
        End::Page(status, _) => assert!(status == 400 || status == 502, "\"yes\" is no boolean: {status}"),
        End::App(loc) => panic!("accepted: {loc}"),
    }
    assert_eq!(user_count(&w.app).await, 1);
    w.idp.set_email_verified_claim(Some("true".into()));
    let claims = id_claims(&w, fresh("carol").await).await;
    assert_eq!(claims["email_verified"], true, "the string \"true\" is true");
}

#[actix_web::test]
async fn scope_map_adds_upstream_scopes_for_the_downstream_scopes_asked() {
    let w = world("[scope_map]\ngroups = [\"acme:groups\"]\n", "").await;
    assert!(matches!(sign_in(&w, "acme", "openid email").await, End::App(_)));
    let scope = w.idp.last_authorize().get("scope").cloned().unwrap();
    assert!(!scope.contains("acme:groups"), "{scope}");
    assert!(scope.contains("email") && scope.contains("openid"));
    let r = authorize(&w.app, &auth_query(&[("scope", "openid groups"), ("prompt", "login")])).await;
    assert!(matches!(drive(&w.app, r, "acme", "").await, End::App(_)));
    let scope = w.idp.last_authorize().get("scope").cloned().unwrap();
    assert!(scope.contains("acme:groups"), "{scope}");
}

#[actix_web::test]
async fn oidc_groups_are_released_only_through_group_rules() {
    let w = world("[[group_rules]]\nupstream = \"eng\"\ngroup = \"developers\"\n", "").await;
    let mut u = User::new("g-1", "g@upstream.test");
    u.groups = vec!["eng".into(), "secret-team".into()];
    w.idp.set_user(u);
    let claims = id_claims(&w, sign_in(&w, "acme", "openid groups").await).await;
    assert_eq!(claims["groups"], serde_json::json!(["developers"]));
}

#[actix_web::test]
async fn github_upstream_uses_verified_primary_email_and_orgs_as_groups() {
    let w = world(
        "",
        "trust_email = true\n[scope_map]\ngroups = [\"read:org\"]\n[[group_rules]]\nupstream = \"acme-org\"\ngroup = \"staff\"\n",
    )
    .await;
    let mut u = User::new("octocat", "octo@upstream.test");
    u.github_orgs = vec!["acme-org".into(), "other".into()];
    w.idp.set_user(u);
    let claims = id_claims(&w, sign_in(&w, "gh", "openid email profile groups").await).await;
    assert_eq!(claims["email"], "octo@upstream.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["preferred_username"], "octocat");
    assert_eq!(claims["groups"], serde_json::json!(["staff"]));
    assert!(w.idp.last_authorize().get("scope").unwrap().contains("read:org"));
    assert!(w.idp.last_token_request().contains_key("code_verifier"), "PKCE with the oauth2 kind too");
    let ident = w
        .app
        .state
        .db
        .run(|c| {
            let u = bridgekeeper::store::users::list(c, 10, 0)?;
            bridgekeeper::store::identities::list_for_user(c, &u[0].id)
        })
        .await
        .unwrap();
    assert_eq!(ident[0].provider, "gh");
    assert!(ident[0].subject.parse::<u64>().is_ok(), "numeric GitHub id as subject");
}

#[actix_web::test]
async fn github_unverified_primary_email_is_not_asserted() {
    let w = world("", "").await;
    let mut u = User::new("octo2", "o2@upstream.test");
    u.email_verified = false;
    w.idp.set_user(u);
    let claims = id_claims(&w, sign_in(&w, "gh", "openid email").await).await;
    assert!(claims.get("email").is_none() || claims["email_verified"] == false, "{claims}");
}

/// Creates a local user ada@example.com (verified) through the dev provider, then signs out.
async fn local_user_via_dev(w: &World) -> serde_json::Value {
    let claims = id_claims(w, sign_in(w, "dev", "openid email").await).await;
    w.app.http.get(w.app.url("/logout")).send().await.unwrap();
    let page = w.app.http.get(w.app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let r = w
        .app
        .http
        .post(w.app.url("/logout/confirm"))
        .form(&[("csrf", hidden(&page, "csrf")), ("params", String::new())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    claims
}

#[actix_web::test]
async fn link_by_verified_email_links_to_the_one_local_user() {
    let w = world("link_by_email = \"verified\"\ntrust_email = true\n", "").await;
    let local = local_user_via_dev(&w).await;
    w.idp.set_user(User::new("up-7", "ada@example.com"));
    let via_acme = id_claims(&w, sign_in(&w, "acme", "openid email").await).await;
    assert_eq!(via_acme["sub"], local["sub"], "one person, one sub");
    let events = w.app.state.db.run(|c| bridgekeeper::store::audit::list(c, 100)).await.unwrap();
    assert!(events.iter().any(|e| e.event == "link_by_email"));
}

#[actix_web::test]
async fn unverified_email_never_links_and_never_creates_a_second_account() {
    let w = world("link_by_email = \"verified\"\ntrust_email = true\n", "").await;
    local_user_via_dev(&w).await;
    let mut u = User::new("up-8", "ada@example.com");
    u.email_verified = false;
    w.idp.set_user(u);
    match sign_in(&w, "acme", "openid email").await {
        End::Page(409, body) => assert!(body.contains("already have an account"), "{body}"),
        other => panic!(
            "expected the 'sign in with the provider you used before' page, got {}",
            matches!(other, End::App(_))
        ),
    }
    assert_eq!(user_count(&w.app).await, 1);
}

#[actix_web::test]
async fn link_by_email_never_refuses_a_known_email() {
    let w = world("", "").await;
    local_user_via_dev(&w).await;
    w.idp.set_user(User::new("up-9", "ada@example.com"));
    assert!(matches!(sign_in(&w, "acme", "openid").await, End::Page(409, _)));
    assert_eq!(user_count(&w.app).await, 1);
}

async fn account_page(w: &World) -> String {
    w.app.http.get(w.app.url("/account")).send().await.unwrap().text().await.unwrap()
}

/// Starts linking `provider` from the account page (a POST with its CSRF token).
async fn start_link(w: &World, provider: &str) -> reqwest::Response {
    let csrf = hidden(&account_page(w).await, "csrf");
    w.app
        .http
        .post(w.app.url("/account/link"))
        .form(&[("csrf", csrf.as_str()), ("provider", provider)])
        .send()
        .await
        .unwrap()
}

async fn identities_of(w: &World, user: &serde_json::Value) -> usize {
    let id = user["sub"].as_str().unwrap().to_string();
    w.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &id)).await.unwrap().len()
}

#[actix_web::test]
async fn tb_1d_linking_starts_only_with_a_csrf_protected_post_from_a_recent_sign_in() {
    let w = world("", "").await;
    let victim = id_claims(&w, sign_in(&w, "dev", "openid").await).await;
    w.idp.set_user(User::new("attacker-upstream", "mallory@upstream.test"));
    let forged = [("csrf", "forged"), ("provider", "acme")];
    let r = w.app.http.post(w.app.url("/account/link")).form(&forged).send().await.unwrap();
    assert_eq!(r.status(), 400, "the CSRF token is checked");
    w.app.clock.advance(301);
    let r = start_link(&w, "acme").await;
    assert_eq!(r.status(), 401, "a sign-in older than linking.max_auth_age_secs must be renewed first");
    assert!(r.text().await.unwrap().contains("sign in again"));
    // A GET a third-party page can make the victim's browser send never links (the old `?link=1`).
    let r = w.app.http.get(w.app.url("/login/acme?link=1")).send().await.unwrap();
    drive(&w.app, r, "acme", "").await;
    assert_eq!(identities_of(&w, &victim).await, 1, "nothing was linked to the victim");
}

#[actix_web::test]
async fn account_page_links_a_second_provider_then_either_gives_the_same_sub_and_unlink_keeps_one() {
    let mut w = world("", "").await;
    let first = id_claims(&w, sign_in(&w, "dev", "openid").await).await;
    w.idp.set_user(User::new("up-10", "elsewhere@upstream.test"));
    let r = start_link(&w, "acme").await;
    match drive(&w.app, r, "acme", "").await {
        End::Page(200, body) => {
            assert!(body.contains("Acme acme"), "the account page lists the new link: {body}")
        }
        End::Page(s, b) => panic!("{s}: {b}"),
        End::App(l) => panic!("{l}"),
    }
    let fresh =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let original = std::mem::replace(&mut w.app.http, fresh);
    let second = id_claims(&w, sign_in(&w, "acme", "openid").await).await;
    assert_eq!(first["sub"], second["sub"], "two providers, one person, one sub");
    w.app.http = original;
    let page = account_page(&w).await;
    let ids: Vec<String> = page
        .match_indices("name=\"identity_id\" value=\"")
        .map(|(i, m)| {
            let s = i + m.len();
            page[s..s + page[s..].find('"').unwrap()].to_string()
        })
        .collect();
    assert_eq!(ids.len(), 2);
    let csrf = hidden(&page, "csrf");
    let r = w
        .app
        .http
        .post(w.app.url("/account/unlink"))
        .form(&[("csrf", csrf.clone()), ("identity_id", ids[1].clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = w
        .app
        .http
        .post(w.app.url("/account/unlink"))
        .form(&[("csrf", csrf), ("identity_id", ids[0].clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "never the last identity");
}

#[actix_web::test]
async fn revoking_an_app_from_the_account_page_ends_its_refresh_tokens() {
    let w = world("", "").await;
    let End::App(loc) = sign_in(&w, "dev", "openid offline_access").await else { panic!() };
    let t = exchange(&w.app, &param(&loc, "code").unwrap()).await;
    let page = account_page(&w).await;
    assert!(page.contains("App app"));
    let r = w
        .app
        .http
        .post(w.app.url("/account/revoke"))
        .form(&[("csrf", hidden(&page, "csrf")), ("client_id", "app".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = token(
        &w.app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant");
    assert!(!account_page(&w).await.contains("App app"));
}

#[actix_web::test]
async fn idp_hint_skips_the_chooser_and_an_unreachable_upstream_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("down.toml"),
        "kind = \"oidc\"\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"x\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("dev.toml"), "kind = \"dev\"\n").unwrap();
    let app = spawn_in(dir.path().to_path_buf()).await;
    app.state.upstreams().warm_up().await;
    let r = authorize(&app, &auth_query(&[("idp_hint", "dev")])).await;
    let chooser = app.http.get(app.url(&location(&r))).send().await.unwrap();
    assert!(location(&chooser).starts_with("/login/dev?"), "idp_hint goes straight to the provider");
    let r = authorize(&app, &auth_query(&[])).await;
    let page = app.http.get(app.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Continue with down") && page.contains("Continue with dev"), "{page}");
    assert!(page.contains("currently unavailable"), "an unreachable upstream is marked");
    let r = authorize(&app, &auth_query(&[])).await;
    let w = World { app, idp: FakeIdp::start().await, _providers: dir };
    match drive(&w.app, r, "down", "").await {
        End::Page(502, body) => assert!(body.contains("unavailable")),
        _ => panic!("an unreachable upstream shows a readable 502 page"),
    }
    assert!(matches!(sign_in(&w, "dev", "openid").await, End::App(_)), "other providers unaffected");
}

#[actix_web::test]
async fn a_fresh_login_asked_downstream_is_asked_upstream_and_checked() {
    let w = world("", "").await;
    assert!(matches!(sign_in(&w, "acme", "openid").await, End::App(_)));
    for extra in [("prompt", "login"), ("max_age", "0")] {
        w.idp.set_tamper(Tamper::StaleAuthTime);
        let r = authorize(&w.app, &auth_query(&[extra])).await;
        match drive(&w.app, r, "acme", "").await {
            End::Page(400, _) => {}
            _ => panic!("{extra:?}: an upstream that did not re-authenticate is refused"),
        }
        let a = w.idp.last_authorize();
        assert_eq!(a.get("prompt").map(String::as_str), Some("login"), "{extra:?} passed upstream");
        w.idp.set_tamper(Tamper::None);
        let r = authorize(&w.app, &auth_query(&[extra])).await;
        let claims = id_claims(&w, drive(&w.app, r, "acme", "").await).await;
        let now = w.app.clock.now();
        assert!((claims["auth_time"].as_i64().unwrap() - now).abs() <= 5, "the upstream's fresh auth_time");
    }
    let r = authorize(&w.app, &auth_query(&[("max_age", "600")])).await;
    assert!(location(&r).starts_with(RP), "max_age satisfied: silent");
}

#[actix_web::test]
async fn refresh_upstream_rechecks_the_upstream_and_fails_when_the_account_is_gone() {
    let w = world("refresh_upstream = true\n", "").await;
    let End::App(loc) = sign_in(&w, "acme", "openid offline_access").await else { panic!("sign-in") };
    let t = exchange(&w.app, &param(&loc, "code").unwrap()).await;
    let stored = w
        .app
        .state
        .db
        .run(|c| {
            let u = bridgekeeper::store::users::list(c, 10, 0)?;
            bridgekeeper::store::identities::list_for_user(c, &u[0].id)
        })
        .await
        .unwrap();
    let sealed = stored[0].upstream_refresh_token.clone().expect("upstream refresh token kept");
    assert!(sealed.starts_with("enc1:test:"), "sealed at rest");
    let r = token(
        &w.app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(r.status(), 200, "upstream still accepts the person");
    let rt2 = r.json::<serde_json::Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        w.idp.last_token_request().get("grant_type").map(String::as_str),
        Some("refresh_token"),
        "the upstream was asked"
    );
    w.idp.disable("upstream-sub-1");
    let r = token(&w.app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "upstream account gone: refresh fails");
    let events = w.app.state.db.run(|c| bridgekeeper::store::audit::list(c, 100)).await.unwrap();
    assert!(events.iter().any(|e| e.event == "upstream_refresh_refused"));
}

#[actix_web::test]
async fn refresh_upstream_needs_an_encryption_key() {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "refresh_upstream = true")).unwrap();
    let db = common::test_db();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = common::settings(&db.url, &format!("http://{}", listener.local_addr().unwrap()));
    s.providers_dir = dir.path().to_path_buf();
    s.encryption_keys = bridgekeeper::secret::Secret::new("");
    let err = bridgekeeper::server::AppState::prepare(s, bridgekeeper::clock::Clock::System).await.unwrap_err();
    assert!(err.to_string().contains("refresh_upstream") && err.to_string().contains("encryption_keys"), "{err}");
}

#[actix_web::test]
async fn a_slow_garbage_or_huge_upstream_gives_a_readable_page_quickly_and_stores_nothing() {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "")).unwrap();
    std::fs::write(dir.path().join("dev.toml"), "kind = \"dev\"\n").unwrap();
    let providers = dir.path().to_path_buf();
    let base = spawn_config();
    let app = TestApp::spawn_with(move |s| {
        base(s);
        s.providers_dir = providers;
        s.upstream_timeout_secs = 1;
    })
    .await;
    let w = World { app, idp, _providers: dir };
    for t in [Tamper::Slow, Tamper::Garbage, Tamper::Huge] {
        w.idp.set_tamper(t);
        let started = std::time::Instant::now();
        match sign_in(&w, "acme", "openid").await {
            End::Page(status, body) => {
                assert!(status == 502 || status == 400, "{t:?}: {status}");
                assert!(body.contains("Request id"));
            }
            End::App(_) => panic!("{t:?} accepted"),
        }
        assert!(started.elapsed() < std::time::Duration::from_millis(2900), "{t:?}: no hang beyond the timeout");
        assert_eq!(user_count(&w.app).await, 0, "{t:?}: nothing stored");
    }
    assert!(matches!(sign_in(&w, "dev", "openid").await, End::App(_)), "other providers unaffected");
}

#[actix_web::test]
async fn groups_are_the_union_over_linked_identities_not_the_last_sign_in() {
    let w = world("[[group_rules]]\nupstream = \"eng\"\ngroup = \"developers\"\n", "").await;
    let mut u = User::new("g-2", "g2@upstream.test");
    u.groups = vec!["eng".into()];
    w.idp.set_user(u);
    let first = id_claims(&w, sign_in(&w, "acme", "openid groups").await).await;
    assert_eq!(first["groups"], serde_json::json!(["developers"]));
    // Link the dev provider (no groups) and sign in with it: the groups from acme stay.
    let page = w.app.http.get(w.app.url("/login/dev?link=1")).send().await.unwrap().text().await.unwrap();
    let r = w
        .app
        .http
        .post(w.app.url("/login/dev"))
        .form(&[("csrf", hidden(&page, "csrf")), ("email", "dev-self@example.com".into()), ("link", "true".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/account");
    let r = authorize(&w.app, &auth_query(&[("scope", "openid groups"), ("prompt", "login")])).await;
    let again = id_claims(&w, drive(&w.app, r, "dev", "dev-self@example.com").await).await;
    assert_eq!(again["sub"], first["sub"]);
    assert_eq!(again["groups"], serde_json::json!(["developers"]), "still a developer after a dev sign-in");
}

#[actix_web::test]
async fn tb_1_a_provider_not_trusted_for_emails_cannot_pre_claim_a_victims_account() {
    // `dev` (not trusted for emails) says ada@example.com is verified; acme is trusted and links by email.
    let w = world_with("link_by_email = \"verified\"\ntrust_email = true\n", "", "").await;
    let attacker = local_user_via_dev(&w).await;
    assert_eq!(attacker["email_verified"], false, "an untrusted provider's email is never released as verified");
    w.idp.set_user(User::new("victim-1", "ada@example.com"));
    let victim = id_claims(&w, sign_in(&w, "acme", "openid email").await).await;
    assert_ne!(victim["sub"], attacker["sub"], "the victim is never signed in to the attacker's account");
    assert_eq!(victim["email_verified"], true);
    let events = w.app.state.db.run(|c| bridgekeeper::store::audit::list(c, 100)).await.unwrap();
    assert!(!events.iter().any(|e| e.event == "link_by_email"));
}

#[actix_web::test]
async fn tb_5_a_fresh_login_an_upstream_cannot_confirm_is_login_required() {
    let w = world("", "").await;
    let r = authorize(&w.app, &auth_query(&[("scope", "openid"), ("prompt", "login")])).await;
    let End::App(loc) = drive(&w.app, r, "gh", "ada@example.com").await else { panic!("expected the app") };
    assert_eq!(param(&loc, "error").as_deref(), Some("login_required"), "{loc}");
    assert!(param(&loc, "code").is_none());
    assert_eq!(param(&loc, "iss").unwrap(), w.app.base);
    assert_eq!(param(&loc, "state").as_deref(), Some("st-1"));
    w.app.stop().await;
    // An admin who trusts the provider to honour prompt=login says so.
    let w = world("", "honours_prompt_login = true\n").await;
    let r = authorize(&w.app, &auth_query(&[("scope", "openid"), ("max_age", "0")])).await;
    let End::App(loc) = drive(&w.app, r, "gh", "ada@example.com").await else { panic!("expected the app") };
    assert!(param(&loc, "code").is_some(), "{loc}");
}

#[actix_web::test]
async fn tb_1e_an_admin_unlink_ends_the_sessions_and_grants_that_came_through_that_identity() {
    let w = world("", "").await;
    let mut settings = (*w.app.state.settings()).clone();
    settings.clients.push(
        ClientBuilder::confidential("ops", "ops-secret").scopes(&["admin"]).grants(&["client_credentials"]).build(),
    );
    bridgekeeper::accounts::clients::sync_static(&w.app.state.db, &settings, &[], 0).await.unwrap();
    let user = id_claims(&w, sign_in(&w, "dev", "openid").await).await;
    w.idp.set_user(User::new("up-11", "linked@upstream.test"));
    drive(&w.app, start_link(&w, "acme").await, "acme", "").await;
    assert_eq!(identities_of(&w, &user).await, 2);
    let r = authorize(&w.app, &auth_query(&[("scope", "openid offline_access"), ("prompt", "login")])).await;
    let End::App(loc) = drive(&w.app, r, "acme", "").await else { panic!("expected the app") };
    let t = exchange(&w.app, &param(&loc, "code").unwrap()).await;
    let admin = token(&w.app, ("ops", "ops-secret"), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let admin = admin.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let uid = user["sub"].as_str().unwrap().to_string();
    let u2 = uid.clone();
    let idents = w.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &u2)).await.unwrap();
    let acme = idents.iter().find(|i| i.provider == "acme").unwrap().id.clone();
    let url = w.app.url(&format!("/admin/api/users/{uid}/identities/{acme}"));
    assert_eq!(w.app.http.delete(url).bearer_auth(&admin).send().await.unwrap().status(), 204);
    let rt = t["refresh_token"].as_str().unwrap();
    let r = token(&w.app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "the offline grant from the unlinked sign-in ended");
    let r = w.app.http.get(w.app.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "the session that came through the unlinked identity ended");
}

#[actix_web::test]
async fn tb_1f_groups_from_an_identity_expire_after_groups_max_age_secs_without_a_new_sign_in() {
    let w =
        world("groups_max_age_secs = 3600\n[[group_rules]]\nupstream = \"eng\"\ngroup = \"developers\"\n", "").await;
    let mut u = User::new("g-3", "g3@upstream.test");
    u.groups = vec!["eng".into()];
    w.idp.set_user(u);
    let End::App(loc) = sign_in(&w, "acme", "openid groups offline_access").await else { panic!("expected the app") };
    let t = exchange(&w.app, &param(&loc, "code").unwrap()).await;
    let (_, id) = verify_jwt(&w.app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["groups"], serde_json::json!(["developers"]));
    w.app.clock.advance(3601);
    let rt = t["refresh_token"].as_str().unwrap();
    let r = token(&w.app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    let t2: serde_json::Value = r.json().await.unwrap();
    let (_, id2) = verify_jwt(&w.app, t2["id_token"].as_str().unwrap()).await;
    assert_eq!(id2["groups"], serde_json::json!([]), "an hour after the last sign-in the groups no longer hold");
    let ui: serde_json::Value = userinfo(&w.app, t2["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(ui["groups"], serde_json::json!([]));
}

#[actix_web::test]
async fn tb_1a_withdrawn_email_trust_takes_effect_without_a_new_sign_in() {
    let mut w = world_with("link_by_email = \"verified\"\ntrust_email = true\n", "", "trust_email = true\n").await;
    let attacker = local_user_via_dev(&w).await;
    assert_eq!(attacker["email_verified"], true, "trusted while dev was trusted");
    // The admin withdraws trust from `dev` and restarts; the attacker never signs in again.
    std::fs::write(w._providers.path().join("dev.toml"), "kind = \"dev\"\n").unwrap();
    let providers = w._providers.path().to_path_buf();
    let db = w.app.db.share();
    let base = spawn_config();
    let restarted = TestApp::spawn_on(db, move |s| {
        base(s);
        s.providers_dir = providers;
    })
    .await;
    let old = std::mem::replace(&mut w.app, restarted);
    old.stop().await;
    let uid = attacker["sub"].as_str().unwrap().to_string();
    let u = w.app.state.db.run(move |c| bridgekeeper::store::users::find(c, &uid)).await.unwrap().unwrap();
    assert!(!u.email_verified, "no longer released as verified");
    w.idp.set_user(User::new("victim-2", "ada@example.com"));
    let victim = id_claims(&w, sign_in(&w, "acme", "openid email").await).await;
    assert_ne!(victim["sub"], attacker["sub"], "never linked into the account of a provider no longer trusted");
}

#[actix_web::test]
async fn tb_1c_an_oauth2_identity_never_answers_an_openid_connect_issuers_key() {
    // An OAuth2 provider file that names an OIDC issuer: its identities still get a name of their own.
    let w = world("", "issuer = \"https://accounts.google.com\"\n").await;
    w.idp.set_user(User::new("octo-2", "octo2@upstream.test"));
    let user = id_claims(&w, sign_in(&w, "gh", "openid").await).await;
    let uid = user["sub"].as_str().unwrap().to_string();
    let idents = w.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &uid)).await.unwrap();
    assert_eq!(idents[0].issuer, "urn:bridgekeeper:oauth2:gh");
}

/// The confirm flow: the offer (through acme), then the proving sign-in with `provider` as `email` for a new request
/// when `fresh_request`, else for the offer's; returns where that sign-in sent us.
async fn offer_then_prove(w: &World, provider: &str, email: &str, fresh_request: bool) -> String {
    let body = match sign_in(w, "acme", "openid email").await {
        End::Page(409, body) => body,
        End::Page(s, b) => panic!("expected the offer, got {s}: {b}"),
        End::App(l) => panic!("linked or created without asking: {l}"),
    };
    let body = body.replace("&#x2F;", "/").replace("&#x3D;", "=").replace("&amp;", "&");
    assert!(body.contains("Sign in the way you did before") && !body.contains("/login/dev"), "{body}");
    let start = body.find("href=\"/login?req=").expect("the chooser") + "href=\"/login?req=".len();
    let mut req = body[start..start + body[start..].find('"').unwrap()].to_string();
    if fresh_request {
        let r = authorize(&w.app, &auth_query(&[("scope", "openid"), ("state", "st-2")])).await;
        req = param(&w.app.url(&location(&r)), "req").unwrap();
    }
    if provider != "dev" {
        let r = w.app.http.get(w.app.url(&format!("/login/{provider}?req={req}"))).send().await.unwrap();
        let r = w.app.http.get(location(&r)).send().await.unwrap();
        let r = w.app.http.get(location(&r)).send().await.unwrap();
        return location(&r);
    }
    let page = w.app.http.get(w.app.url(&format!("/login/dev?req={req}"))).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("email", email.to_string()), ("link", "false".into()), ("req", req)];
    let r = w.app.http.post(w.app.url("/login/dev")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    location(&r)
}

async fn answer_offer(w: &World, at: &str, decision: &str) -> reqwest::Response {
    let page = w.app.http.get(w.app.url(at)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Link Acme acme"), "{page}");
    let mut form = vec![("csrf", hidden(&page, "csrf")), ("decision", decision.to_string())];
    if page.contains("name=\"req\"") {
        form.push(("req", hidden(&page, "req")));
    }
    w.app.http.post(w.app.url("/link/confirm")).form(&form).send().await.unwrap()
}

#[actix_web::test]
async fn tb_1g_confirm_links_only_after_the_person_signs_in_to_the_existing_account_and_confirms() {
    let w = world("link_by_email = \"confirm\"\n", "").await;
    let local = local_user_via_dev(&w).await;
    w.idp.set_user(User::new("up-c1", "ada@example.com"));
    let at = offer_then_prove(&w, "dev", "ada@example.com", false).await;
    assert!(at.starts_with("/link/confirm"), "{at}");
    let r = answer_offer(&w, &at, "link").await;
    assert!(location(&r).starts_with("/authorize/resume"), "{}", location(&r));
    let claims = id_claims(&w, drive(&w.app, r, "acme", "").await).await;
    assert_eq!(claims["sub"], local["sub"], "one person, one sub");
    assert_eq!(identities_of(&w, &local).await, 2);
    let events = w.app.state.db.run(|c| bridgekeeper::store::audit::list(c, 100)).await.unwrap();
    assert!(events.iter().any(|e| e.event == "link_confirmed"));
}

#[actix_web::test]
async fn tb_1g_a_confirmation_resumes_the_request_of_the_proving_sign_in_not_the_offers() {
    let w = world("link_by_email = \"confirm\"\n", "").await;
    let local = local_user_via_dev(&w).await;
    w.idp.set_user(User::new("up-c3", "ada@example.com"));
    let at = offer_then_prove(&w, "dev", "ada@example.com", true).await;
    let r = answer_offer(&w, &at, "cancel").await;
    let End::App(loc) = drive(&w.app, r, "dev", "ada@example.com").await else { panic!("expected the app") };
    assert_eq!(param(&loc, "state").as_deref(), Some("st-2"), "the proving sign-in's own request");
    assert_eq!(identities_of(&w, &local).await, 1);
}

#[actix_web::test]
async fn tb_1g_a_sign_in_at_a_provider_not_trusted_to_re_authenticate_proves_nothing() {
    let w = world("link_by_email = \"confirm\"\n", "trust_email = true\n").await;
    w.idp.set_user(User::new("octo-9", "ada@example.com"));
    let local = id_claims(&w, sign_in(&w, "gh", "openid").await).await;
    w.app.http.get(w.app.url("/logout")).send().await.unwrap();
    let page = w.app.http.get(w.app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("params", String::new())];
    w.app.http.post(w.app.url("/logout/confirm")).form(&form).send().await.unwrap();
    let at = offer_then_prove(&w, "gh", "", false).await;
    assert!(!at.starts_with("/link/confirm"), "a GitHub sign-in (no prompt=login) proved ownership: {at}");
    assert_eq!(identities_of(&w, &local).await, 1);
}

#[actix_web::test]
async fn tb_1g_proving_another_account_or_declining_links_nothing() {
    let w = world("link_by_email = \"confirm\"\n", "").await;
    let local = local_user_via_dev(&w).await;
    w.idp.set_user(User::new("up-c2", "ada@example.com"));
    let next = offer_then_prove(&w, "dev", "someone-else@example.com", false).await;
    assert!(!next.starts_with("/link/confirm"), "a sign-in to another account proves nothing");
    assert_eq!(w.app.http.get(w.app.url("/link/confirm")).send().await.unwrap().status(), 400);
    assert_eq!(identities_of(&w, &local).await, 1);
    let fresh =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let mut w = w;
    w.app.http = fresh;
    let at = offer_then_prove(&w, "dev", "ada@example.com", false).await;
    assert!(at.starts_with("/link/confirm"), "{at}");
    let r = answer_offer(&w, &at, "cancel").await;
    assert_eq!(r.status(), 303);
    assert_eq!(identities_of(&w, &local).await, 1, "declined: nothing linked");
    assert_eq!(w.app.http.get(w.app.url("/link/confirm")).send().await.unwrap().status(), 400, "single use");
}
