//! Pushed Authorization Requests (RFC 9126) as a client sees them: `POST /par` and `/authorize` with a
//! `request_uri` (security.md [PAR-1]..[PAR-6]).

mod common;

use common::TestApp;
use common::clients::ClientBuilder;
use common::oauth::*;
use serde_json::Value;

const OTHER_SECRET: &str = "other-secret";

fn clients() -> Vec<bridgekeeper::settings::StaticClient> {
    let scopes = ["openid", "profile", "email", "offline_access"];
    vec![
        ClientBuilder::confidential("app", SECRET).redirect(RP).scopes(&scopes).build(),
        ClientBuilder::confidential("other", OTHER_SECRET).redirect("https://other.example/cb").scopes(&scopes).build(),
        ClientBuilder::confidential("pushy", SECRET).redirect("https://pushy.example/cb").require_par().build(),
        ClientBuilder::public("native").redirect("http://127.0.0.1/cb").build(),
    ]
}

async fn spawn_with(tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = clients();
        tweak(s);
    })
    .await
}

async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// Pushes `form` as client `(id, secret)` (Basic).
async fn push(app: &TestApp, client: (&str, &str), form: &[(String, String)]) -> reqwest::Response {
    app.http.post(app.url("/par")).basic_auth(enc(client.0), Some(enc(client.1))).form(form).send().await.unwrap()
}

/// Pushes the standard request of `app` and returns the `request_uri`.
async fn pushed_uri(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let r = push(app, ("app", SECRET), &auth_query(extra)).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    body["request_uri"].as_str().unwrap().to_string()
}

async fn authorize_with(
    app: &TestApp,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut q = vec![("client_id", client_id), ("request_uri", request_uri)];
    q.extend_from_slice(extra);
    app.http.get(app.url("/authorize")).query(&q).send().await.unwrap()
}

/// A page (never a redirect) saying the request is unknown.
async fn assert_unknown_request_page(r: reqwest::Response) {
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none(), "never a redirect");
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign-in request unknown"), "{page}");
}

#[actix_web::test]
async fn par_1_3_a_push_answers_201_with_a_short_lived_request_uri_that_signs_in() {
    let app = spawn().await;
    let r = push(&app, ("app", SECRET), &auth_query(&[])).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = r.json().await.unwrap();
    let uri = body["request_uri"].as_str().unwrap();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:") && uri.len() > 60, "{uri}");
    let ttl = body["expires_in"].as_i64().unwrap();
    assert!((1..=60).contains(&ttl), "{ttl}");
    let loc = complete(&app, authorize_with(&app, "app", uri, &[]).await, "ada@example.com").await;
    assert!(loc.starts_with(RP), "{loc}");
    assert_eq!(param(&loc, "state").as_deref(), Some("st-1"));
    let tokens = exchange(&app, &param(&loc, "code").unwrap()).await;
    assert!(tokens["id_token"].is_string());
}

