//! Two broker instances sharing one database (PostgreSQL in the PostgreSQL pass; the same SQLite file in the
//! SQLite pass): whatever one issues, the other redeems, refreshes, introspects, revokes and verifies.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::oauth::*;

const ISSUER: &str = "http://bridgekeeper.test";

async fn pair() -> (TestApp, TestApp) {
    let db = common::test_db();
    let shared = db.share();
    let tweak = |s: &mut bridgekeeper::settings::Settings| {
        s.issuer = ISSUER.into();
        s.tokens.key_reload_secs = 1;
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid", "offline_access"])
                .grants(&["authorization_code", "refresh_token"])
                .skip_consent()
                .build(),
        ];
    };
    let a = TestApp::spawn_on(db, tweak).await;
    let b = TestApp::spawn_on(shared, tweak).await;
    (a, b)
}

fn q() -> Vec<(String, String)> {
    auth_query(&[("scope", "openid offline_access")])
}

#[actix_web::test]
async fn code_from_a_redeems_at_b_and_refresh_reuse_across_instances_revokes_the_family() {
    let (a, b) = pair().await;
    let r = authorize(&a, &q()).await;
    let loc = complete(&a, r, "ada@example.com").await;
    let code = param(&loc, "code").unwrap();
    let t = exchange(&b, &code).await;
    assert_eq!(param(&loc, "iss").unwrap(), ISSUER);
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let r = token(&b, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!(r.status(), 200, "rotated at B");
    let rt2 = r.json::<serde_json::Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string();
    a.clock.advance(5); // past the race grace window
    let r = token(&a, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "reused at A");
    let r = token(&b, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "the family is revoked everywhere");
}

#[actix_web::test]
async fn revocation_at_a_is_seen_by_b_and_both_publish_the_same_jwks() {
    let (a, b) = pair().await;
    let r = authorize(&a, &q()).await;
    let loc = complete(&a, r, "ada@example.com").await;
    let t = exchange(&a, &param(&loc, "code").unwrap()).await;
    let at = t["access_token"].as_str().unwrap();
    let introspect = |app: &TestApp, tok: String| {
        let req = app.http.post(app.url("/introspect")).basic_auth("app", Some(enc(SECRET))).form(&[("token", tok)]);
        async move { req.send().await.unwrap().json::<serde_json::Value>().await.unwrap()["active"].clone() }
    };
    assert_eq!(introspect(&b, at.to_string()).await, true);
    let r =
        a.http.post(a.url("/revoke")).basic_auth("app", Some(enc(SECRET))).form(&[("token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&a, at.to_string()).await, false, "the instance that revoked knows at once");
    // B may answer from its verdict cache for at most TOKEN_CACHE_SECS: the documented cross-instance bound.
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(bridgekeeper::state::TOKEN_CACHE_SECS + 1);
    while introspect(&b, at.to_string()).await != false {
        assert!(std::time::Instant::now() < deadline, "B still accepts a token revoked at A after the staleness bound");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ja = a.http.get(a.url("/jwks.json")).send().await.unwrap().text().await.unwrap();
    let jb = b.http.get(b.url("/jwks.json")).send().await.unwrap().text().await.unwrap();
    assert_eq!(ja, jb);
}

#[actix_web::test]
async fn a_rotation_reaches_both_instances_within_the_reload_interval() {
    let (a, b) = pair().await;
    let before = b.http.get(b.url("/jwks.json")).send().await.unwrap().text().await.unwrap();
    let now = a.clock.now();
    let sealer = a.state.sealer.clone();
    let kid = a
        .state
        .db
        .run(move |c| {
            bridgekeeper::tokens::keyring::rotate(c, bridgekeeper::tokens::keys::Alg::Rs256, now, 3700, &sealer)
        })
        .await
        .unwrap();
    // Each instance re-reads keys every `key_reload_secs` (1 s here); poll for up to 5 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut seen = [false, false];
    while std::time::Instant::now() < deadline && seen != [true, true] {
        for (i, app) in [&a, &b].iter().enumerate() {
            seen[i] = app.state.keys().current.kid == kid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, [true, true], "both instances sign with the rotated key");
    let after = b.http.get(b.url("/jwks.json")).send().await.unwrap().text().await.unwrap();
    assert_ne!(before, after);
    assert_eq!(after, a.http.get(a.url("/jwks.json")).send().await.unwrap().text().await.unwrap());
}
