//! DPoP (RFC 9449) at the downstream authorization server, security.md [DP-1]..[DP-6].

mod common;

use bridgekeeper::tokens::keys::Alg;
use common::TestApp;
use common::clients::ClientBuilder;
use common::dpop::*;
use common::oauth::*;
use serde_json::{Value, json};

/// Dev sign-in; a confidential `app`, a public `native`, a DPoP-bound confidential `bound`.
async fn spawn_with(tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> TestApp {
    let scopes = ["openid", "profile", "email", "offline_access"];
    let grants = ["authorization_code", "refresh_token", "client_credentials"];
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&scopes)
                .grants(&grants)
                .skip_consent()
                .build(),
            ClientBuilder::public("native").redirect("http://127.0.0.1/cb").scopes(&scopes).skip_consent().build(),
            ClientBuilder::confidential("bound", SECRET)
                .redirect(RP)
                .scopes(&scopes)
                .grants(&grants)
                .skip_consent()
                .dpop_bound()
                .build(),
        ];
        tweak(s);
    })
    .await
}

async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// POST /token as `app` with an optional proof.
async fn token_with(app: &TestApp, client: &str, proof: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut r = app.http.post(app.url("/token")).basic_auth(client, Some(enc(SECRET))).form(form);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

async fn cc(app: &TestApp, proof: Option<&str>) -> reqwest::Response {
    token_with(app, "app", proof, &[("grant_type", "client_credentials"), ("scope", "profile")]).await
}

/// The public client's code flow with PKCE; returns the code.
async fn native_code(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let mut q = auth_query(&[
        ("client_id", "native"),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    q.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let r = authorize(app, &q).await;
    let loc = complete(app, r, "ada@example.com").await;
    param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"))
}

async fn native_token(app: &TestApp, proof: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form = form.to_vec();
    form.push(("client_id", "native"));
    let mut r = app.http.post(app.url("/token")).form(&form);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

async fn native_redeem(app: &TestApp, proof: Option<&str>, code: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_verifier", VERIFIER),
    ];
    native_token(app, proof, &form).await
}

async fn userinfo_dpop(app: &TestApp, scheme: &str, at: &str, proof: Option<&str>) -> reqwest::Response {
    let mut r = app.http.get(app.url("/userinfo")).header("Authorization", format!("{scheme} {at}"));
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

fn www_authenticate(r: &reqwest::Response) -> String {
    r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn dp_1_a_valid_proof_yields_a_dpop_bound_token_and_none_a_bearer_token() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let r = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({})))).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let (_, claims) = verify_jwt(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["cnf"]["jkt"], k.jkt().as_str());
    let plain: Value = cc(&app, None).await.json().await.unwrap();
    assert_eq!(plain["token_type"], "Bearer");
    let (_, claims) = verify_jwt(&app, plain["access_token"].as_str().unwrap()).await;
    assert!(claims.get("cnf").is_none());
    for alg in [Alg::EdDsa, Alg::Rs256] {
        let k = dpop_key(alg);
        let r = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({})))).await;
        assert_eq!(r.status(), 200, "{alg:?}");
    }
}

#[tokio::test]
async fn dp_1_wrong_htm_htu_or_stale_iat_is_refused() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let now = app.clock.now();
    let bad = [
        json!({"htm": "GET"}),
        json!({"htu": app.url("/userinfo")}),
        json!({"htu": "https://elsewhere.example/token"}),
        json!({"iat": now - 61}),
        json!({"iat": now + 61}),
        json!({"jti": null}),
    ];
    for extra in bad {
        let r = cc(&app, Some(&k.proof(&app, "POST", "/token", extra.clone()))).await;
        assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "{extra}");
    }
    let with_query = k.proof(&app, "POST", "/token", json!({"htu": app.url("/token?x=1#frag")}));
    assert_eq!(cc(&app, Some(&with_query)).await.status(), 200, "query and fragment are ignored");
}