/// A push (form, client credentials) and the JSON error it must get (status, code).
type Case = (Vec<(String, String)>, (&'static str, &'static str), u16, &'static str);

#[actix_web::test]
async fn par_1_a_push_is_validated_like_authorize_and_errors_are_json() {
    let app = spawn().await;
    let cases: Vec<Case> = vec![
        (auth_query(&[("redirect_uri", "https://evil.example/cb")]), ("app", SECRET), 400, "invalid_request"),
        (auth_query(&[("response_type", "token")]), ("app", SECRET), 400, "unsupported_response_type"),
        (auth_query(&[("prompt", "bogus")]), ("app", SECRET), 400, "invalid_request"),
        (
            auth_query(&[("request_uri", "urn:ietf:params:oauth:request_uri:x")]),
            ("app", SECRET),
            400,
            "invalid_request",
        ),
        (auth_query(&[("request", "eyJ.x.y")]), ("app", SECRET), 400, "request_not_supported"),
        (auth_query(&[("client_id", "other")]), ("app", SECRET), 400, "invalid_request"),
        (auth_query(&[]), ("app", "wrong"), 401, "invalid_client"),
        (auth_query(&[("client_id", "native")]), ("native", ""), 401, "invalid_client"),
    ];
    for (form, client, status, error) in cases {
        let r = push(&app, client, &form).await;
        assert_eq!(json_error(r).await, (status, error.to_string()), "{form:?}");
    }
    // A public client pushes with its client_id only (and PKCE, which it always needs).
    let native = |extra: &[(&str, &str)]| {
        let mut q = auth_query(&[("client_id", "native"), ("redirect_uri", "http://127.0.0.1/cb")]);
        q.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        q
    };
    let r = app.http.post(app.url("/par")).form(&native(&[])).send().await.unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_request".into()), "PKCE is required, as at /authorize");
    let pkce = [("code_challenge", CHALLENGE), ("code_challenge_method", "S256")];
    let r = app.http.post(app.url("/par")).form(&native(&pkce)).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = app.http.get(app.url("/par")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

/// [PAR-1] A client that authenticated its push is not an anonymous caller: a busy relying party is never held to
/// the per-address budget for anonymous state; a public client's pushes are.
#[actix_web::test]
async fn par_1_authenticated_pushes_are_not_held_to_the_anonymous_budget() {
    let app = spawn_with(|s| {
        s.rate_limits.anonymous_state_per_minute = 2;
        s.rate_limits.anonymous_state_burst = 2;
    })
    .await;
    for i in 0..5 {
        assert_eq!(push(&app, ("app", SECRET), &auth_query(&[])).await.status(), 201, "push {i}");
    }
    let mut q = auth_query(&[("client_id", "native"), ("redirect_uri", "http://127.0.0.1/cb")]);
    q.extend([("code_challenge", CHALLENGE), ("code_challenge_method", "S256")].map(|(k, v)| (k.into(), v.into())));
    for i in 0..2 {
        assert_eq!(app.http.post(app.url("/par")).form(&q).send().await.unwrap().status(), 201, "public {i}");
    }
    let r = app.http.post(app.url("/par")).form(&q).send().await.unwrap();
    assert_eq!(r.status(), 429, "a public client's third push");
}

#[actix_web::test]
async fn par_2_a_request_uri_is_single_use() {
    let app = spawn().await;
    let uri = pushed_uri(&app, &[]).await;
    let loc = complete(&app, authorize_with(&app, "app", &uri, &[]).await, "ada@example.com").await;
    assert!(param(&loc, "code").is_some());
    assert_unknown_request_page(authorize_with(&app, "app", &uri, &[]).await).await;
}

/// Shared security.md [PA-5] (FAPI2 `par-ensure-reused-request-uri-prior-to-auth-completion-succeeds`): the
/// browser that first brought the `request_uri` may bring it again (a reload) until the authorization completes;
/// another browser may not; once the code is issued it is spent, for that browser too.
#[actix_web::test]
async fn par_2_a_reload_before_sign_in_completes_still_works() {
    let app = spawn().await;
    let uri = pushed_uri(&app, &[]).await;
    let first = authorize_with(&app, "app", &uri, &[]).await;
    assert!(first.status().is_redirection(), "{}", first.status());
    assert!(location(&first).starts_with("/login"), "{}", location(&first));
    let reload = authorize_with(&app, "app", &uri, &[]).await;
    assert!(reload.status().is_redirection(), "a reload still works: {}", reload.status());
    let elsewhere = app.view();
    assert_unknown_request_page(authorize_with(&elsewhere, "app", &uri, &[]).await).await;
    let loc = complete(&app, reload, "ada@example.com").await;
    assert!(param(&loc, "code").is_some(), "{loc}");
    assert_unknown_request_page(authorize_with(&app, "app", &uri, &[]).await).await;
}

#[actix_web::test]
async fn par_2_a_request_uri_is_bound_to_its_client_and_another_trying_it_does_not_spend_it() {
    let app = spawn().await;
    let uri = pushed_uri(&app, &[]).await;
    assert_unknown_request_page(authorize_with(&app, "other", &uri, &[]).await).await;
    let r = authorize_with(&app, "nobody", &uri, &[]).await;
    assert_eq!(r.status(), 400, "an unknown client is a page too");
    let loc = complete(&app, authorize_with(&app, "app", &uri, &[]).await, "ada@example.com").await;
    assert!(param(&loc, "code").is_some(), "the rightful client still can: {loc}");
}

#[actix_web::test]
async fn par_3_an_expired_request_uri_is_refused() {
    let app = spawn().await;
    let uri = pushed_uri(&app, &[]).await;
    app.clock.advance(61);
    assert_unknown_request_page(authorize_with(&app, "app", &uri, &[]).await).await;
    for bogus in ["urn:ietf:params:oauth:request_uri:nope", "urn:ietf:params:oauth:request_uri:a/b"] {
        assert_unknown_request_page(authorize_with(&app, "app", bogus, &[]).await).await;
    }
    // A request_uri that is not ours is an ordinary request refused as before ([AZ-17]).
    let r = authorize_with(&app, "app", "https://evil.example/request.jwt", &[]).await;
    assert_eq!(param(&location(&r), "error").as_deref(), Some("request_uri_not_supported"));
}

#[actix_web::test]
async fn par_4_other_parameters_at_authorize_are_ignored() {
    let app = spawn().await;
    let uri = pushed_uri(&app, &[]).await;
    let sneaky = [("redirect_uri", "https://rp.example/cb?dummy=1"), ("state", "evil"), ("scope", "openid")];
    let loc = complete(&app, authorize_with(&app, "app", &uri, &sneaky).await, "ada@example.com").await;
    assert!(loc.starts_with(&format!("{RP}?")), "{loc}");
    assert_eq!(param(&loc, "state").as_deref(), Some("st-1"), "the pushed state, not the query's");
    let tokens = exchange(&app, &param(&loc, "code").unwrap()).await;
    assert!(tokens["scope"].as_str().unwrap().contains("offline_access"), "the pushed scope");
}

#[actix_web::test]
async fn par_5_a_client_that_must_push_cannot_send_a_plain_request() {
    let app = spawn().await;
    let q = auth_query(&[("client_id", "pushy"), ("redirect_uri", "https://pushy.example/cb"), ("scope", "openid")]);
    let r = authorize(&app, &q).await;
    assert_eq!(r.status(), 302);
    let loc = location(&r);
    assert!(loc.starts_with("https://pushy.example/cb?"), "{loc}");
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&loc, "state").as_deref(), Some("st-1"));
    let r = push(&app, ("pushy", SECRET), &q).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let r = authorize_with(&app, "pushy", body["request_uri"].as_str().unwrap(), &[]).await;
    let loc = complete(&app, r, "ada@example.com").await;
    assert!(param(&loc, "code").is_some(), "{loc}");
    // Other clients are not affected until PAR is required for everyone.
    let loc = location(&authorize(&app.view(), &auth_query(&[])).await);
    assert!(loc.starts_with("/login"), "{loc}");
}

#[actix_web::test]
async fn par_5_required_globally_refuses_every_plain_request_and_discovery_says_so() {
    let app = spawn_with(|s| s.par.require = true).await;
    let loc = location(&authorize(&app, &auth_query(&[])).await);
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"), "{loc}");
    let d: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["require_pushed_authorization_requests"], true);
    let uri = pushed_uri(&app, &[]).await;
    let loc = complete(&app, authorize_with(&app, "app", &uri, &[]).await, "ada@example.com").await;
    assert!(param(&loc, "code").is_some(), "{loc}");
}

