//! Client authentication with `private_key_jwt` (RFC 7523, OIDC Core §9), security.md [PJ-1]..[PJ-6].

mod common;

use bridgekeeper::store::keys::KeyState;
use bridgekeeper::tokens::keys::{Alg, SigningKey, generate};
use common::TestApp;
use common::clients::ClientBuilder;
use common::oauth::*;
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's key pair: the signer and the public JWK Set it registers.
struct ClientKey {
    key: SigningKey,
    jwks: String,
}

fn client_key(alg: Alg) -> ClientKey {
    let row = generate(alg, 0, KeyState::Next).unwrap();
    let jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
    ClientKey { key: SigningKey::from_row(&row).unwrap(), jwks: json!({ "keys": [jwk] }).to_string() }
}

impl ClientKey {
    /// An assertion for `client` at `aud`, valid `ttl` seconds from `now`, with `jti`.
    fn assertion(&self, client: &str, aud: &str, now: i64, ttl: i64, jti: &str) -> String {
        self.assertion_for(client, json!(aud), now, ttl, jti)
    }

    /// The same with any JSON `aud` (a string or an array).
    fn assertion_for(&self, client: &str, aud: Value, now: i64, ttl: i64, jti: &str) -> String {
        let claims = json!({"iss": client, "sub": client, "aud": aud, "iat": now, "exp": now + ttl, "jti": jti});
        bridgekeeper::tokens::jws::sign(&self.key, "JWT", &claims).unwrap()
    }
}

async fn spawn(keys: &[(&str, &ClientKey)]) -> TestApp {
    let clients = keys
        .iter()
        .map(|(id, k)| {
            ClientBuilder::private_key_jwt(id, &k.jwks)
                .redirect(RP)
                .grants(&["authorization_code", "refresh_token", "client_credentials"])
                .skip_consent()
                .build()
        })
        .collect();
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = clients;
    })
    .await
}

/// POST /token with `client_credentials` and the assertion in the body.
async fn cc(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    app.http.post(app.url("/token")).form(&form).send().await.unwrap()
}

fn now(app: &TestApp) -> i64 {
    app.clock.now()
}

#[actix_web::test]
async fn pj_1_a_client_authenticates_with_a_jwt_signed_by_its_registered_key() {
    for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256] {
        let k = client_key(alg);
        let app = spawn(&[("svc", &k)]).await;
        let r = cc(&app, &k.assertion("svc", &app.base, now(&app), 60, "j1"), &[]).await;
        assert_eq!(r.status(), 200, "{alg:?}: {}", r.text().await.unwrap());
        // client_id may be sent alongside.
        let r = cc(&app, &k.assertion("svc", &app.base, now(&app), 60, "j2"), &[("client_id", "svc")]).await;
        assert_eq!(r.status(), 200, "{alg:?}");
    }
}

#[actix_web::test]
async fn pj_1_a_private_key_jwt_client_trying_a_secret_is_refused() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let form = [("grant_type", "client_credentials")];
    let basic = app.http.post(app.url("/token")).basic_auth("svc", Some("guess")).form(&form).send().await.unwrap();
    assert_eq!(json_error(basic).await, (401, "invalid_client".into()));
    let post = [("grant_type", "client_credentials"), ("client_id", "svc"), ("client_secret", "guess")];
    let r = app.http.post(app.url("/token")).form(&post).send().await.unwrap();
    assert_eq!(json_error(r).await, (401, "invalid_client".into()));
    let none = [("grant_type", "client_credentials"), ("client_id", "svc")];
    let r = app.http.post(app.url("/token")).form(&none).send().await.unwrap();
    assert_eq!(json_error(r).await, (401, "invalid_client".into()));
    // An assertion together with a secret is two methods at once.
    let a = k.assertion("svc", &app.base, now(&app), 60, "j1");
    let r = cc(&app, &a, &[("client_secret", "guess")]).await;
    assert_eq!(json_error(r).await, (400, "invalid_request".into()));
}

#[actix_web::test]
async fn pj_2_wrong_aud_iss_or_sub_is_refused() {
    let k = client_key(Alg::Es256);
    let other = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k), ("svc2", &other)]).await;
    let t = now(&app);
    for aud in ["https://other.example", &app.url("/userinfo"), &app.url("/token"), ""] {
        let r = cc(&app, &k.assertion("svc", aud, t, 60, &format!("aud-{aud}")), &[]).await;
        assert_eq!(json_error(r).await, (401, "invalid_client".into()), "aud {aud}");
    }
    let claims = json!({"iss": "svc", "sub": "svc2", "aud": app.base, "exp": t + 60, "jti": "x1"});
    let a = bridgekeeper::tokens::jws::sign(&k.key, "JWT", &claims).unwrap();
    assert_eq!(json_error(cc(&app, &a, &[]).await).await, (401, "invalid_client".into()), "sub differs");
    // Signed by svc2's key while claiming to be svc.
    let a = other.assertion("svc", &app.base, t, 60, "x2");
    assert_eq!(json_error(cc(&app, &a, &[]).await).await, (401, "invalid_client".into()), "foreign key");
    // client_id in the body must be the assertion's client.
    let a = k.assertion("svc", &app.base, t, 60, "x3");
    assert_eq!(json_error(cc(&app, &a, &[("client_id", "svc2")]).await).await, (401, "invalid_client".into()));
}

