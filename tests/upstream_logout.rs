//! An upstream tells the broker that its session ended (OpenID Connect Back-Channel Logout 1.0 §2.5–2.8, the
//! broker as RP; security.md [UL-1]…[UL-4]): a Logout Token is believed only after every check of §2.6, ends
//! exactly the broker sessions that came from that upstream session (or subject), and the apps are told.

mod common;

use common::TestApp;
use common::backchannel::*;
use common::fake_idp::{CLIENT_ID, FakeIdp};
use common::oauth::*;
use serde_json::{Value, json};

struct World {
    app: TestApp,
    idp: FakeIdp,
    receiver: Receiver,
    _providers: tempfile::TempDir,
}

async fn world() -> World {
    world_with("backchannel_logout = true").await
}

/// A world whose `acme` provider file ends with `acme_extra`.
async fn world_with(acme_extra: &str) -> World {
    let idp = FakeIdp::start().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", acme_extra)).unwrap();
    std::fs::write(dir.path().join("plain.toml"), idp.oidc_toml("plain", "")).unwrap();
    let (providers, uri) = (dir.path().to_path_buf(), receiver.uri());
    let app = TestApp::spawn_with(move |s| {
        s.providers_dir = providers;
        s.backchannel_logout.poll_interval_ms = 100;
        s.clients = vec![bridgekeeper::settings::StaticClient {
            client_id: "app".into(),
            client_secret: Some(bridgekeeper::secret::Secret::new(SECRET)),
            redirect_uris: vec![RP.into()],
            allowed_scopes: vec!["openid".into(), "email".into()],
            grant_types: vec!["authorization_code".into()],
            skip_consent: true,
            backchannel_logout_uri: Some(uri),
            ..Default::default()
        }];
    })
    .await;
    World { app, idp, receiver, _providers: dir }
}

