//! Trust boundaries, round 2 (docs/security.md, [TB-…] and [GC-…]): each test is a request sequence that
//! worked against the broker before the rule existed.

mod common;

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
    app.stop().await;
}

#[actix_web::test]
async fn az_24_an_unsupported_response_mode_is_refused_not_answered_in_the_query() {
    let app = spawn().await;
    for mode in ["fragment", "form_post", "web_message"] {
        let r = authorize(&app, &auth_query(&[("response_mode", mode)])).await;
        let loc = location(&r);
        assert!(loc.starts_with(RP), "{mode}: {loc}");
        assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"), "{mode}");
        assert_eq!(param(&loc, "iss").unwrap(), app.base);
    }
    let r = authorize(&app, &auth_query(&[("response_mode", "query")])).await;
    assert!(location(&r).starts_with("/login"), "query is the default and accepted");
    app.stop().await;
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
    app.stop().await;
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
    app.stop().await;
}

#[test]
fn tb_1a_linking_by_email_needs_a_provider_trusted_for_emails() {
    let text = "kind = \"oidc\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nlink_by_email = \"verified\"\n";
    let e = bridgekeeper::upstream::config::parse(text, std::path::Path::new("p/corp.toml"), &[]).unwrap_err();
    assert!(e.contains("corp.toml") && e.contains("link_by_email") && e.contains("trust_email"), "{e}");
    let ok = format!("{text}trust_email = true\n");
    assert!(bridgekeeper::upstream::config::parse(&ok, std::path::Path::new("p/corp.toml"), &[]).is_ok());
}
