//! Sign in with Apple (`kind = "apple"`) against a local fake Apple that behaves as Apple documents: the answer is
//! POSTed cross-site (`response_mode=form_post`, so the browser withholds the SameSite=Lax `bk_login` cookie; the
//! tests post it from a cookie-less client), the `user` JSON comes only on the first authorization, ID tokens are
//! RS256 with string booleans, and the token endpoint checks the ES256 client secret.

mod common;
use common::TestApp;
use common::clients::ClientBuilder;
use common::fake_apple::{AppleUser, FakeApple, KEY_ID, SERVICE_ID, TEAM_ID, Tamper};
use common::oauth::*;

struct World {
    app: TestApp,
    apple: FakeApple,
    _dir: tempfile::TempDir,
}

async fn world(extra: &str) -> World {
    world_with(extra, |_| {}).await
}

/// A world whose fake Apple is set up by `setup` before the broker first reads its discovery document.
async fn world_with(extra: &str, setup: impl FnOnce(&FakeApple)) -> World {
    let apple = FakeApple::start().await;
    setup(&apple);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("AuthKey.p8");
    std::fs::write(&key, &apple.p8).unwrap();
    std::fs::write(dir.path().join("apple.toml"), apple.toml("apple", &key, extra)).unwrap();
    std::fs::write(dir.path().join("dev.toml"), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| {
        s.dev_mode = true;
        s.providers_dir = providers;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid", "profile", "email", "offline_access"])
                .build(),
        ];
    })
    .await;
    World { app, apple, _dir: dir }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#x3D;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The action and hidden fields of the first form of a page.
fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let action = unescape(&attr(html, "action"));
    let mut fields = Vec::new();
    for chunk in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = chunk.split_once('"').unwrap();
        let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
        fields.push((name.to_string(), unescape(value)));
    }
    (action, fields)
}

fn cookieless() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// What Apple's page posts, and the page the broker answers that cross-site POST with.
struct ApplePost {
    action: String,
    fields: Vec<(String, String)>,
}

/// Runs `browser` to Apple's page (the form it would post), from a new authorization request.
async fn to_apple(browser: &TestApp) -> ApplePost {
    let mut r = authorize(browser, &auth_query(&[("scope", "openid email profile")])).await;
    for _ in 0..6 {
        let loc = location(&r);
        let loc = match loc.strip_prefix("/login?") {
            Some(rest) => format!("/login/apple?{rest}"),
            None => loc,
        };
        if !loc.starts_with('/') {
            let page = browser.http.get(&loc).send().await.unwrap();
            assert_eq!(page.status(), 200, "Apple's page");
            let (action, fields) = form_of(&page.text().await.unwrap());
            return ApplePost { action, fields };
        }
        r = browser.http.get(browser.url(&loc)).send().await.unwrap();
    }
    panic!("never reached Apple");
}

/// Apple's cross-site POST (no cookie), then the broker's own page re-posting it in `browser`, then the rest of
/// the flow: the app's redirect or the failing status.
async fn post_back(browser: &TestApp, post: &ApplePost) -> Result<String, u16> {
    let bounce = cookieless().post(&post.action).form(&post.fields).send().await.unwrap();
    if bounce.status() != 200 {
        return Err(bounce.status().as_u16());
    }
    let (action, fields) = form_of(&bounce.text().await.unwrap());
    assert_eq!(action, post.action, "the page posts back to the callback itself");
    let mut r = browser.http.post(&action).form(&fields).send().await.unwrap();
    for _ in 0..8 {
        if !r.status().is_redirection() {
            return Err(r.status().as_u16());
        }
        let loc = location(&r);
        if loc.starts_with(RP) {
            return Ok(loc);
        }
        r = if loc.starts_with("/consent") {
            let page = browser.http.get(browser.url(&loc)).send().await.unwrap().text().await.unwrap();
            let form = [("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("decision", "allow".into())];
            browser.http.post(browser.url("/consent")).form(&form).send().await.unwrap()
        } else {
            browser.http.get(browser.url(&loc)).send().await.unwrap()
        };
    }
    panic!("the flow did not end");
}

async fn sign_in(w: &World) -> Result<String, u16> {
    let browser = w.app.view();
    let post = to_apple(&browser).await;
    post_back(&browser, &post).await
}

async fn users(w: &World) -> Vec<bridgekeeper::store::users::User> {
    w.app.state.db.run(|c| bridgekeeper::store::users::list(c, 1000, 0)).await.unwrap()
}

fn has(post: &ApplePost, name: &str) -> bool {
    post.fields.iter().any(|(k, _)| k == name)
}

#[actix_web::test]
async fn ap_1_the_first_sign_in_keeps_the_name_and_a_later_one_without_user_keeps_it() {
    let w = world("").await;
    let browser = w.app.view();
    let post = to_apple(&browser).await;
    assert!(has(&post, "user"), "Apple sends user on the first authorization");
    let loc = post_back(&browser, &post).await.unwrap();
    let claims =
        verify_jwt(&w.app, exchange(&w.app, &param(&loc, "code").unwrap()).await["id_token"].as_str().unwrap()).await.1;
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["email"], "ada@example.com", "the ID token's email, not the user JSON's");
    let again = w.app.view();
    let post = to_apple(&again).await;
    assert!(!has(&post, "user"), "and never again");
    assert!(post_back(&again, &post).await.is_ok());
    let all = users(&w).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name.as_deref(), Some("Ada Lovelace"));
}