/// [PJ-2] RFC 10070 / shared security.md [CA-6]: the issuer identifier, as a string, is the only audience; our
/// endpoint URLs and arrays (even one holding just the issuer) are refused (FAPI2 `...-array-as-audience-fails`,
/// `...-par-endpoint-url-as-audience-fails`, `...-token-endpoint-url-as-audience-fails`).
#[actix_web::test]
async fn pj_2_only_the_issuer_string_is_an_audience() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let t = now(&app);
    let issuer = app.base.clone();
    let refused = [
        json!(app.url("/token")),
        json!(app.url("/par")),
        json!(app.url("/introspect")),
        json!(app.url("/revoke")),
        json!([issuer]),
        json!([issuer, "x"]),
    ];
    for (i, aud) in refused.into_iter().enumerate() {
        let r = cc(&app, &k.assertion_for("svc", aud.clone(), t, 60, &format!("aud-{i}")), &[]).await;
        assert_eq!(json_error(r).await, (401, "invalid_client".into()), "aud {aud}");
    }
    let r = cc(&app, &k.assertion("svc", &issuer, t, 60, "aud-ok"), &[]).await;
    assert_eq!(r.status(), 200, "aud = the issuer string");
}

#[actix_web::test]
async fn pj_3_an_expired_or_too_long_lived_assertion_is_refused() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let url = app.base.clone();
    let a = k.assertion("svc", &url, now(&app), 30, "old");
    app.clock.advance(31);
    assert_eq!(json_error(cc(&app, &a, &[]).await).await, (401, "invalid_client".into()), "expired");
    let a = k.assertion("svc", &url, now(&app), 3600, "long");
    assert_eq!(json_error(cc(&app, &a, &[]).await).await, (401, "invalid_client".into()), "an hour is too long");
    let claims = json!({"iss": "svc", "sub": "svc", "aud": url, "jti": "noexp"});
    let a = bridgekeeper::tokens::jws::sign(&k.key, "JWT", &claims).unwrap();
    assert_eq!(json_error(cc(&app, &a, &[]).await).await, (401, "invalid_client".into()), "no exp");
}

/// [PJ-3] The clock-skew window is 30 s (FAPI2: `nbf` 8 s ahead is accepted, 60 s ahead refused).
#[actix_web::test]
async fn pj_3_nbf_sixty_seconds_ahead_is_refused() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let t = now(&app);
    let signed = |extra: Value, jti: &str| {
        let mut c = json!({"iss": "svc", "sub": "svc", "aud": app.base, "exp": t + 120, "jti": jti});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        bridgekeeper::tokens::jws::sign(&k.key, "JWT", &c).unwrap()
    };
    for (extra, jti) in
        [(json!({"nbf": t + 60}), "nbf60"), (json!({"iat": t + 60}), "iat60"), (json!({"nbf": t + 31}), "nbf31")]
    {
        assert_eq!(json_error(cc(&app, &signed(extra, jti), &[]).await).await, (401, "invalid_client".into()), "{jti}");
    }
    assert_eq!(cc(&app, &signed(json!({"nbf": t + 8, "iat": t + 8}), "nbf8"), &[]).await.status(), 200);
}

#[actix_web::test]
async fn pj_4_an_assertion_jti_is_single_use_across_instances() {
    let k = client_key(Alg::Es256);
    let db = common::test_db();
    let shared = db.share();
    let tweak = |s: &mut bridgekeeper::settings::Settings| {
        s.issuer = "http://bridgekeeper.test".into();
        s.clients = vec![ClientBuilder::private_key_jwt("svc", &k.jwks).grants(&["client_credentials"]).build()];
    };
    let a = TestApp::spawn_on(db, tweak).await;
    let b = TestApp::spawn_on(shared, tweak).await;
    let assertion = k.assertion("svc", "http://bridgekeeper.test", now(&a), 60, "once");
    assert_eq!(cc(&a, &assertion, &[]).await.status(), 200);
    assert_eq!(json_error(cc(&a, &assertion, &[]).await).await, (401, "invalid_client".into()), "replay");
    assert_eq!(json_error(cc(&b, &assertion, &[]).await).await, (401, "invalid_client".into()), "replay at B");
    let claims = json!({"iss": "svc", "sub": "svc", "aud": "http://bridgekeeper.test", "exp": now(&a) + 60});
    let no_jti = bridgekeeper::tokens::jws::sign(&k.key, "JWT", &claims).unwrap();
    assert_eq!(json_error(cc(&a, &no_jti, &[]).await).await, (401, "invalid_client".into()), "no jti");
}