#[tokio::test]
async fn dp_1_private_keys_none_and_macs_and_foreign_types_are_refused() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let claims = json!({"jti": "j", "htm": "POST", "htu": app.url("/token"), "iat": app.clock.now()});
    let mut private = k.header();
    private["jwk"]["d"] = json!("AAAA");
    let mut typ = k.header();
    typ["typ"] = json!("JWT");
    let none = format!("{}.{}.", b64(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": k.jwk})), b64(&claims));
    let hs = {
        let h = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
        format!("{}.{}.c2ln", b64(&h), b64(&claims))
    };
    let other = dpop_key(Alg::Es256);
    let mut foreign_key = k.header();
    foreign_key["jwk"] = other.jwk.clone();
    for (what, proof) in [
        ("private jwk", k.sign(&private, &claims)),
        ("typ JWT", k.sign(&typ, &claims)),
        ("alg none", none),
        ("HS256", hs),
        ("signed by another key", k.sign(&foreign_key, &claims)),
        ("garbage", "a.b.c".to_string()),
        ("too large", "x".repeat(9000)),
    ] {
        assert_eq!(error_of(cc(&app, Some(&proof)).await).await, (400, "invalid_dpop_proof".into()), "{what}");
    }
}

#[tokio::test]
async fn dp_1_two_proofs_in_one_request_are_refused() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth("app", Some(enc(SECRET)))
        .header("DPoP", k.proof(&app, "POST", "/token", json!({})))
        .header("DPoP", k.proof(&app, "POST", "/token", json!({})))
        .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()));
}

#[tokio::test]
async fn dp_2_a_replayed_proof_is_refused_across_instances() {
    let first = spawn().await;
    // A second instance on the same database, behind the same public issuer URL.
    let second = TestApp::spawn_on(first.db.share(), |s| {
        s.dev_mode = true;
        s.clients = first.state.settings().clients.clone();
        s.issuer = first.base.clone();
    })
    .await;
    let k = dpop_key(Alg::Es256);
    let proof = k.proof(&first, "POST", "/token", json!({}));
    assert_eq!(cc(&first, Some(&proof)).await.status(), 200);
    assert_eq!(error_of(cc(&first, Some(&proof)).await).await, (400, "invalid_dpop_proof".into()), "same instance");
    assert_eq!(error_of(cc(&second, Some(&proof)).await).await, (400, "invalid_dpop_proof".into()), "other instance");
    let fresh = k.proof(&first, "POST", "/token", json!({}));
    assert_eq!(cc(&second, Some(&fresh)).await.status(), 200, "the other instance takes a fresh proof");
}

#[tokio::test]
async fn dp_3_a_required_nonce_is_handed_out_and_a_stale_one_refused() {
    let app = spawn_with(|s| s.dpop.require_nonce = true).await;
    let k = dpop_key(Alg::Es256);
    let r = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({})))).await;
    let nonce = r.headers().get("dpop-nonce").expect("a nonce to retry with").to_str().unwrap().to_string();
    assert_eq!(error_of(r).await, (400, "use_dpop_nonce".into()));
    let r = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({"nonce": nonce})))).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("dpop-nonce").is_some(), "a fresh nonce on success too");
    let forged = k.proof(&app, "POST", "/token", json!({"nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}));
    assert_eq!(error_of(cc(&app, Some(&forged)).await).await, (400, "use_dpop_nonce".into()));
    app.clock.advance(60);
    let r = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({"nonce": nonce})))).await;
    assert_eq!(r.status(), 200, "the previous step's nonce still works");
    app.clock.advance(60);
    let r = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({"nonce": nonce})))).await;
    assert_eq!(error_of(r).await, (400, "use_dpop_nonce".into()), "stale after two steps");
}

#[tokio::test]
async fn dp_3_userinfo_asks_for_a_nonce_with_a_dpop_challenge() {
    let app = spawn_with(|s| s.dpop.require_nonce = true).await;
    let k = dpop_key(Alg::Es256);
    let r = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({})))).await;
    let nonce = r.headers().get("dpop-nonce").unwrap().to_str().unwrap().to_string();
    let body: Value =
        cc(&app, Some(&k.proof(&app, "POST", "/token", json!({"nonce": nonce})))).await.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap();
    let proof = k.proof(&app, "GET", "/userinfo", json!({"ath": ath(at)}));
    let r = userinfo_dpop(&app, "DPoP", at, Some(&proof)).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).starts_with("DPoP ") && www_authenticate(&r).contains("error=\"use_dpop_nonce\""));
    assert!(r.headers().get("dpop-nonce").is_some());
}

