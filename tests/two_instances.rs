//! Two broker instances sharing one database (PostgreSQL in the PostgreSQL pass; the same SQLite file in the
//! SQLite pass): whatever one issues, the other redeems, refreshes, introspects, revokes and verifies.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::oauth::*;
use futures_util::FutureExt;

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

/// Polls `f` until it is true, for at most `within` (a condition, not a sleep: it returns as soon as it holds).
async fn within<F, Fut>(within: std::time::Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Well under the caches' TTLs ([`TOKEN_CACHE_SECS`], [`CLIENT_CACHE_SECS`]): an instance that only had its TTLs
/// would still answer from its cache for longer than this.
const AT_ONCE: std::time::Duration = std::time::Duration::from_millis(1000);

async fn introspect_active(app: &TestApp, tok: &str) -> bool {
    let req = app.http.post(app.url("/introspect")).basic_auth("app", Some(enc(SECRET))).form(&[("token", tok)]);
    req.send().await.unwrap().json::<serde_json::Value>().await.unwrap()["active"] == true
}

async fn access_token(a: &TestApp) -> String {
    let r = authorize(a, &q()).await;
    let loc = complete(a, r, "ada@example.com").await;
    exchange(a, &param(&loc, "code").unwrap()).await["access_token"].as_str().unwrap().to_string()
}

async fn revoke(a: &TestApp, tok: &str) {
    let r = a.http.post(a.url("/revoke")).basic_auth("app", Some(enc(SECRET))).form(&[("token", tok)]);
    assert_eq!(r.send().await.unwrap().status(), 200);
}

/// [CI-1] On PostgreSQL a revocation at A is refused at B at once, although B had the token's verdict cached: the
/// write at A notifies, B's listener moves B's epoch. (SQLite is one node; two handles there share no listener.)
#[actix_web::test]
async fn ci_1_a_revocation_at_a_is_refused_at_b_at_once() {
    if !common::backend_is_postgres() {
        return;
    }
    let (a, b) = pair().await;
    assert!(within(std::time::Duration::from_secs(10), || async { b.state.db.listening() }).await);
    let at = access_token(&a).await;
    assert!(introspect_active(&b, &at).await, "B caches the verdict: active");
    revoke(&a, &at).await;
    assert!(within(AT_ONCE, || introspect_active(&b, &at).map(|v| !v)).await, "B refuses the revoked token at once");
}

/// [CI-1] A client disabled at A stops authenticating at B at once (B's client cache is invalidated too).
#[actix_web::test]
async fn ci_1_a_client_disabled_at_a_fails_at_b_at_once() {
    if !common::backend_is_postgres() {
        return;
    }
    let (a, b) = pair().await;
    assert!(within(std::time::Duration::from_secs(10), || async { b.state.db.listening() }).await);
    let at = access_token(&a).await;
    assert!(introspect_active(&b, &at).await, "B has the client cached");
    let update = bridgekeeper::accounts::clients::ClientUpdate { disabled: Some(true), ..Default::default() };
    bridgekeeper::accounts::clients::update(&a.state.db, &a.state.settings(), "app", update, a.clock.now())
        .await
        .unwrap();
    let refused = || async {
        let r = b.http.post(b.url("/introspect")).basic_auth("app", Some(enc(SECRET))).form(&[("token", &at)]);
        r.send().await.unwrap().status() == 401
    };
    assert!(within(AT_ONCE, refused).await, "B refuses the disabled client at once");
}

/// [CI-1] When the listening connections are killed, the instances say so (the gauge reads 0 while down), reconnect
/// by themselves, and a revocation after that is again refused at B at once.
#[actix_web::test]
async fn ci_1_a_killed_listener_reconnects_and_invalidations_flow_again() {
    if !common::backend_is_postgres() {
        return;
    }
    let (a, b) = pair().await;
    assert!(within(std::time::Duration::from_secs(10), || async { b.state.db.listening() }).await);
    let kill = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND \
         application_name = '{}'",
        bridgekeeper::store::listen::APPLICATION_NAME
    );
    let connects = b.state.db.listener_connects();
    let killed = a.state.db.run(move |c| Ok(diesel::RunQueryDsl::execute(diesel::sql_query(kill), c)?)).await;
    assert_eq!(killed.unwrap(), 2, "the listeners of A and B, one row each");
    // Noticed at the next poll (or keepalive), then a new connection.
    let again = || async { b.state.db.listener_connects() > connects && b.state.db.listening() };
    assert!(within(std::time::Duration::from_secs(15), again).await, "B reconnected");
    let at = access_token(&a).await;
    assert!(introspect_active(&b, &at).await);
    revoke(&a, &at).await;
    assert!(within(AT_ONCE, || introspect_active(&b, &at).map(|v| !v)).await, "B refuses at once again");
}

/// [CI-1] Revoking a token again ends nothing new: it moves no epoch here and sends no invalidation to the others
/// (a client looping `/revoke` on its own token cannot keep every instance's caches empty).
#[actix_web::test]
async fn ci_1_revoking_an_already_revoked_token_moves_no_epoch() {
    let (a, _b) = pair().await;
    if common::backend_is_postgres() {
        // Its listener's first connect moves the epoch once: let that be done before counting.
        assert!(within(std::time::Duration::from_secs(10), || async { a.state.db.listening() }).await);
    }
    let at = access_token(&a).await;
    revoke(&a, &at).await;
    let after_first = a.state.db.epoch();
    for _ in 0..3 {
        revoke(&a, &at).await;
    }
    assert_eq!(a.state.db.epoch(), after_first);
}