#[actix_web::test]
async fn ap_1_a_forged_user_json_without_a_valid_code_changes_nothing() {
    let w = world("").await;
    assert!(sign_in(&w).await.is_ok());
    let browser = w.app.view();
    let mut post = to_apple(&browser).await;
    post.fields.retain(|(k, _)| k != "code" && k != "user");
    post.fields.push(("code".into(), "forged-code".into()));
    post.fields.push(("user".into(), r#"{"name":{"firstName":"Mallory","lastName":"M"}}"#.into()));
    assert!(post_back(&browser, &post).await.is_err());
    let all = users(&w).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name.as_deref(), Some("Ada Lovelace"));
}

/// Finding: Apple posts `user` on the first authorization only; a `user` added to a later answer (by the person or
/// a script posting their own answer) does not rename the account.
#[actix_web::test]
async fn ap_1_a_user_json_on_a_later_sign_in_does_not_rename() {
    let w = world("").await;
    assert!(sign_in(&w).await.is_ok());
    let browser = w.app.view();
    let mut post = to_apple(&browser).await;
    assert!(!has(&post, "user"));
    post.fields.push(("user".into(), r#"{"name":{"firstName":"Mallory","lastName":"X"}}"#.into()));
    assert!(post_back(&browser, &post).await.is_ok(), "the sign-in itself is honest");
    let all = users(&w).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name.as_deref(), Some("Ada Lovelace"));
}

#[actix_web::test]
async fn ap_2_apple_is_asked_for_form_post_with_state_nonce_and_pkce() {
    let w = world("").await;
    assert!(sign_in(&w).await.is_ok());
    let a = w.apple.last_authorize();
    assert_eq!(a.get("response_mode").map(String::as_str), Some("form_post"));
    assert_eq!(a.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert!(a.get("state").is_some_and(|s| s.len() >= 43) && a.get("nonce").is_some_and(|n| n.len() >= 43));
    assert_eq!(a.get("scope").map(String::as_str), Some("openid name email"));
}

#[actix_web::test]
async fn ap_3_a_post_callback_from_another_browser_fails_and_spends_the_state() {
    let w = world("").await;
    let victim = w.app.view();
    let post = to_apple(&victim).await;
    let attacker = w.app.view();
    assert_eq!(post_back(&attacker, &post).await, Err(400), "the attacker's browser has no binding cookie");
    assert_eq!(post_back(&victim, &post).await, Err(400), "the state was spent");
    // A resubmitted POST without the cookie is never bounced again.
    let mut fields = post.fields.clone();
    fields.push(("bk_resubmitted".into(), "1".into()));
    assert_eq!(cookieless().post(&post.action).form(&fields).send().await.unwrap().status(), 400);
    assert!(users(&w).await.is_empty());
}

/// Finding: an upstream that advertises RFC 9207 and posts `iss` must get it through the bounce (else every
/// login fails "lacks iss" and the mix-up check is lost); a wrong `iss` is refused.
#[actix_web::test]
async fn ap_3_the_bounce_carries_iss() {
    let w = world_with("", |a| a.set_iss_param(Some("{base}"))).await;
    assert!(sign_in(&w).await.is_ok());
    w.apple.set_iss_param(Some("https://idp.evil.example"));
    assert_eq!(sign_in(&w).await, Err(400), "a wrong iss");
    assert_eq!(users(&w).await.len(), 1);
}

#[actix_web::test]
async fn ap_4_a_replayed_answer_fails() {
    let w = world("").await;
    let browser = w.app.view();
    let post = to_apple(&browser).await;
    assert!(post_back(&browser, &post).await.is_ok());
    assert_eq!(post_back(&browser, &post).await, Err(400));
}

#[actix_web::test]
async fn ap_5_wrong_aud_iss_or_nonce_is_refused() {
    let w = world("").await;
    for t in [Tamper::WrongAud, Tamper::WrongIss, Tamper::WrongNonce] {
        w.apple.set_tamper(t);
        assert_eq!(sign_in(&w).await, Err(400), "{t:?}");
    }
    assert!(users(&w).await.is_empty());
    w.apple.set_tamper(Tamper::None);
    assert!(sign_in(&w).await.is_ok(), "and an honest answer works");
}

#[actix_web::test]
async fn ap_6_the_client_secret_is_es256_with_the_right_claims_and_is_reused() {
    let w = world("").await;
    assert!(sign_in(&w).await.is_ok());
    assert!(sign_in(&w).await.is_ok());
    assert_eq!(w.apple.refused_secrets(), 0);
    let secrets = w.apple.client_secrets();
    assert_eq!(secrets.len(), 2);
    let (claims, first) = &secrets[0];
    assert_eq!(claims["iss"], TEAM_ID);
    assert_eq!(claims["sub"], SERVICE_ID);
    assert_eq!(claims["aud"], w.apple.base.as_str());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 86400, "one day");
    let header = jsonwebtoken::decode_header(first).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::ES256, Some(KEY_ID)));
    assert_eq!(&secrets[1].1, first, "cached, not signed per request");
}

