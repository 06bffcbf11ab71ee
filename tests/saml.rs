//! `kind = "saml"` ([SA-1]–[SA-10]) against a real third-party IdP: pysaml2 signing with xmlsec1 on 127.0.0.1
//! (`tests/saml/idp.py`), with the attack documents derived from its real signed responses.

mod common;
#[path = "saml/fixture.rs"]
mod fixture;
#[path = "saml/reload.rs"]
mod reload;

use common::TestApp;
use common::oauth::{RP, auth_query, authorize, exchange, hidden, location, param, verify_jwt};
use fixture::{PROVIDER, Post, World, identities, post, sign_in, to_idp};

/// Follows the broker from the ACS answer to the app's redirect URI (consent allowed on the way).
async fn to_app(browser: &TestApp, mut r: Result<String, u16>) -> Result<String, u16> {
    for _ in 0..6 {
        let loc = r?;
        if loc.starts_with(RP) {
            return Ok(loc);
        }
        let resp = if loc.starts_with("/consent") {
            let page = browser.http.get(browser.url(&loc)).send().await.unwrap().text().await.unwrap();
            let form = [("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("decision", "allow".into())];
            browser.http.post(browser.url("/consent")).form(&form).send().await.unwrap()
        } else {
            browser.http.get(browser.url(&loc)).send().await.unwrap()
        };
        r = if resp.status().is_redirection() { Ok(location(&resp)) } else { Err(resp.status().as_u16()) };
    }
    panic!("the flow did not end");
}

/// The authorization request's way to the IdP: `/authorize` → `/login?req` → (one provider) `/login/saml?req`.
async fn login_path(browser: &TestApp) -> String {
    let r = authorize(browser, &auth_query(&[("scope", "openid email profile")])).await;
    let chooser = browser.http.get(browser.url(&location(&r))).send().await.unwrap();
    let path = location(&chooser);
    assert!(path.starts_with(&format!("/login/{PROVIDER}?req=")), "{path}");
    path
}

#[actix_web::test]
async fn sa_2_a_good_login_signs_in_end_to_end_and_the_app_gets_tokens() {
    let w = World::start().await;
    let browser = w.app.view();
    let p = to_idp(&browser, &login_path(&browser).await, "").await;
    assert_eq!(p.action, w.app.url(&format!("/callback/{PROVIDER}")), "the IdP posts to our ACS");
    let loc = to_app(&browser, post(&browser, &w.app, &p).await).await.unwrap();
    let tokens = exchange(&w.app, &param(&loc, "code").unwrap()).await;
    let claims = verify_jwt(&w.app, tokens["id_token"].as_str().unwrap()).await.1;
    assert_eq!(claims["email"], "alice@example.test", "attributes mapped by [claims]");
    assert_eq!(claims["name"], "Alice");
    // [SA-8] The subject is the provider and the persistent NameID, never the email.
    let ids = identities(&w.app).await;
    assert_eq!(ids.len(), 1);
    let (provider, issuer, subject) = &ids[0];
    assert_eq!((provider.as_str(), issuer.as_str()), (PROVIDER, "urn:bridgekeeper:saml:saml"));
    assert!(!subject.contains('@') && !subject.is_empty(), "{subject}");
    // The same person again is the same identity.
    assert!(sign_in(&w, "").await.is_ok());
    assert_eq!(identities(&w.app).await.len(), 1);
}

#[actix_web::test]
async fn sa_9_the_idps_cross_site_post_is_bounced_through_our_own_page_and_get_is_refused() {
    let w = World::start().await;
    let browser = w.app.view();
    let p = to_idp(&browser, &format!("/login/{PROVIDER}"), "").await;
    let cookieless = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = [("SAMLResponse", p.saml_response.as_str()), ("RelayState", p.relay_state.as_str())];
    let bounce = cookieless.post(&p.action).form(&form).send().await.unwrap();
    assert_eq!(bounce.status(), 200, "a cross-site POST (no bk_login cookie) gets the self-submitting page");
    let page = bounce.text().await.unwrap();
    assert!(page.contains("name=\"bk_resubmitted\""), "{page}");
    let fields: Vec<(String, String)> = ["SAMLResponse", "RelayState", "bk_resubmitted"]
        .iter()
        .map(|n| (n.to_string(), hidden(&page, n).replace("&#x2F;", "/").replace("&#x3D;", "=").replace("&#x2B;", "+")))
        .collect();
    assert_eq!(fields[0].1, p.saml_response, "the response travels on in the form body");
    let r = browser.http.post(&p.action).form(&fields).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/account".to_string()));
    let get = browser.http.get(format!("{}?SAMLResponse=x&RelayState=y", p.action)).send().await.unwrap();
    assert_eq!(get.status(), 405, "a SAML Response never comes in a URL");
}

#[actix_web::test]
async fn sa_2_unsigned_tampered_sha1_and_foreign_key_answers_are_refused() {
    let w = World::start().await;
    for hooks in ["sign=none", "attack=tampered", "key=evil", "alg=sha1"] {
        assert_eq!(sign_in(&w, hooks).await, Err(400), "{hooks}");
    }
    assert!(identities(&w.app).await.is_empty());
    assert!(sign_in(&w, "sign=assertion").await.is_ok(), "an honest answer (assertion signed only) works");
    assert!(sign_in(&w, "sign=response").await.is_ok(), "an honest answer (response signed only) works");
}

#[actix_web::test]
async fn sa_3_signature_wrapping_and_comment_injection_are_refused() {
    let w = World::start().await;
    for attack in ["xsw1", "xsw2", "xsw3", "xsw4", "xsw5", "xsw6", "xsw7", "xsw8", "comment"] {
        assert_eq!(sign_in(&w, &format!("attack={attack}")).await, Err(400), "{attack}");
    }
    assert!(identities(&w.app).await.is_empty(), "nobody signed in, not even the signed user");
}

#[actix_web::test]
async fn sa_6_an_expired_assertion_is_refused() {
    let w = World::start().await;
    assert_eq!(sign_in(&w, "expired=1").await, Err(400));
    assert!(identities(&w.app).await.is_empty());
}

#[actix_web::test]
async fn sa_5_a_wrong_audience_or_recipient_is_refused() {
    let w = World::start().await;
    assert_eq!(sign_in(&w, "aud=other").await, Err(400), "the assertion is for another SP");
    assert_eq!(sign_in(&w, "recipient=other").await, Err(400), "the assertion is for another ACS");
    assert!(identities(&w.app).await.is_empty());
}

#[actix_web::test]
async fn sa_8_a_subject_that_is_not_a_persistent_name_id_is_refused() {
    let w = World::start().await;
    assert_eq!(sign_in(&w, "nameid=email").await, Err(400));
    assert!(identities(&w.app).await.is_empty());
}

#[actix_web::test]
async fn sa_4_an_answer_to_another_login_is_refused() {
    let w = World::start().await;
    let (victim, attacker) = (w.app.view(), w.app.view());
    let path = format!("/login/{PROVIDER}");
    let victims = to_idp(&victim, &path, "").await;
    let attackers = to_idp(&attacker, &path, "").await;
    // The attacker's own signed answer (InResponseTo = the attacker's request) in the victim's login.
    let swapped = Post { relay_state: victims.relay_state.clone(), ..attackers };
    assert_eq!(post(&victim, &w.app, &swapped).await, Err(400));
    assert!(identities(&w.app).await.is_empty());
    assert_eq!(post(&victim, &w.app, &victims).await, Err(400), "the victim's pending login was spent by the attempt");
}

/// Makes the broker expect `p` again: a new pending login with the same request ID (nonce) as the one `p` answers,
/// bound to a browser cookie of our choosing. Returns that cookie and the new RelayState.
async fn pending_again(app: &TestApp, p: &Post) -> (String, String) {
    use bridgekeeper::secret::hash_token;
    use bridgekeeper::store::upstream_logins::{self, UpstreamLogin};
    use diesel::prelude::*;
    let old = hash_token(&p.relay_state);
    let nonce: String = app
        .state
        .db
        .run(move |c| {
            use bridgekeeper::store::schema::upstream_logins::dsl as u;
            Ok(u::upstream_logins.find(old).select(u::nonce).first::<String>(c)?)
        })
        .await
        .unwrap();
    let (state, browser, now) = (bridgekeeper::secret::random_token(), "replay-browser".to_string(), app.clock.now());
    let row = UpstreamLogin {
        state_hash: hash_token(&state),
        provider: PROVIDER.into(),
        browser_hash: hash_token(&browser),
        nonce,
        pkce_verifier: String::new(),
        auth_request_id: None,
        link_user_id: None,
        created_at: now,
        expires_at: now + 600,
        used_at: None,
        provider_generation: Some(app.state.upstreams().get(PROVIDER).unwrap().generation.clone()),
    };
    app.state.db.run(move |c| upstream_logins::insert(c, &row)).await.unwrap();
    (format!("bk_login={browser}"), state)
}

async fn post_with_cookie(at: &TestApp, p: &Post, cookie: &str, relay_state: &str) -> u16 {
    let form = [("SAMLResponse", p.saml_response.as_str()), ("RelayState", relay_state)];
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = at.url(&format!("/callback/{PROVIDER}"));
    client.post(url).header("Cookie", cookie).form(&form).send().await.unwrap().status().as_u16()
}

#[actix_web::test]
async fn sa_7_a_replayed_assertion_is_refused_here_and_at_a_second_instance_and_swept_after_it_expires() {
    let w = World::start().await;
    let browser = w.app.view();
    let p = to_idp(&browser, &format!("/login/{PROVIDER}"), "").await;
    assert!(post(&browser, &w.app, &p).await.is_ok());
    assert_eq!(post_with_cookie(&w.app, &p, "bk_login=x", &p.relay_state).await, 400, "the pending login is spent");
    // Even with the request pending again, the assertion itself is believed once: here ...
    let (cookie, relay) = pending_again(&w.app, &p).await;
    assert_eq!(post_with_cookie(&w.app, &p, &cookie, &relay).await, 400);
    // [MT-4] Counted once, as rejected for the reason "replay".
    let text = String::from_utf8_lossy(&w.app.state.metrics.render()).to_string();
    let replays: Vec<&str> = text.lines().filter(|l| l.contains("reason=\"replay\"")).collect();
    assert!(replays.len() == 1 && replays[0].contains("outcome=\"rejected\"") && replays[0].ends_with(" 1"), "{text}");
    assert!(!text.contains("outcome=\"replayed\""), "{text}");
    // ... and at another instance on the same database (same issuer, so the same ACS and entity id).
    let base = w.app.base.clone();
    let providers = w.app.state.settings().providers_dir.clone();
    let second = TestApp::spawn_on(w.app.db.share(), move |s| {
        s.issuer = base;
        s.providers_dir = providers;
    })
    .await;
    let (cookie, relay) = pending_again(&second, &p).await;
    assert_eq!(post_with_cookie(&second, &p, &cookie, &relay).await, 400);
    assert_eq!(identities(&w.app).await.len(), 1);
    let count = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            use bridgekeeper::store::schema::saml_assertions::dsl as s;
            use diesel::prelude::*;
            db.run(|c| Ok(s::saml_assertions.count().get_result::<i64>(c)?)).await.unwrap()
        }
    };
    assert_eq!(count(&w.app).await, 1);
    w.app.clock.advance(3600);
    bridgekeeper::sweeper::sweep_once(&w.app.state).await.unwrap();
    assert_eq!(count(&w.app).await, 0, "[ST-2] swept once expired");
}

#[actix_web::test]
async fn sa_10_sp_metadata_names_our_entity_id_and_acs() {
    let w = World::start_with("sp_entity_id = \"https://broker.example/sp\"", |_| {}).await;
    let md = w.app.http.get(w.app.url(&format!("/saml/{PROVIDER}/metadata"))).send().await.unwrap();
    assert_eq!(md.headers()["content-type"], "application/samlmetadata+xml");
    let md = md.text().await.unwrap();
    assert!(md.contains("entityID=\"https://broker.example/sp\""), "{md}");
    assert!(md.contains(&format!("Location=\"{}\"", w.app.url(&format!("/callback/{PROVIDER}")))), "{md}");
    assert!(md.contains("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"), "{md}");
    assert!(sign_in(&w, "").await.is_ok(), "the IdP registered us from it, and the audience is that entity id");
    let none = w.app.http.get(w.app.url("/saml/nope/metadata")).send().await.unwrap();
    assert_eq!(none.status(), 404);
}

#[path = "saml/config.rs"]
mod config;

#[path = "saml/hardening.rs"]
mod hardening;