#[tokio::test]
async fn dp_4_a_public_clients_refresh_token_needs_the_same_key() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let code = native_code(&app, &[]).await;
    let r = native_redeem(&app, Some(&k.proof(&app, "POST", "/token", json!({}))), &code).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
    let other = dpop_key(Alg::Es256);
    let r = native_token(&app, Some(&other.proof(&app, "POST", "/token", json!({}))), &refresh).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "another key");
    assert_eq!(error_of(native_token(&app, None, &refresh).await).await, (400, "invalid_dpop_proof".into()), "none");
    let r = native_token(&app, Some(&k.proof(&app, "POST", "/token", json!({}))), &refresh).await;
    assert_eq!(r.status(), 200, "the same key still refreshes: the refused attempts spent nothing");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn dp_4_a_confidential_clients_refresh_token_is_not_bound() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let code = code(&app, &[]).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", RP)];
    let body: Value =
        token_with(&app, "app", Some(&k.proof(&app, "POST", "/token", json!({}))), &form).await.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let rt = body["refresh_token"].as_str().unwrap();
    let r = token_with(&app, "app", None, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["token_type"], "Bearer");
}

#[tokio::test]
async fn dp_4_a_dpop_bound_client_must_send_a_proof() {
    let app = spawn().await;
    let form = [("grant_type", "client_credentials"), ("scope", "profile")];
    assert_eq!(error_of(token_with(&app, "bound", None, &form).await).await, (400, "invalid_dpop_proof".into()));
    let k = dpop_key(Alg::Es256);
    let r = token_with(&app, "bound", Some(&k.proof(&app, "POST", "/token", json!({}))), &form).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn dp_4_a_code_bound_by_dpop_jkt_needs_that_key() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let jkt = k.jkt();
    let code = native_code(&app, &[("dpop_jkt", &jkt)]).await;
    let other = dpop_key(Alg::Es256);
    let r = native_redeem(&app, Some(&other.proof(&app, "POST", "/token", json!({}))), &code).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()));
    let code = native_code(&app, &[("dpop_jkt", &jkt)]).await;
    assert_eq!(error_of(native_redeem(&app, None, &code).await).await, (400, "invalid_dpop_proof".into()));
    let code = native_code(&app, &[("dpop_jkt", &jkt)]).await;
    let r = native_redeem(&app, Some(&k.proof(&app, "POST", "/token", json!({}))), &code).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn dp_4_a_malformed_dpop_jkt_is_refused_at_authorize() {
    let app = spawn().await;
    let mut q = auth_query(&[("client_id", "native"), ("redirect_uri", "http://127.0.0.1/cb")]);
    q.push(("code_challenge".into(), CHALLENGE.into()));
    q.push(("code_challenge_method".into(), "S256".into()));
    q.push(("dpop_jkt".into(), "not-a-thumbprint".into()));
    let r = authorize(&app, &q).await;
    let loc = location(&r);
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"), "{loc}");
}

/// [DP-4] With `[dpop] enabled = false` no code can be bound, so a `dpop_jkt` is refused rather than ignored.
#[tokio::test]
async fn dp_4_dpop_jkt_at_authorize_is_refused_while_dpop_is_off() {
    let app = spawn_with(|s| s.dpop.enabled = false).await;
    let mut q = auth_query(&[("client_id", "native"), ("redirect_uri", "http://127.0.0.1/cb")]);
    q.push(("code_challenge".into(), CHALLENGE.into()));
    q.push(("code_challenge_method".into(), "S256".into()));
    q.push(("dpop_jkt".into(), dpop_key(Alg::Es256).jkt()));
    let loc = location(&authorize(&app, &q).await);
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"), "{loc}");
}

/// A DPoP-bound access token of `native` for the person, and the key.
async fn bound_token(app: &TestApp) -> (String, DpopKey) {
    let k = dpop_key(Alg::Es256);
    let code = native_code(app, &[]).await;
    let r = native_redeem(app, Some(&k.proof(app, "POST", "/token", json!({}))), &code).await;
    let body: Value = r.json().await.unwrap();
    (body["access_token"].as_str().unwrap().to_string(), k)
}

#[tokio::test]
async fn dp_5_userinfo_takes_a_bound_token_with_a_proof_of_its_key() {
    let app = spawn().await;
    let (at, k) = bound_token(&app).await;
    let good = k.proof(&app, "GET", "/userinfo", json!({"ath": ath(&at)}));
    let r = userinfo_dpop(&app, "DPoP", &at, Some(&good)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["email"], "ada@example.com");
    let replay = userinfo_dpop(&app, "DPoP", &at, Some(&good)).await;
    assert_eq!(replay.status(), 401);
    assert!(www_authenticate(&replay).contains("error=\"invalid_dpop_proof\""));
}

