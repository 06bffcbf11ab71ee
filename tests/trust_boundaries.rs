//! Trust boundaries, round 2 (docs/security.md, [TB-…] and [GC-…]): each test is a request sequence that
//! worked against the broker before the rule existed.

mod common;
use common::clients::ClientBuilder;

use bridgekeeper::accounts::linking::{self, Outcome};
use bridgekeeper::accounts::users::FederatedIdentity;
use bridgekeeper::upstream::config::LinkByEmail;
use common::oauth::*;

#[actix_web::test]
async fn tb_4_allowing_consent_never_skips_a_fresh_login_the_app_asked_for() {
    let app = spawn().await;
    code(&app, &[]).await; // signed in, consented
    for extra in [("max_age", "0"), ("prompt", "login")] {
        app.clock.advance(30);
        let r = authorize(&app, &auth_query(&[extra])).await;
        let loc = location(&r);
        assert!(loc.starts_with("/login?req="), "{loc}");
        let req = param(&app.url(&loc), "req").unwrap();
        let r = app.http.get(app.url(&format!("/consent?req={req}"))).send().await.unwrap();
        assert!(location(&r).starts_with("/login"), "{extra:?}: the consent page sends the person to sign in first");
        let page = app.http.get(app.url(&format!("/login/dev?req={req}"))).send().await.unwrap().text().await.unwrap();
        let form = [("req", req.clone()), ("csrf", hidden(&page, "csrf")), ("decision", "allow".into())];
        let r = app.http.post(app.url("/consent")).form(&form).send().await.unwrap();
        let loc = location(&r);
        assert!(!loc.starts_with(RP), "{extra:?}: a code was issued without the fresh login: {loc}");
        assert!(loc.starts_with("/login"), "{extra:?}: {loc}");
    }
    // A real sign-in then completes the request, with a fresh auth_time.
    app.clock.advance(30);
    let before = app.clock.now();
    let t = exchange(&app, &code(&app, &[("max_age", "0")]).await).await;
    let (_, id) = verify_jwt(&app, t["id_token"].as_str().unwrap()).await;
    assert!(id["auth_time"].as_i64().unwrap() >= before);
}

#[actix_web::test]
async fn az_24_an_unsupported_response_mode_is_refused_not_answered_in_the_query() {
    let app = spawn().await;
    // form_post is supported since issue 15 ([FP-1], tests/form_post.rs).
    for mode in ["fragment", "web_message", "jwt", "query.jwt"] {
        let r = authorize(&app, &auth_query(&[("response_mode", mode)])).await;
        let loc = location(&r);
        assert!(loc.starts_with(RP), "{mode}: {loc}");
        assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"), "{mode}");
        assert_eq!(param(&loc, "iss").unwrap(), app.base);
    }
    let r = authorize(&app, &auth_query(&[("response_mode", "query")])).await;
    assert!(location(&r).starts_with("/login"), "query is the default and accepted");
}

async fn pending_len(app: &common::TestApp, login_location: &str) -> usize {
    let id = param(&app.url(login_location), "req").unwrap();
    let now = app.clock.now();
    let row = app.state.db.run(move |c| bridgekeeper::store::auth_requests::find(c, &id, now)).await.unwrap();
    row.unwrap().params_json.len()
}

#[actix_web::test]
async fn gc_2_anonymous_authorization_requests_store_only_what_the_broker_understands() {
    let app = spawn().await;
    let mut q = auth_query(&[]);
    q.push(("unknown".into(), "x".repeat(30_000)));
    q.push(("display".into(), "page".into()));
    let r = app.http.post(app.url("/authorize")).form(&q).send().await.unwrap();
    let loc = location(&r);
    assert!(loc.starts_with("/login?req="), "unknown parameters are ignored: {loc}");
    let stored = pending_len(&app, &loc).await;
    assert!(stored < 2048, "the pending request stored {stored} bytes");
    // Every value within its own limit, but a stored form beyond 8 KiB: refused, nothing stored.
    let state = "\u{1}".repeat(1500);
    let r = authorize(&app, &auth_query(&[("state", &state)])).await;
    let loc = location(&r);
    assert!(loc.starts_with(RP), "{loc}");
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"));
    let r = authorize(&app, &auth_query(&[("login_hint", &"l".repeat(600))])).await;
    assert_eq!(param(&location(&r), "error").as_deref(), Some("invalid_request"), "login_hint beyond its limit");
}

fn fed(provider: &str, issuer: &str, subject: &str) -> FederatedIdentity {
    FederatedIdentity {
        provider: provider.into(),
        issuer: issuer.into(),
        subject: subject.into(),
        keyed_by_issuer: true,
        ..FederatedIdentity::default()
    }
}

fn user_of(o: Outcome) -> String {
    match o {
        Outcome::Existing(u) | Outcome::Linked(u) | Outcome::Created(u) => u.id,
        other => panic!("unexpected {other:?}"),
    }
}