#[actix_web::test]
async fn ap_7_a_private_relay_email_is_verified_by_apple_but_links_to_nobody_unless_trusted() {
    let w = world("").await;
    let relay = "x7k2@privaterelay.appleid.com";
    // Someone already holds the relay address, verified, at a provider trusted for emails.
    let browser = w.app.view();
    let r = authorize(&browser, &auth_query(&[])).await;
    let rest = location(&r).strip_prefix("/login?").unwrap().to_string();
    let page = browser.http.get(browser.url(&format!("/login/dev?{rest}"))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf", hidden(&page, "csrf")),
        ("email", relay.into()),
        ("link", "false".into()),
        ("req", hidden(&page, "req")),
    ];
    let r = browser.http.post(browser.url("/login/dev")).form(&form).send().await.unwrap();
    assert!(complete(&browser, r, relay).await.starts_with(RP));
    let holder = users(&w).await[0].id.clone();
    let sub = "001234.relay.0001";
    w.apple.set_user(AppleUser {
        sub: sub.into(),
        email: relay.into(),
        private_relay: true,
        first: "Eve".into(),
        last: "E".into(),
    });
    assert_eq!(sign_in(&w).await, Err(409), "the address is taken; nothing links by it");
    let held = w.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &holder)).await.unwrap();
    assert_eq!(held.len(), 1, "the Apple identity was not linked to the account holding the address");
    // A relay address nobody holds: Apple's `email_verified` ("true") is recorded, but not trusted.
    let fresh = "q9z1@privaterelay.appleid.com";
    w.apple.set_user(AppleUser {
        sub: sub.into(),
        email: fresh.into(),
        private_relay: true,
        first: "Eve".into(),
        last: "E".into(),
    });
    assert!(sign_in(&w).await.is_ok());
    let issuer = w.apple.base.clone();
    let apple = w
        .app
        .state
        .db
        .run(move |c| {
            bridgekeeper::store::identities::find_by_key(
                c,
                bridgekeeper::store::identities::IdentityKey::Issuer { issuer: &issuer, subject: sub },
            )
        })
        .await
        .unwrap()
        .expect("keyed by (issuer, sub)");
    assert!(apple.email_verified && !apple.email_trusted, "verified by Apple, not trusted by this broker");
    assert_eq!(apple.email.as_deref(), Some(fresh));
}

#[actix_web::test]
async fn ap_8_an_apple_file_needs_team_key_and_a_key_and_no_static_secret() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("apple.toml");
    let (pem, _) = common::fake_apple::team_key();
    let env = vec![("APPLE_KEY".to_string(), pem)];
    let base = "kind = \"apple\"\nclient_id = \"com.example.web\"\n";
    let bad = [
        format!("{base}key_id = \"K\"\nprivate_key = \"${{APPLE_KEY}}\"\n"),
        format!("{base}team_id = \"T\"\nprivate_key = \"${{APPLE_KEY}}\"\n"),
        format!("{base}team_id = \"T\"\nkey_id = \"K\"\n"),
        format!("{base}team_id = \"T\"\nkey_id = \"K\"\nprivate_key = \"not a key\"\n"),
        format!("{base}team_id = \"T\"\nkey_id = \"K\"\nprivate_key = \"${{APPLE_KEY}}\"\nclient_secret = \"s\"\n"),
        format!("{base}team_id = \"T\"\nkey_id = \"K\"\nprivate_key = \"${{MISSING}}\"\n"),
    ];
    for text in bad {
        assert!(bridgekeeper::upstream::config::parse(&text, &f, &env).is_err(), "{text}");
    }
    let good = format!("{base}team_id = \"T\"\nkey_id = \"K\"\nprivate_key = \"${{APPLE_KEY}}\"\n");
    let p = bridgekeeper::upstream::config::parse(&good, &f, &env).unwrap();
    assert_eq!(p.issuer.as_deref(), Some("https://appleid.apple.com"));
}

/// Finding: jsonwebtoken takes any EC PKCS#8 key; a P-384 key must be refused when the file loads, not at the
/// first code exchange.
#[actix_web::test]
async fn ap_8_a_p384_key_is_refused_when_the_file_loads() {
    use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
    use base64::Engine;
    let doc =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("apple.toml");
    let text = "kind = \"apple\"\nclient_id = \"com.example.web\"\nteam_id = \"T\"\nkey_id = \"K\"\nprivate_key = \"${APPLE_KEY}\"\n";
    let err = bridgekeeper::upstream::config::parse(text, &f, &[("APPLE_KEY".into(), pem)]).unwrap_err();
    assert!(format!("{err:#}").contains("private_key"), "{err:#}");
    let (p256, _) = common::fake_apple::team_key();
    assert!(bridgekeeper::upstream::config::parse(text, &f, &[("APPLE_KEY".into(), p256)]).is_ok());
}