#[tokio::test]
async fn dp_5_wrong_ath_another_key_or_no_proof_is_refused_at_userinfo() {
    let app = spawn().await;
    let (at, k) = bound_token(&app).await;
    let other = dpop_key(Alg::Es256);
    let cases = [
        ("wrong ath", Some(k.proof(&app, "GET", "/userinfo", json!({"ath": ath("another token")})))),
        ("no ath", Some(k.proof(&app, "GET", "/userinfo", json!({})))),
        ("another key", Some(other.proof(&app, "GET", "/userinfo", json!({"ath": ath(&at)})))),
        ("htm POST", Some(k.proof(&app, "POST", "/userinfo", json!({"ath": ath(&at)})))),
        ("no proof", None),
    ];
    for (what, proof) in cases {
        let r = userinfo_dpop(&app, "DPoP", &at, proof.as_deref()).await;
        assert_eq!(r.status(), 401, "{what}");
        let challenge = www_authenticate(&r);
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("error=\"invalid_dpop_proof\""),
            "{what}: {challenge}"
        );
    }
}

#[tokio::test]
async fn dp_5_a_bound_token_used_as_bearer_and_a_bearer_token_used_as_dpop_are_refused() {
    let app = spawn().await;
    let (at, k) = bound_token(&app).await;
    let r = userinfo(&app, &at).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).contains("error=\"invalid_token\""));
    let with_proof = k.proof(&app, "GET", "/userinfo", json!({"ath": ath(&at)}));
    let r = userinfo_dpop(&app, "Bearer", &at, Some(&with_proof)).await;
    assert_eq!(r.status(), 401, "the Bearer scheme, even with a proof");
    let code = native_code(&app, &[]).await;
    let body: Value = native_redeem(&app, None, &code).await.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let bearer = body["access_token"].as_str().unwrap();
    let proof = k.proof(&app, "GET", "/userinfo", json!({"ath": ath(bearer)}));
    let r = userinfo_dpop(&app, "DPoP", bearer, Some(&proof)).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).contains("error=\"invalid_token\""));
    assert_eq!(userinfo(&app, bearer).await.status(), 200, "still fine as a bearer token");
}

#[tokio::test]
async fn dp_5_introspection_shows_the_key_and_the_token_type() {
    let app = spawn().await;
    let k = dpop_key(Alg::Es256);
    let body: Value = cc(&app, Some(&k.proof(&app, "POST", "/token", json!({})))).await.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap();
    let intro = |t: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/introspect"))
                .basic_auth("app", Some(enc(SECRET)))
                .form(&[("token", t)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let v = intro(at.to_string()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "DPoP");
    assert_eq!(v["cnf"]["jkt"], k.jkt().as_str());
    let plain: Value = cc(&app, None).await.json().await.unwrap();
    let v = intro(plain["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!(v["token_type"], "Bearer");
    assert!(v.get("cnf").is_none());
}

#[tokio::test]
async fn dp_6_discovery_lists_the_proof_algorithms_only_when_enabled() {
    let app = spawn().await;
    let doc: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA", "PS256", "RS256"]));
    let off = TestApp::spawn_with(|s| {
        s.dpop.enabled = false;
        s.clients =
            vec![ClientBuilder::confidential("app", SECRET).redirect(RP).grants(&["client_credentials"]).build()];
    })
    .await;
    let doc: Value =
        off.http.get(off.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(doc.get("dpop_signing_alg_values_supported").is_none());
    let k = dpop_key(Alg::Es256);
    let body: Value = cc(&off, Some(&k.proof(&off, "POST", "/token", json!({})))).await.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer", "with DPoP off a proof is ignored");
}

/// [DP-2] A public client_id costs an anonymous caller nothing to name: its proofs at /token (each a stored `jti`
/// and a signature check) count against the per-address anonymous-state budget; an authenticated client's do not.
#[tokio::test]
async fn dp_2_a_public_clients_proofs_at_token_count_against_the_anonymous_state_budget() {
    let app = spawn_with(|s| {
        s.rate_limits.anonymous_state_per_minute = 2;
        s.rate_limits.anonymous_state_burst = 2;
    })
    .await;
    let k = dpop_key(Alg::Es256);
    let mut statuses = vec![];
    for _ in 0..3 {
        let proof = k.proof(&app, "POST", "/token", json!({}));
        statuses.push(native_redeem(&app, Some(&proof), "garbage-code").await.status().as_u16());
    }
    assert_eq!(statuses, [400, 400, 429]);
    for _ in 0..3 {
        assert_eq!(cc(&app, Some(&k.proof(&app, "POST", "/token", json!({})))).await.status(), 200);
    }
}