fn claims(w: &World, extra: Value) -> Value {
    let now = w.app.clock.now();
    let mut c = json!({
        "iss": w.idp.base, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
        "jti": bridgekeeper::secret::random_token_bytes(12),
        "events": {EVENT: {}},
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

async fn post(app: &TestApp, provider: &str, token: &str) -> reqwest::Response {
    app.http.post(app.url(&format!("/backchannel/{provider}"))).form(&[("logout_token", token)]).send().await.unwrap()
}

/// The answer of §2.8 for a refused token: 400, no-store, `invalid_request` with this description.
async fn refused(r: reqwest::Response, why: &str) {
    assert_eq!(r.status(), 400, "{why}");
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], why);
}

#[actix_web::test]
async fn ul_1_to_4_an_upstream_logout_ends_exactly_the_sessions_of_that_upstream_session_and_tells_the_apps() {
    let w = world().await;
    w.idp.set_sid("upstream-session-1");
    sign_in_through(&w.app, "acme").await;
    let other = w.app.view();
    w.idp.set_sid("upstream-session-2");
    sign_in_through(&other, "acme").await;
    assert!(signed_in(&w.app).await && signed_in(&other).await);

    let t = w.idp.sign("logout+jwt", &claims(&w, json!({"sid": "upstream-session-1"})), false);
    let r = post(&w.app, "acme", &t).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    assert!(!signed_in(&w.app).await, "the session from upstream-session-1 ended");
    assert!(signed_in(&other).await, "the one from upstream-session-2 did not");
    until(5, "the app is told", || w.receiver.tokens().len() == 1).await;
    verified_logout_token(&w.app, &w.receiver.tokens()[0], "app").await;

    // Only `sub`: every session of that upstream subject ends.
    let t = w.idp.sign("logout+jwt", &claims(&w, json!({"sub": "upstream-sub-1"})), false);
    assert_eq!(post(&w.app, "acme", &t).await.status(), 200);
    assert!(!signed_in(&other).await);
    until(5, "the app is told again", || w.receiver.tokens().len() == 2).await;
}

#[actix_web::test]
async fn ul_4_a_logout_token_names_the_upstream_sub_even_when_the_subject_is_mapped_from_another_claim() {
    let w = world_with("backchannel_logout = true\n[claims]\nsubject = \"/email\"").await;
    w.idp.set_sid("mapped-1");
    sign_in_through(&w.app, "acme").await;
    let t = w.idp.sign("logout+jwt", &claims(&w, json!({"sid": "mapped-1", "sub": "upstream-sub-1"})), false);
    assert_eq!(post(&w.app, "acme", &t).await.status(), 200);
    assert!(!signed_in(&w.app).await, "sid and the IdP's sub end the session");
    until(5, "the app is told", || w.receiver.tokens().len() == 1).await;
    verified_logout_token(&w.app, &w.receiver.tokens()[0], "app").await;
    sign_in_through(&w.app, "acme").await;
    let t = w.idp.sign("logout+jwt", &claims(&w, json!({"sub": "upstream-sub-1"})), false);
    assert_eq!(post(&w.app, "acme", &t).await.status(), 200);
    assert!(!signed_in(&w.app).await, "the IdP's sub alone ends it too");
}

#[actix_web::test]
async fn ul_2_3_forged_or_replayed_logout_tokens_are_refused_with_their_exact_answer_and_end_nothing() {
    let w = world().await;
    w.idp.set_sid("s1");
    sign_in_through(&w.app, "acme").await;
    let sid = json!({"sid": "s1"});
    let good = |extra: Value| {
        let mut c = claims(&w, sid.clone());
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let unsigned = {
        use base64::Engine;
        let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", enc(&json!({"alg": "none", "typ": "logout+jwt"})), enc(&good(json!({}))))
    };
    let now = w.app.clock.now();
    let cases: Vec<(&str, String, &str)> = vec![
        ("unsigned", unsigned, "the logout token's algorithm is not accepted"),
        (
            "wrong key",
            w.idp.sign("logout+jwt", &good(json!({})), true),
            "the logout token's signature does not verify with the provider's keys",
        ),
        (
            "wrong iss",
            w.idp.sign("logout+jwt", &good(json!({"iss": "https://evil.example"})), false),
            "the logout token's iss is not the provider's issuer",
        ),
        (
            "wrong aud",
            w.idp.sign("logout+jwt", &good(json!({"aud": "someone-else"})), false),
            "the logout token is not meant for this client",
        ),
        (
            "nonce",
            w.idp.sign("logout+jwt", &good(json!({"nonce": "n"})), false),
            "a logout token must not contain a nonce",
        ),
        (
            "no events",
            w.idp.sign("logout+jwt", &claims(&w, json!({"sid": "s1", "events": null})), false),
            "the logout token lacks the back-channel logout event",
        ),
        (
            "expired",
            w.idp.sign("logout+jwt", &good(json!({"iat": now - 200, "exp": now - 100})), false),
            "the logout token has expired",
        ),
        (
            "stale iat",
            w.idp.sign("logout+jwt", &claims(&w, json!({"sid": "s1", "iat": now - 3600, "exp": null})), false),
            "the logout token's iat is missing or outside the accepted window",
        ),
        ("an ID token", w.idp.sign("JWT", &good(json!({})), false), "the logout token's typ is not logout+jwt"),
        (
            "neither sid nor sub",
            w.idp.sign("logout+jwt", &claims(&w, json!({})), false),
            "the logout token names neither sid nor sub",
        ),
        ("garbage", "not-a-jwt".into(), "the logout token is not a signed JWT"),
    ];
    for (what, token, why) in &cases {
        refused(post(&w.app, "acme", token).await, why).await;
        assert!(signed_in(&w.app).await, "{what} ended the session");
    }
    // Replay: a good token for an upstream session the broker does not know ends nothing, once; again is refused.
    let t = w.idp.sign("logout+jwt", &claims(&w, json!({"sid": "unknown"})), false);
    assert_eq!(post(&w.app, "acme", &t).await.status(), 200);
    refused(post(&w.app, "acme", &t).await, "the logout token was already used").await;
    assert!(signed_in(&w.app).await);
    // A provider that does not accept back-channel logout, and a request without a token.
    let t = w.idp.sign("logout+jwt", &good(json!({})), false);
    refused(post(&w.app, "plain", &t).await, "this provider does not accept back-channel logout").await;
    let r = w.app.http.post(w.app.url("/backchannel/acme")).form(&[("x", "y")]).send().await.unwrap();
    refused(r, "logout_token is required").await;
    assert!(signed_in(&w.app).await);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(w.receiver.tokens().is_empty(), "no app was told anything");
}

#[actix_web::test]
async fn ul_5_logout_upstream_always_signs_out_at_the_upstream_with_the_sealed_id_token_and_comes_back_once() {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "logout_upstream = \"always\"")).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| {
        s.providers_dir = providers;
        s.clients = vec![bridgekeeper::settings::StaticClient {
            client_id: "app".into(),
            client_secret: Some(bridgekeeper::secret::Secret::new(SECRET)),
            redirect_uris: vec![RP.into()],
            post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
            allowed_scopes: vec!["openid".into(), "email".into()],
            grant_types: vec!["authorization_code".into()],
            skip_consent: true,
            ..Default::default()
        }];
    })
    .await;
    sign_in_through(&app, "acme").await;
    let upstream_id_token = idp.state.lock().unwrap().id_tokens.last().cloned().unwrap();
    // Kept sealed at rest, bound to the session row.
    let stored: Vec<Option<String>> = {
        use bridgekeeper::store::schema::sessions;
        use diesel::prelude::*;
        sessions::table.select(sessions::upstream_id_token).load(&mut *app.state.db.conn().unwrap()).unwrap()
    };
    let sealed = stored.into_iter().flatten().next().expect("the upstream ID token is kept");
    assert!(bridgekeeper::crypto::Sealer::is_sealed(&sealed) && !sealed.contains(&upstream_id_token));

    // The app's own ID token as hint: no confirmation; the browser goes to the upstream first.
    let q = auth_query(&[("scope", "openid email")]);
    let loc = location(&authorize(&app, &q).await);
    let code = param(&loc, "code").unwrap();
    let t: Value =
        token(&app, ("app", SECRET), &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", RP)])
            .await
            .json()
            .await
            .unwrap();
    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", t["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "app-state"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to_upstream = location(&r);
    assert!(to_upstream.starts_with(&format!("{}/logout?", idp.base)), "{to_upstream}");
    assert!(!signed_in(&app).await, "the broker session already ended");
    let kept = bridgekeeper::store::sessions::sealed_upstream_id_tokens(&mut app.state.db.conn().unwrap()).unwrap();
    assert!(kept.is_empty(), "[UL-5] the sealed upstream ID token ends with its session");
    assert_eq!(param(&to_upstream, "id_token_hint").as_deref(), Some(upstream_id_token.as_str()));
    assert_eq!(param(&to_upstream, "post_logout_redirect_uri").unwrap(), app.url("/logout/upstream/acme"));
    assert_eq!(param(&to_upstream, "client_id").as_deref(), Some(CLIENT_ID));
    let r = app.http.get(&to_upstream).send().await.unwrap();
    let back = location(&r);
    assert!(back.starts_with(&app.url("/logout/upstream/acme")), "{back}");
    let r = app.http.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let end = location(&r);
    assert_eq!(end, "https://rp.example/bye?state=app-state", "then on to the app with the app's state");
    let again = app.http.get(&back).send().await.unwrap();
    assert_eq!(again.status(), 400, "the state is single-use");
    assert_eq!(idp.state.lock().unwrap().end_session_requests.len(), 1);
}