#[actix_web::test]
async fn par_6_discovery_advertises_par_only_when_enabled() {
    let app = spawn().await;
    let d: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["pushed_authorization_request_endpoint"], app.url("/par"));
    assert_eq!(d["require_pushed_authorization_requests"], false);
    let off = spawn_with(|s| s.par.enabled = false).await;
    let d: Value =
        off.http.get(off.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(d.get("pushed_authorization_request_endpoint").is_none());
    assert_eq!(push(&off, ("app", SECRET), &auth_query(&[])).await.status(), 404);
}

#[actix_web::test]
async fn par_2_a_request_pushed_at_one_instance_is_used_once_at_another() {
    let db = common::test_db();
    let shared = db.share();
    let a = TestApp::spawn_on(db, |s| {
        s.dev_mode = true;
        s.clients = clients();
    })
    .await;
    let b = TestApp::spawn_on(shared, |s| {
        s.dev_mode = true;
        s.clients = clients();
    })
    .await;
    let uri = pushed_uri(&a, &[]).await;
    let loc = complete(&b, authorize_with(&b, "app", &uri, &[]).await, "ada@example.com").await;
    assert!(param(&loc, "code").is_some(), "{loc}");
    assert_unknown_request_page(authorize_with(&a, "app", &uri, &[]).await).await;
}

/// [PAR-5] With `par.enabled = false` no client may be registered as one that must push (it could never sign in):
/// dynamic registration (POST and RFC 7592 PUT) says `invalid_client_metadata`, the admin API 400.
#[actix_web::test]
async fn par_5_require_par_is_refused_when_par_is_off() {
    let app = spawn_with(|s| {
        s.par.enabled = false;
        s.registration.enabled = true;
        s.registration.open = true;
        s.clients.push(
            ClientBuilder::confidential("ops", "admin-secret-for-tests")
                .scopes(&["admin"])
                .grants(&["client_credentials"])
                .build(),
        );
    })
    .await;
    let must_push = serde_json::json!({"redirect_uris": [RP], "require_pushed_authorization_requests": true});
    let r = app.http.post(app.url("/register")).json(&must_push).send().await.unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_client_metadata".into()), "POST /register");
    let r = app.http.post(app.url("/register")).json(&serde_json::json!({"redirect_uris": [RP]})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let id = reg["client_id"].as_str().unwrap();
    let mut put = must_push.clone();
    put["client_id"] = id.into();
    let r = app
        .http
        .put(app.url(&format!("/register/{id}")))
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(&put)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_client_metadata".into()), "PUT /register/{{id}}");
    let r = token(&app, ("ops", "admin-secret-for-tests"), &[("grant_type", "client_credentials"), ("scope", "admin")])
        .await;
    let admin = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let body = serde_json::json!({"client_id": "pusher", "name": "Pusher", "redirect_uris": [RP],
        "require_pushed_authorization_requests": true});
    let r = app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 400, "admin API");
}