/// [PJ-4] A used `jti` is remembered past its assertion's `exp` by the clock-skew window, so that an instance
/// whose clock is behind the sweeper's cannot be replayed to once the row is gone.
#[actix_web::test]
async fn pj_4_a_jti_outlives_its_exp_by_the_skew() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let a = k.assertion("svc", &app.base, now(&app), 60, "skewed");
    assert_eq!(cc(&app, &a, &[]).await.status(), 200);
    let policy = bridgekeeper::store::gc::Policy {
        batch: 100,
        code_keep_secs: 600,
        revoked_keep_secs: 600,
        audit_retention_secs: 86_400,
        outbox_keep_secs: 3000,
    };
    let swept_at = |at: i64| {
        let p = policy.clone();
        app.state.db.run(move |c| bridgekeeper::store::gc::sweep(c, at, &p, false))
    };
    let jtis = |out: Vec<(&'static str, u64)>| out.into_iter().find(|(t, _)| *t == "client_assertion_jtis").unwrap().1;
    let skew = bridgekeeper_core::client_assertion::SKEW_SECS;
    assert_eq!(jtis(swept_at(now(&app) + 61).await.unwrap()), 0, "just past exp: still remembered");
    assert_eq!(jtis(swept_at(now(&app) + 60 + skew - 1).await.unwrap()), 0, "within the skew");
    assert_eq!(jtis(swept_at(now(&app) + 61 + skew).await.unwrap()), 1, "past exp + skew: swept");
}

#[actix_web::test]
async fn pj_5_macs_none_and_unlisted_algorithms_are_refused() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let claims = json!({"iss": "svc", "sub": "svc", "aud": app.base, "exp": now(&app) + 60, "jti": "h"});
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(k.jwks.as_bytes()),
    )
    .unwrap();
    assert_eq!(json_error(cc(&app, &hs, &[]).await).await, (401, "invalid_client".into()), "HS256");
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    assert_eq!(json_error(cc(&app, &none, &[]).await).await, (401, "invalid_client".into()), "alg none");
    let d: Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["token_endpoint_auth_signing_alg_values_supported"], json!(["ES256", "EdDSA", "RS256", "PS256"]));
    assert!(d["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt")));
}

/// [PJ-5] RFC 10070 / RFC 8725 §3.11: a JWT of another kind (a DPoP proof, a request object, an access token) is
/// never a client assertion; no `typ`, `JWT` or `client-authentication+jwt` are.
#[actix_web::test]
async fn pj_5_an_assertion_with_a_foreign_typ_is_refused() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let claims = |jti: &str| json!({"iss": "svc", "sub": "svc", "aud": app.base, "exp": now(&app) + 60, "jti": jti});
    for typ in ["dpop+jwt", "oauth-authz-req+jwt", "at+jwt", "application/at+jwt", "logout+jwt"] {
        let a = bridgekeeper::tokens::jws::sign(&k.key, typ, &claims(typ)).unwrap();
        assert_eq!(json_error(cc(&app, &a, &[]).await).await, (401, "invalid_client".into()), "typ {typ}");
    }
    for typ in ["JWT", "client-authentication+jwt", "application/client-authentication+jwt"] {
        let a = bridgekeeper::tokens::jws::sign(&k.key, typ, &claims(&format!("ok-{typ}"))).unwrap();
        assert_eq!(cc(&app, &a, &[]).await.status(), 200, "typ {typ}");
    }
}