#[actix_web::test]
async fn ul_5_logout_upstream_needs_encryption_keys_to_start() {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "logout_upstream = \"always\"")).unwrap();
    let db = common::test_db();
    let mut s = common::settings(&db.url, "http://127.0.0.1:9");
    s.providers_dir = dir.path().to_path_buf();
    s.encryption_keys = bridgekeeper::secret::Secret::new("");
    let clock = bridgekeeper::clock::Clock::fixed(1_800_000_000);
    let err = bridgekeeper::server::AppState::prepare(s, clock).await.unwrap_err().to_string();
    assert!(err.contains("logout_upstream") && err.contains("encryption_keys"), "{err}");
}

#[test]
fn ul_5_kept_upstream_id_tokens_are_resealed_with_a_new_key() {
    use bridgekeeper::crypto::Sealer;
    let t = common::test_db();
    let db = bridgekeeper::store::Db::open(&t.url, 2, std::time::Duration::from_secs(5)).unwrap();
    db.migrate().unwrap();
    let mut c = db.conn().unwrap();
    let user = bridgekeeper::store::users::User {
        id: "u1".into(),
        email: None,
        email_verified: false,
        name: None,
        preferred_username: None,
        picture: None,
        groups_json: "[]".into(),
        disabled: false,
        created_at: 1,
        updated_at: 1,
    };
    bridgekeeper::store::users::insert(&mut c, &user).unwrap();
    let s = bridgekeeper::store::sessions::Session {
        id_hash: "h1".into(),
        user_id: "u1".into(),
        provider: "acme".into(),
        auth_time: 1,
        created_at: 1,
        expires_at: i64::MAX / 2,
        revoked_at: None,
    };
    bridgekeeper::store::sessions::insert(&mut c, &s).unwrap();
    let old = Sealer::from_spec(common::TEST_ENCRYPTION_KEYS).unwrap();
    let ctx = bridgekeeper::accounts::session::id_token_context("h1");
    let sealed = old.seal(b"upstream.id.token", &ctx).unwrap();
    bridgekeeper::store::sessions::set_upstream(&mut c, "h1", "sub", None, Some(&sealed)).unwrap();
    let new_key = "k2:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let both = Sealer::from_spec(&format!("{new_key},{}", common::TEST_ENCRYPTION_KEYS)).unwrap();
    assert_eq!(bridgekeeper::accounts::session::reseal_id_tokens(&mut c, &both).unwrap(), 1);
    assert_eq!(bridgekeeper::accounts::session::reseal_id_tokens(&mut c, &both).unwrap(), 0, "idempotent");
    let now_sealed = bridgekeeper::store::sessions::sealed_upstream_id_token(&mut c, "h1").unwrap().unwrap();
    let only_new = Sealer::from_spec(new_key).unwrap();
    assert_eq!(only_new.open(&now_sealed, &ctx).unwrap(), b"upstream.id.token");
    assert!(
        only_new.open(&now_sealed, &bridgekeeper::accounts::session::id_token_context("h2")).is_err(),
        "bound to its row"
    );
}
