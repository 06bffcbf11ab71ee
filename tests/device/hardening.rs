//! The device grant's review findings, security.md [DV-8] (user codes unique by the database), [DV-9] (the poll
//! interval checked and recorded in one conditional update) and [RG-5] (self-registration gets the device grant
//! only where the configuration allows it).

use std::sync::Arc;

use serde_json::Value;

use super::common::oauth::*;
use super::{GRANT, ask, spawn, spawn_with, started};
use bridgekeeper::secret::hash_token;
use bridgekeeper::store::device_codes::{self, DeviceCode};

#[tokio::test]
async fn dv_1_a_dynamically_registered_device_client_needs_no_redirect_uri() {
    let app = spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.allow_device_grant = true;
        s.registration.initial_access_token = bridgekeeper::secret::Secret::new("initial-access-token-for-tests");
    })
    .await;
    let body = serde_json::json!({
        "client_name": "Registered TV",
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": [GRANT],
        "scope": "openid profile",
    });
    let r = app
        .http
        .post(app.url("/register"))
        .bearer_auth("initial-access-token-for-tests")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["grant_types"], serde_json::json!([GRANT]));
    let r = ask(&app, c["client_id"].as_str().unwrap(), "openid profile").await;
    assert_eq!(r.status(), 200, "the registered client uses the grant");
    let bogus = serde_json::json!({"grant_types": ["urn:ietf:params:oauth:grant-type:device_cod"], "token_endpoint_auth_method": "none"});
    let r = app
        .http
        .post(app.url("/register"))
        .bearer_auth("initial-access-token-for-tests")
        .json(&bogus)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "unknown grant types are still refused");
}

/// [RG-5] RFC 7591 self-registration may not give a client the device grant unless
/// `registration.allow_device_grant` (default false): `invalid_client_metadata`, nothing registered, and no RFC 7592
/// PUT adds it; admin-registered clients keep it.
#[tokio::test]
async fn rg_5_self_registration_gets_the_device_grant_only_when_allowed() {
    let app = spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.initial_access_token = bridgekeeper::secret::Secret::new("initial-access-token-for-tests");
    })
    .await;
    let register = |body: Value| {
        let req = app.http.post(app.url("/register")).bearer_auth("initial-access-token-for-tests").json(&body);
        async move { req.send().await.unwrap() }
    };
    let device = serde_json::json!({
        "client_name": "Registered TV",
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": [GRANT],
        "scope": "openid profile",
    });
    let before = app.state.db.run(bridgekeeper::store::clients::list).await.unwrap().len();
    let (status, error) = json_error(register(device.clone()).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_client_metadata"));
    let after = app.state.db.run(bridgekeeper::store::clients::list).await.unwrap().len();
    assert_eq!(before, after, "nothing registered");
    // Without the device grant self-registration works as before; the config client keeps its grant.
    let code_flow = serde_json::json!({"redirect_uris": ["https://rp.example/cb"], "client_name": "Web"});
    assert_eq!(register(code_flow).await.status(), 201);
    assert_eq!(ask(&app, "tv", "openid").await.status(), 200, "an admin-registered device client is unaffected");
    // A registered client cannot add it by its own PUT either.
    let r = register(serde_json::json!({"grant_types": ["refresh_token"], "token_endpoint_auth_method": "none"}));
    let c: Value = r.await.json().await.unwrap();
    let (id, rat) = (c["client_id"].as_str().unwrap(), c["registration_access_token"].as_str().unwrap());
    let put = serde_json::json!({"client_id": id, "grant_types": [GRANT], "token_endpoint_auth_method": "none"});
    let r = app.http.put(app.url(&format!("/register/{id}"))).bearer_auth(rat).json(&put).send().await.unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_client_metadata".to_string()));
}

/// A pending row of `tv` under the user code `user_code`.
fn row(device_code: &str, user_code: &str, now: i64) -> DeviceCode {
    DeviceCode {
        device_code_hash: hash_token(device_code),
        user_code_hash: hash_token(user_code),
        client_id: "tv".into(),
        scope: "openid".into(),
        requester_hash: hash_token("test"),
        status: "pending".into(),
        interval_secs: 5,
        last_poll_at: None,
        user_id: None,
        grant_id: None,
        created_at: now,
        expires_at: now + 600,
    }
}

/// [DV-8] The database refuses a second code under a user code a stored code holds.
#[tokio::test]
async fn dv_8_two_stored_device_codes_never_share_a_user_code() {
    let app = spawn().await;
    let now = app.clock.now();
    let first = row("device-one", "BCDFGHJK", now);
    app.state.db.run(move |c| device_codes::insert(c, &first)).await.unwrap();
    let second = row("device-two", "BCDFGHJK", now);
    let r = app.state.db.run(move |c| device_codes::insert(c, &second)).await;
    assert!(matches!(r, Err(bridgekeeper::store::StoreError::Conflict)), "a shared user code is refused: {r:?}");
    // Storing with fresh user codes retries with the next one, and gives up (None) when every one is taken.
    let codes = || ["BCDFGHJK".to_string(), "LMNPQRST".to_string()];
    let mut third = row("device-three", "", now);
    let got = app.state.db.run(move |c| device_codes::insert_with_fresh_user_code(c, &mut third, codes())).await;
    assert_eq!(got.unwrap().as_deref(), Some("LMNPQRST"));
    let mut fourth = row("device-four", "", now);
    let got = app.state.db.run(move |c| device_codes::insert_with_fresh_user_code(c, &mut fourth, codes())).await;
    assert_eq!(got.unwrap(), None, "every user code taken: nothing stored");
    let stored = app.state.db.run(|c| device_codes::find(c, &hash_token("device-four"))).await.unwrap();
    assert!(stored.is_none());
}

/// [DV-9] Polls of one code arriving together (released by a barrier, at one instant of the app's clock): at most
/// one is on time (`authorization_pending`), every other one is `slow_down`, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dv_9_of_polls_arriving_together_at_most_one_is_on_time() {
    let app = spawn().await;
    for round in 0..3 {
        let code = started(&app).await["device_code"].as_str().unwrap().to_string();
        let n = 8;
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let polls: Vec<_> = (0..n)
            .map(|_| {
                let (barrier, http, url, code) = (barrier.clone(), app.http.clone(), app.url("/token"), code.clone());
                tokio::spawn(async move {
                    let form = [("grant_type", GRANT), ("device_code", code.as_str()), ("client_id", "tv")];
                    let req = http.post(url).form(&form);
                    barrier.wait().await;
                    json_error(req.send().await.unwrap()).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for p in polls {
            answers.push(p.await.unwrap());
        }
        let on_time = answers.iter().filter(|a| a.1 == "authorization_pending").count();
        let slow = answers.iter().filter(|a| a.1 == "slow_down").count();
        assert_eq!((on_time, slow), (1, n - 1), "round {round}: {answers:?}");
    }
}