#[actix_web::test]
async fn pj_6_a_private_key_jwt_client_pushes_and_redeems_a_code() {
    let k = client_key(Alg::Es256);
    let app = spawn(&[("svc", &k)]).await;
    let mut form: Vec<(String, String)> = auth_query(&[("client_id", "svc")]);
    let par_assertion = k.assertion("svc", &app.base, now(&app), 60, "par-1");
    form.push(("client_assertion_type".into(), JWT_BEARER.into()));
    form.push(("client_assertion".into(), par_assertion));
    let r = app.http.post(app.url("/par")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let uri: Value = r.json().await.unwrap();
    let q = [("client_id", "svc"), ("request_uri", uri["request_uri"].as_str().unwrap())];
    let r = app.http.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let loc = complete(&app, r, "ada@example.com").await;
    let code = param(&loc, "code").unwrap();
    let a = k.assertion("svc", &app.base, now(&app), 60, "tok-1");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", RP),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &a),
    ];
    let r = app.http.post(app.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert!(tokens["id_token"].is_string());
}

/// [PJ-1] RFC 7592 PUT: a client that switches to private_key_jwt loses its secret (the old one stops working);
/// one that switches back from private_key_jwt to a secret method is given a fresh secret.
#[actix_web::test]
async fn pj_1_a_put_switching_to_or_from_private_key_jwt_keeps_the_secret_rules() {
    let app = TestApp::spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.open = true;
    })
    .await;
    let k = client_key(Alg::Es256);
    let jwks: Value = serde_json::from_str(&k.jwks).unwrap();
    let r = app.http.post(app.url("/register")).json(&json!({"redirect_uris": [RP]})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let (id, secret) = (reg["client_id"].as_str().unwrap(), reg["client_secret"].as_str().unwrap());
    let rat = reg["registration_access_token"].as_str().unwrap();
    let put = |body: Value| app.http.put(app.url(&format!("/register/{id}"))).bearer_auth(rat).json(&body).send();
    let introspect_basic = |secret: String| {
        app.http.post(app.url("/introspect")).basic_auth(enc(id), Some(enc(&secret))).form(&[("token", "x")]).send()
    };
    let introspect_jwt = |jti: &str| {
        let a = k.assertion(id, &app.base, app.clock.now(), 60, jti);
        let form = [("token", "x".to_string()), ("client_assertion_type", JWT_BEARER.into()), ("client_assertion", a)];
        app.http.post(app.url("/introspect")).form(&form).send()
    };
    assert_eq!(introspect_basic(secret.into()).await.unwrap().status(), 200);
    let r = put(json!({"client_id": id, "redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt",
        "jwks": jwks}))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("client_secret").is_none(), "{body}");
    assert_eq!(introspect_basic(secret.into()).await.unwrap().status(), 401, "the old secret is gone");
    assert_eq!(introspect_jwt("put-1").await.unwrap().status(), 200);
    let r = put(json!({"client_id": id, "redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let fresh = body["client_secret"].as_str().expect("a fresh secret for the secret method").to_string();
    assert_eq!(introspect_basic(fresh).await.unwrap().status(), 200);
    assert_eq!(introspect_jwt("put-2").await.unwrap().status(), 401, "keys no longer authenticate");
}

/// [PJ-1] RFC 7591 §2: `jwks` and `jwks_uri` together are `invalid_client_metadata` (at registration and PUT).
#[actix_web::test]
async fn pj_1_registration_refuses_jwks_with_jwks_uri() {
    let app = TestApp::spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.open = true;
    })
    .await;
    let k = client_key(Alg::Es256);
    let jwks: Value = serde_json::from_str(&k.jwks).unwrap();
    let both = json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
        "jwks_uri": "https://rp.example/jwks"});
    let r = app.http.post(app.url("/register")).json(&both).send().await.unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_client_metadata".into()));
    let mut one = both.clone();
    one.as_object_mut().unwrap().remove("jwks_uri");
    let r = app.http.post(app.url("/register")).json(&one).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    let id = reg["client_id"].as_str().unwrap();
    let mut put = both.clone();
    put["client_id"] = id.into();
    let r = app
        .http
        .put(app.url(&format!("/register/{id}")))
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(&put)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_client_metadata".into()), "PUT");
}

#[actix_web::test]
async fn pj_1_dynamic_registration_takes_inline_keys_only() {
    let app = TestApp::spawn_with(|s| {
        s.registration.enabled = true;
        s.registration.open = true;
    })
    .await;
    let k = client_key(Alg::Es256);
    let jwks: Value = serde_json::from_str(&k.jwks).unwrap();
    let base = json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt"});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let mut private = jwks.clone();
    private["keys"][0]["d"] = json!("AAAA");
    for bad in [
        with(json!({})),
        with(json!({"jwks_uri": "https://rp.example/jwks"})),
        with(json!({"jwks": private})),
        with(json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})),
        json!({"redirect_uris": ["https://rp.example/cb"], "jwks": jwks}),
    ] {
        let r = app.http.post(app.url("/register")).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata", "{bad}");
    }
    let r = app.http.post(app.url("/register")).json(&with(json!({"jwks": jwks}))).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    assert!(reg.get("client_secret").is_none(), "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "private_key_jwt");
    let id = reg["client_id"].as_str().unwrap();
    // It authenticates at introspection with its key (and only with it).
    let a = k.assertion(id, &app.base, now(&app), 60, "i1");
    let form = [("token", "nothing"), ("client_assertion_type", JWT_BEARER), ("client_assertion", &a)];
    let r = app.http.post(app.url("/introspect")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], false);
}