#[actix_web::test]
async fn tb_1c_a_provider_re_pointed_at_another_issuer_never_maps_its_subjects_onto_old_users() {
    let app = common::TestApp::spawn().await;
    let now = app.clock.now();
    let run = |f: FederatedIdentity| {
        let db = app.state.db.clone();
        async move { user_of(db.run(move |c| linking::link(c, &f, LinkByEmail::Never, None, now)).await.unwrap()) }
    };
    let old = run(fed("corp", "https://old-idp.example", "s-1")).await;
    let new = run(fed("corp", "https://new-idp.example", "s-1")).await;
    assert_ne!(old, new, "the same subject at another issuer is another person");
    assert_eq!(run(fed("corp", "https://old-idp.example", "s-1")).await, old);
    assert_eq!(run(fed("corp-renamed", "https://old-idp.example", "s-1")).await, old, "renaming the file keeps users");
    // OAuth2 upstreams have no issuer: (provider id, subject).
    let oauth2 = |p: &str| FederatedIdentity { keyed_by_issuer: false, ..fed(p, "https://api.example", "42") };
    let a = run(oauth2("api-a")).await;
    assert_ne!(run(oauth2("api-b")).await, a);
    assert_eq!(run(oauth2("api-a")).await, a);
}

#[test]
fn tb_1a_linking_by_email_needs_a_provider_trusted_for_emails() {
    let text = "kind = \"oidc\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nlink_by_email = \"verified\"\n";
    let e = bridgekeeper::upstream::config::parse(text, std::path::Path::new("p/corp.toml"), &[]).unwrap_err();
    assert!(e.contains("corp.toml") && e.contains("link_by_email") && e.contains("trust_email"), "{e}");
    let ok = format!("{text}trust_email = true\n");
    assert!(bridgekeeper::upstream::config::parse(&ok, std::path::Path::new("p/corp.toml"), &[]).is_ok());
}

#[actix_web::test]
async fn tb_5b_a_sign_in_outside_the_pending_request_never_satisfies_its_prompt_login() {
    let app = spawn().await;
    code(&app, &[]).await;
    app.clock.advance(30);
    let r = authorize(&app, &auth_query(&[("prompt", "login")])).await;
    let loc = location(&r);
    assert!(loc.starts_with("/login?req="), "{loc}");
    let req = param(&app.url(&loc), "req").unwrap();
    // A sign-in that was not made for this request (no `req`): at a real upstream it may be a silent SSO.
    let page = app.http.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", hidden(&page, "csrf")), ("email", "ada@example.com".into()), ("link", "false".into())];
    let r = app.http.post(app.url("/login/dev")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = app.http.get(app.url(&format!("/authorize/resume?req={req}"))).send().await.unwrap();
    let loc = location(&r);
    assert!(loc.starts_with("/login"), "a code was issued without the sign-in the request asked for: {loc}");
}

#[actix_web::test]
async fn ca_4_a_wrong_method_never_tells_a_guesser_that_the_secret_was_right() {
    let app = common::TestApp::spawn_with(|s| {
        s.clients = vec![
            ClientBuilder::confidential("basic-only", "the-right-secret")
                .redirect(RP)
                .scopes(&["openid"])
                .grants(&["client_credentials"])
                .auth_method("client_secret_basic")
                .build(),
        ];
    })
    .await;
    let post = |secret: &'static str| {
        let app = &app;
        async move {
            let form = [("grant_type", "client_credentials"), ("client_id", "basic-only"), ("client_secret", secret)];
            json_error(app.http.post(app.url("/token")).form(&form).send().await.unwrap()).await
        }
    };
    let (right, wrong) = (post("the-right-secret").await, post("a-wrong-guess").await);
    assert_eq!(right.1, "invalid_client");
    let describe = |s: &'static str| {
        let app = &app;
        async move {
            let form = [("grant_type", "client_credentials"), ("client_id", "basic-only"), ("client_secret", s)];
            let r = app.http.post(app.url("/token")).form(&form).send().await.unwrap();
            r.json::<serde_json::Value>().await.unwrap()["error_description"].clone()
        }
    };
    assert_eq!(right, wrong);
    assert_eq!(describe("the-right-secret").await, describe("a-wrong-guess").await, "the same answer either way");
}

#[actix_web::test]
async fn tb_7_a_grant_whose_sign_in_is_gone_is_refused_at_refresh() {
    use diesel::RunQueryDsl;
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let mut c = app.state.db.conn().unwrap();
    diesel::sql_query("UPDATE grants SET session_hash = 'gone'").execute(&mut *c).unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "fails closed: nothing says which upstream must vouch");
}

#[actix_web::test]
async fn tb_4b_a_pending_request_is_answered_only_in_the_browser_that_started_it() {
    let app = spawn().await;
    code(&app, &[]).await; // the victim's browser: signed in, consented
    let attacker =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let r = attacker.get(app.url("/authorize")).query(&auth_query(&[("state", "attacker")])).send().await.unwrap();
    let loc = location(&r);
    let req = param(&app.url(&loc), "req").unwrap();
    for path in [format!("/authorize/resume?req={req}"), format!("/consent?req={req}"), format!("/login?req={req}")] {
        let r = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path} answered in another browser: {}", location(&r));
    }
    let r = attacker.get(app.url(&loc)).send().await.unwrap();
    assert_ne!(r.status(), 400, "the browser that started it still can");
}