#[actix_web::test]
async fn pj_1_a_key_rotated_in_the_config_replaces_the_old_one_at_the_next_start() {
    let (old, new) = (client_key(Alg::Es256), client_key(Alg::EdDsa));
    let db = common::test_db();
    let shared = db.share();
    let with = |k: &ClientKey| {
        let jwks = k.jwks.clone();
        move |s: &mut bridgekeeper::settings::Settings| {
            s.issuer = "http://bridgekeeper.test".into();
            s.clients = vec![ClientBuilder::private_key_jwt("svc", &jwks).grants(&["client_credentials"]).build()];
        }
    };
    let a = TestApp::spawn_on(db, with(&old)).await;
    let aud = "http://bridgekeeper.test";
    assert_eq!(cc(&a, &old.assertion("svc", aud, now(&a), 60, "a1"), &[]).await.status(), 200);
    a.stop().await;
    let b = TestApp::spawn_on(shared, with(&new)).await;
    assert_eq!(cc(&b, &new.assertion("svc", aud, now(&b), 60, "b1"), &[]).await.status(), 200);
    let r = cc(&b, &old.assertion("svc", aud, now(&b), 60, "b2"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()), "the old key is gone");
}

#[actix_web::test]
async fn pj_1_an_admin_registers_a_private_key_jwt_client_with_inline_keys() {
    let k = client_key(Alg::Es256);
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let create = |body: Value| app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&body).send();
    let jwks: Value = serde_json::from_str(&k.jwks).unwrap();
    let base = json!({"client_id": "batch", "name": "Batch", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt"});
    assert_eq!(create(base.clone()).await.unwrap().status(), 400, "private_key_jwt needs jwks");
    let mut good = base.clone();
    good["jwks"] = jwks;
    let r = create(good).await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert!(created["client_secret"].is_null(), "no secret: {created}");
    assert_eq!(created["client"]["client_type"], "confidential");
    let r = cc(&app, &k.assertion("batch", &app.base, now(&app), 60, "adm-1"), &[]).await;
    assert_eq!(r.status(), 200);
    let r =
        app.http.post(app.url("/token")).basic_auth("batch", Some("")).form(&[("grant_type", "client_credentials")]);
    assert_eq!(json_error(r.send().await.unwrap()).await, (401, "invalid_client".into()));
}

/// A tiny server holding a client's JWK Set at `/jwks`, replaceable while it runs; counts the fetches.
struct JwksServer {
    uri: String,
    set: std::sync::Arc<std::sync::Mutex<(String, usize)>>,
}

impl JwksServer {
    async fn start(jwks: &str) -> JwksServer {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let set = std::sync::Arc::new(std::sync::Mutex::new((jwks.to_string(), 0usize)));
        let shared = set.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}/jwks", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let s = shared.clone();
            App::new().route(
                "/jwks",
                web::get().to(move || {
                    let s = s.clone();
                    async move {
                        let mut g = s.lock().unwrap();
                        g.1 += 1;
                        HttpResponse::Ok().content_type("application/json").body(g.0.clone())
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        JwksServer { uri, set }
    }

    fn replace(&self, jwks: &str) {
        self.set.lock().unwrap().0 = jwks.to_string();
    }

    fn fetches(&self) -> usize {
        self.set.lock().unwrap().1
    }
}

/// An admin API token (a config client with the `admin` scope, synced into the running app).
async fn admin_token(app: &TestApp) -> String {
    let mut settings = (*app.state.settings()).clone();
    settings.clients = vec![
        ClientBuilder::confidential("ops", "admin-secret-for-tests")
            .scopes(&["admin"])
            .grants(&["client_credentials"])
            .build(),
    ];
    bridgekeeper::accounts::clients::sync_static(&app.state.db, &settings, &[], 0).await.unwrap();
    let r = token(app, ("ops", "admin-secret-for-tests"), &[("grant_type", "client_credentials"), ("scope", "admin")])
        .await;
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

/// Registers `remote` (private_key_jwt, keys at `jwks_uri`) through the admin API.
async fn register_remote(app: &TestApp, jwks_uri: &str) {
    let admin = admin_token(app).await;
    let body = json!({"client_id": "remote", "name": "Remote", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri});
    let r = app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

#[actix_web::test]
async fn pj_7_an_admin_registered_jwks_uri_is_fetched_cached_and_refetched_for_a_rotated_key() {
    let (k1, k2) = (client_key(Alg::Es256), client_key(Alg::Es256));
    let keys = JwksServer::start(&k1.jwks).await;
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let create = |uri: &str| {
        let body = json!({"client_id": "remote", "name": "Remote", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri});
        app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&body).send()
    };
    assert_eq!(create("http://keys.example/jwks").await.unwrap().status(), 400, "http only on loopback");
    assert_eq!(create("https://user:pw@keys.example/jwks").await.unwrap().status(), 400, "no user information");
    assert_eq!(create(&keys.uri).await.unwrap().status(), 201);
    let url = app.base.clone();
    assert_eq!(cc(&app, &k1.assertion("remote", &url, now(&app), 60, "r1"), &[]).await.status(), 200);
    assert_eq!(cc(&app, &k1.assertion("remote", &url, now(&app), 60, "r2"), &[]).await.status(), 200);
    assert_eq!(keys.fetches(), 1, "cached");
    // The client rotates its key: within 30 s of the last fetch the new key is not believed (no refetch storm) …
    keys.replace(&k2.jwks);
    let r = cc(&app, &k2.assertion("remote", &url, now(&app), 60, "r3"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()));
    assert_eq!(keys.fetches(), 1);
    // … after that an unknown key makes the broker fetch again, once.
    app.clock.advance(31);
    assert_eq!(cc(&app, &k2.assertion("remote", &url, now(&app), 60, "r4"), &[]).await.status(), 200);
    assert_eq!(keys.fetches(), 2);
    let r = cc(&app, &k1.assertion("remote", &url, now(&app), 60, "r5"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()), "the old key is gone");
}

/// [PJ-7] Only an assertion whose `kid` the cached keys do not hold makes the broker fetch the `jwks_uri` again
/// (garbage, a MAC, a known key's bad signature never do); a failed fetch is remembered like a good one (no
/// refetch for 30 s), and concurrent requests share one fetch.
#[actix_web::test]
async fn pj_7_only_an_unknown_kid_refetches_and_failures_are_cached() {
    let (k1, k2) = (client_key(Alg::Es256), client_key(Alg::Es256));
    let keys = JwksServer::start(&k1.jwks).await;
    let app = TestApp::spawn().await;
    register_remote(&app, &keys.uri).await;
    let iss = app.base.clone();
    assert_eq!(cc(&app, &k1.assertion("remote", &iss, now(&app), 60, "u1"), &[]).await.status(), 200);
    assert_eq!(keys.fetches(), 1);
    app.clock.advance(31);
    let claims = json!({"iss": "remote", "sub": "remote", "aud": iss, "exp": now(&app) + 60, "jti": "h"});
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    // Another key's signature under k1's kid: a known key whose signature does not verify.
    let mut forged = SigningKey::from_row(&generate(Alg::Es256, 0, KeyState::Next).unwrap()).unwrap();
    forged.kid = k1.key.kid.clone();
    let forged = bridgekeeper::tokens::jws::sign(&forged, "JWT", &claims).unwrap();
    for bad in ["garbage", "a.b.c", hs.as_str(), forged.as_str()] {
        assert_eq!(json_error(cc(&app, bad, &[("client_id", "remote")]).await).await, (401, "invalid_client".into()));
    }
    assert_eq!(keys.fetches(), 1, "no refetch for an assertion that names no unknown key");
    // The jwks_uri now fails; ten concurrent assertions with an unknown kid share one fetch …
    keys.replace("not a key set");
    let mut tasks = Vec::new();
    for i in 0..10 {
        let a = k2.assertion("remote", &iss, now(&app), 60, &format!("c{i}"));
        let (http, url) = (app.http.clone(), app.url("/token"));
        tasks.push(tokio::spawn(async move {
            let form =
                [("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", &a)];
            http.post(url).form(&form).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert!(keys.fetches() <= 2, "{} fetches", keys.fetches());
    let after_burst = keys.fetches();
    // … and the failure is remembered: no fetch for 30 s.
    app.clock.advance(10);
    let r = cc(&app, &k2.assertion("remote", &iss, now(&app), 60, "c-late"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()));
    assert_eq!(keys.fetches(), after_burst, "a failed fetch is cached too");
    keys.replace(&k2.jwks);
    app.clock.advance(21);
    assert_eq!(cc(&app, &k2.assertion("remote", &iss, now(&app), 60, "c-ok"), &[]).await.status(), 200);
    assert_eq!(keys.fetches(), after_burst + 1);
}

/// `batch`, a private_key_jwt client_credentials client with `k`'s keys, registered through the admin API.
async fn register_batch(app: &TestApp, admin: &str, k: &ClientKey) {
    let body = json!({"client_id": "batch", "name": "Batch", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": serde_json::from_str::<Value>(&k.jwks).unwrap()});
    let r = app.http.post(app.url("/admin/api/clients")).bearer_auth(admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

async fn patch_client(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
    app.http.patch(app.url(&format!("/admin/api/clients/{id}"))).bearer_auth(admin).json(&body).send().await.unwrap()
}

async fn show_client(app: &TestApp, admin: &str, id: &str) -> Value {
    let r = app.http.get(app.url(&format!("/admin/api/clients/{id}"))).bearer_auth(admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn kid(jwks: &str) -> Value {
    serde_json::from_str::<Value>(jwks).unwrap()["keys"][0]["kid"].clone()
}

#[actix_web::test]
async fn pj_1_an_admin_replaces_a_clients_keys_and_the_old_key_stops_working() {
    let (a, b, c) = (client_key(Alg::Es256), client_key(Alg::EdDsa), client_key(Alg::Rs256));
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    register_batch(&app, &admin, &a).await;
    assert_eq!(show_client(&app, &admin, "batch").await["jwks"]["keys"][0]["kid"], kid(&a.jwks), "GET shows the keys");
    assert_eq!(cc(&app, &a.assertion("batch", &app.base, now(&app), 60, "r-1"), &[]).await.status(), 200);

    let r = patch_client(&app, &admin, "batch", json!({"jwks": serde_json::from_str::<Value>(&b.jwks).unwrap()})).await;
    assert_eq!(r.status(), 200);
    let r = cc(&app, &a.assertion("batch", &app.base, now(&app), 60, "r-2"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()), "the replaced key is refused at once");
    assert_eq!(cc(&app, &b.assertion("batch", &app.base, now(&app), 60, "r-3"), &[]).await.status(), 200);

    let remote = JwksServer::start(&c.jwks).await;
    assert_eq!(patch_client(&app, &admin, "batch", json!({"jwks_uri": remote.uri})).await.status(), 200);
    let shown = show_client(&app, &admin, "batch").await;
    assert_eq!((shown["jwks"].clone(), shown["jwks_uri"].clone()), (Value::Null, json!(remote.uri)), "{shown}");
    let r = cc(&app, &b.assertion("batch", &app.base, now(&app), 60, "r-4"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()), "inline keys went with the jwks_uri");
    assert_eq!(cc(&app, &c.assertion("batch", &app.base, now(&app), 60, "r-5"), &[]).await.status(), 200);
}

#[actix_web::test]
async fn pj_1_a_patch_with_unusable_keys_or_keys_for_a_secret_client_changes_nothing() {
    let a = client_key(Alg::Es256);
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    register_batch(&app, &admin, &a).await;
    for bad in [json!({"jwks": {"keys": "no"}}), json!({"jwks": null}), json!({"jwks": {"keys": []}})] {
        let r = patch_client(&app, &admin, "batch", bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = patch_client(&app, &admin, "batch", json!({"jwks_uri": "http://example.com/keys"})).await;
    assert_eq!(r.status(), 400, "http only on loopback");
    assert_eq!(cc(&app, &a.assertion("batch", &app.base, now(&app), 60, "u-1"), &[]).await.status(), 200);
    let keys = serde_json::from_str::<Value>(&a.jwks).unwrap();
    let r =
        patch_client(&app, &admin, "batch", json!({"jwks": keys.clone(), "jwks_uri": "http://127.0.0.1:9/k"})).await;
    assert_eq!(r.status(), 400, "jwks and jwks_uri are exclusive");
    let body = json!({"client_id": "sec", "name": "Sec", "grant_types": ["client_credentials"]});
    let r = app.http.post(app.url("/admin/api/clients")).bearer_auth(&admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = patch_client(&app, &admin, "sec", json!({"jwks": keys})).await;
    assert_eq!(r.status(), 400, "a secret client registers no keys");
    let r = patch_client(&app, &admin, "sec", json!({"jwks_uri": "http://127.0.0.1:9/k"})).await;
    assert_eq!(r.status(), 400, "nor a jwks_uri");
    let shown = show_client(&app, &admin, "sec").await;
    assert!(shown["jwks"].is_null() && shown["jwks_uri"].is_null(), "{shown}");
    assert_eq!(cc(&app, &a.assertion("batch", &app.base, now(&app), 60, "u-2"), &[]).await.status(), 200);
}

/// A config client's keys (and PAR requirement) follow the file: a PATCH would be undone at the next start or
/// reload, reviving the replaced key, so it is refused.
#[actix_web::test]
async fn pj_1_the_keys_of_a_config_client_are_not_patched() {
    let (a, b) = (client_key(Alg::Es256), client_key(Alg::Es256));
    let app = spawn(&[("svc", &a)]).await;
    let admin = admin_token(&app).await;
    let keys = serde_json::from_str::<Value>(&b.jwks).unwrap();
    for body in [json!({"jwks": keys}), json!({"require_pushed_authorization_requests": true})] {
        let r = patch_client(&app, &admin, "svc", body.clone()).await;
        assert_eq!(r.status(), 409, "{body}");
    }
    assert_eq!(cc(&app, &a.assertion("svc", &app.base, now(&app), 60, "c-1"), &[]).await.status(), 200);
    assert_eq!(show_client(&app, &admin, "svc").await["require_pushed_authorization_requests"], false);
}

/// [PAR-5] An admin sets and clears the PAR requirement of an API client; GET shows it.
#[actix_web::test]
async fn par_5_an_admin_patches_the_par_requirement() {
    let a = client_key(Alg::Es256);
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    register_batch(&app, &admin, &a).await;
    assert_eq!(show_client(&app, &admin, "batch").await["require_pushed_authorization_requests"], false);
    let r = patch_client(&app, &admin, "batch", json!({"require_pushed_authorization_requests": true})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(show_client(&app, &admin, "batch").await["require_pushed_authorization_requests"], true);
    let c = bridgekeeper::store::clients::find(&mut app.state.db.conn().unwrap(), "batch").unwrap().unwrap();
    assert!(c.requires_par());
    let r = patch_client(&app, &admin, "batch", json!({"require_pushed_authorization_requests": false})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(show_client(&app, &admin, "batch").await["require_pushed_authorization_requests"], false);
}

/// [PJ-7] Keys fetched from a jwks_uri before a change of the client are not used after it: switched to inline
/// keys and back to the same URI, the client's keys are fetched again (the replaced key is not revived).
#[actix_web::test]
async fn pj_7_a_changed_client_does_not_reuse_keys_fetched_before_the_change() {
    let (a, b, c) = (client_key(Alg::Es256), client_key(Alg::Es256), client_key(Alg::Es256));
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let remote = JwksServer::start(&a.jwks).await;
    register_remote(&app, &remote.uri).await;
    assert_eq!(cc(&app, &a.assertion("remote", &app.base, now(&app), 60, "v-1"), &[]).await.status(), 200);
    let inline = serde_json::from_str::<Value>(&b.jwks).unwrap();
    assert_eq!(patch_client(&app, &admin, "remote", json!({"jwks": inline})).await.status(), 200);
    remote.replace(&c.jwks);
    app.clock.advance(1);
    assert_eq!(patch_client(&app, &admin, "remote", json!({"jwks_uri": remote.uri})).await.status(), 200);
    let r = cc(&app, &a.assertion("remote", &app.base, now(&app), 60, "v-2"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()), "the key fetched before the change is gone");
    assert_eq!(cc(&app, &c.assertion("remote", &app.base, now(&app), 60, "v-3"), &[]).await.status(), 200);
}

/// An RSA key registered for PS256, signing with aws-lc-rs (the broker's own keys sign only RS256).
struct PssKey {
    key: aws_lc_rs::signature::RsaKeyPair,
    kid: Value,
    jwks: String,
}

fn pss_key() -> PssKey {
    use base64::Engine;
    let row = generate(Alg::Rs256, 0, KeyState::Next).unwrap();
    let mut jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
    jwk["alg"] = "PS256".into();
    let der = base64::engine::general_purpose::STANDARD.decode(&row.private_der).unwrap();
    let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    PssKey { key, kid: jwk["kid"].clone(), jwks: json!({ "keys": [jwk] }).to_string() }
}

impl PssKey {
    /// An RSASSA-PSS signed assertion whose header says `alg`.
    fn assertion(&self, alg: &str, client: &str, aud: &str, now: i64, jti: &str) -> String {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = json!({"alg": alg, "typ": "JWT", "kid": self.kid});
        let claims = json!({"iss": client, "sub": client, "aud": aud, "iat": now, "exp": now + 60, "jti": jti});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let mut sig = vec![0; self.key.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key.sign(&aws_lc_rs::signature::RSA_PSS_SHA256, &rng, input.as_bytes(), &mut sig).unwrap();
        format!("{input}.{}", b64(&sig))
    }
}

#[actix_web::test]
async fn pj_5_a_ps256_assertion_verifies_and_its_key_signs_nothing_else() {
    let k = pss_key();
    let app = TestApp::spawn_with(|s| {
        s.clients = vec![ClientBuilder::private_key_jwt("pss", &k.jwks).grants(&["client_credentials"]).build()];
    })
    .await;
    let r = cc(&app, &k.assertion("PS256", "pss", &app.base, now(&app), "pss-1"), &[]).await;
    assert_eq!(r.status(), 200, "PS256 is accepted end to end");
    let r = cc(&app, &k.assertion("RS256", "pss", &app.base, now(&app), "pss-2"), &[]).await;
    assert_eq!(json_error(r).await, (401, "invalid_client".into()), "the key is registered for PS256 only");
}
