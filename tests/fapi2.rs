//! The FAPI 2.0 Security Profile per client (`profile = "fapi2"`), security.md [FA-1]..[FA-5]: what a fapi2 client
//! must be wherever it is defined, and what its requests must be.

mod common;

use bridgekeeper::store::keys::KeyState;
use bridgekeeper::tokens::keys::{Alg, SigningKey, generate};
use common::TestApp;
use common::clients::ClientBuilder;
use common::dpop::*;
use common::oauth::*;
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const IAT: &str = "initial-access-token-for-fapi2-tests";
const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A client's private_key_jwt key pair and the JWK Set it registers.
struct ClientKey {
    key: SigningKey,
    jwks: String,
}

fn client_key() -> ClientKey {
    client_key_of(Alg::Es256)
}

fn client_key_of(alg: Alg) -> ClientKey {
    let row = generate(alg, 0, KeyState::Next).unwrap();
    let jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
    ClientKey { key: SigningKey::from_row(&row).unwrap(), jwks: json!({ "keys": [jwk] }).to_string() }
}

impl ClientKey {
    /// A fresh assertion (its own `jti`) for `client` at the issuer.
    fn assertion(&self, app: &TestApp, client: &str) -> String {
        let now = app.clock.now();
        let jti = bridgekeeper::secret::random_token_bytes(12);
        let claims = json!({"iss": client, "sub": client, "aud": app.base, "iat": now, "exp": now + 60, "jti": jti});
        bridgekeeper::tokens::jws::sign(&self.key, "JWT", &claims).unwrap()
    }

    fn jwks_value(&self) -> Value {
        serde_json::from_str(&self.jwks).unwrap()
    }
}

/// Two fapi2 config clients, `fapi` and `fapi-b`, and dynamic registration.
async fn spawn(k: &ClientKey) -> TestApp {
    let fapi = |id: &str| {
        ClientBuilder::private_key_jwt(id, &k.jwks).redirect(RP).scopes(&SCOPES).skip_consent().profile("fapi2").build()
    };
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.clients = vec![fapi("fapi"), fapi("fapi-b")];
        s.tokens.signing_alg = "ES256".into();
        s.registration.enabled = true;
        s.registration.initial_access_token = bridgekeeper::secret::Secret::new(IAT);
    })
    .await
}

/// `auth_query` for `fapi` with PKCE S256, changed by `extra` (an empty value removes a parameter).
fn fapi_query(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut q = auth_query(&[("client_id", "fapi"), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]);
    for (k, v) in extra {
        q.retain(|(kk, _)| kk != k);
        if !v.is_empty() {
            q.push((k.to_string(), v.to_string()));
        }
    }
    q
}

/// POST `path` as `client` (private_key_jwt) with `form` and an optional DPoP proof.
async fn post_as(
    app: &TestApp,
    k: &ClientKey,
    client: &str,
    path: &str,
    mut form: Vec<(String, String)>,
    dpop: Option<&DpopKey>,
) -> reqwest::Response {
    form.push(("client_assertion_type".into(), JWT_BEARER.into()));
    form.push(("client_assertion".into(), k.assertion(app, client)));
    let mut r = app.http.post(app.url(path)).form(&form);
    if let Some(d) = dpop {
        r = r.header("DPoP", d.proof(app, "POST", path, json!({})));
    }
    r.send().await.unwrap()
}

fn owned(form: &[(&str, &str)]) -> Vec<(String, String)> {
    form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Pushes `fapi_query(extra)` (with a proof of `dpop`, if given), runs the authorization and returns the code.
async fn code_via_par(app: &TestApp, k: &ClientKey, dpop: Option<&DpopKey>) -> String {
    let r = post_as(app, k, "fapi", "/par", fapi_query(&[]), dpop).await;
    assert_eq!(r.status(), 201);
    let uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_string();
    let r = app.http.get(app.url("/authorize")).query(&[("client_id", "fapi"), ("request_uri", &uri)]).send();
    let loc = complete(app, r.await.unwrap(), "ada@example.com").await;
    param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"))
}

fn redeem_form(code: &str) -> Vec<(String, String)> {
    owned(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", RP), ("code_verifier", VERIFIER)])
}

async fn text(r: reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.unwrap())
}

fn toml_client(extra: &str) -> String {
    let tokens = "[tokens]\nsigning_alg = \"ES256\"\n";
    format!("{tokens}[[clients]]\nclient_id = \"f\"\nredirect_uris = [\"{RP}\"]\nprofile = \"fapi2\"\n{extra}\n")
}

fn load(toml: &str) -> Result<bridgekeeper::settings::Settings, String> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bk.toml");
    std::fs::write(&f, toml).unwrap();
    bridgekeeper::settings::Settings::load_with_env(Some(&f), &[]).map_err(|e| e.to_string())
}

#[test]
fn fa_1_a_config_client_that_misses_the_profile_is_refused_at_start() {
    let k = client_key();
    let keys = format!("token_endpoint_auth_method = \"private_key_jwt\"\njwks = '{}'", k.jwks);
    assert!(load(&toml_client(&keys)).is_ok(), "{:?}", load(&toml_client(&keys)).err());
    for (extra, why) in [
        ("client_secret = \"s\"".to_string(), "token_endpoint_auth_method must be private_key_jwt"),
        ("client_secret = \"s\"\ntoken_endpoint_auth_method = \"client_secret_post\"".into(), "client_secret_post"),
        ("".into(), "token_endpoint_auth_method must be private_key_jwt, not `none`"),
        (format!("{keys}\ngrant_types = [\"authorization_code\", \"client_credentials\"]"), "client_credentials"),
        (format!("{keys}\ngrant_types = [\"refresh_token\"]"), "needs the authorization_code grant"),
        (format!("{keys}\n[par]\nenabled = false"), "needs par.enabled"),
        (format!("{keys}\n[dpop]\nenabled = false"), "needs dpop.enabled"),
    ] {
        let err = load(&toml_client(&extra)).unwrap_err();
        assert!(err.contains("clients[0].profile") && err.contains(why), "{extra}: {err}");
    }
    let err = load(&toml_client(&keys).replace("\"ES256\"", "\"RS256\"")).unwrap_err();
    assert!(err.contains("clients[0].profile") && err.contains("signed with RS256"), "{err}");
    let err = load(&toml_client(&keys).replace("\"fapi2\"", "\"fapi3\"")).unwrap_err();
    assert!(err.contains("profile `fapi3` is unknown"), "{err}");
}

/// An admin API POST of a client with `body`.
async fn admin_create(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/admin/api/clients")).bearer_auth(admin).json(&body).send().await.unwrap()
}

async fn admin_patch(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
    let url = app.url(&format!("/admin/api/clients/{id}"));
    app.http.patch(url).bearer_auth(admin).json(&body).send().await.unwrap()
}

#[actix_web::test]
async fn fa_1_the_admin_api_refuses_a_client_that_misses_the_profile() {
    let k = client_key();
    let app = spawn(&k).await;
    let admin = admin_api_token(&app).await;
    let good = json!({"client_id": "api-fapi", "name": "FAPI", "redirect_uris": [RP], "profile": "fapi2",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": k.jwks_value()});
    let with = |member: &str, v: Value| {
        let mut b = good.clone();
        b[member] = v;
        b
    };
    for (body, why) in [
        (with("token_endpoint_auth_method", json!("client_secret_basic")), "must be private_key_jwt"),
        (with("grant_types", json!(["authorization_code", "client_credentials"])), "client_credentials"),
        (with("profile", json!("fapi-2")), "profile `fapi-2` is unknown"),
    ] {
        let (status, text) = text(admin_create(&app, &admin, body.clone()).await).await;
        assert_eq!(status, 400, "{body}");
        assert!(text.contains(why), "{text}");
    }
    let r = admin_create(&app, &admin, good).await;
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["client_secret"], Value::Null);
    let c = &c["client"];
    assert_eq!((c["profile"].as_str(), c["require_pkce"].as_bool()), (Some("fapi2"), Some(true)));
    assert_eq!(c["require_pushed_authorization_requests"], true);
    assert_eq!(c["dpop_bound_access_tokens"], true);
}

#[actix_web::test]
async fn fa_1_an_admin_cannot_patch_a_fapi2_client_into_something_weaker() {
    let k = client_key();
    let app = spawn(&k).await;
    let admin = admin_api_token(&app).await;
    let body = json!({"client_id": "api-fapi", "name": "FAPI", "redirect_uris": [RP], "profile": "fapi2",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": k.jwks_value()});
    assert_eq!(admin_create(&app, &admin, body).await.status(), 201);
    for (patch, why) in [
        (json!({"profile": ""}), "cannot be removed"),
        (json!({"require_pushed_authorization_requests": false}), "must push"),
        (json!({"dpop_bound_access_tokens": false}), "DPoP-bound"),
        (json!({"token_endpoint_auth_method": "client_secret_basic"}), "must be private_key_jwt"),
        (json!({"grant_types": ["authorization_code", "client_credentials"]}), "client_credentials"),
        (json!({"grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"]}), "grant"),
    ] {
        let (status, text) = text(admin_patch(&app, &admin, "api-fapi", patch.clone()).await).await;
        assert_eq!(status, 400, "{patch}");
        assert!(text.contains("fapi2 profile") && text.contains(why), "{patch}: {text}");
    }
    let c = bridgekeeper::accounts::clients::get(&app.state.db, "api-fapi").await.unwrap();
    assert_eq!(c.profile(), bridgekeeper_core::client_profile::Profile::Fapi2, "unchanged");
    assert_eq!((c.token_endpoint_auth_method.as_str(), c.grant_types.len()), ("private_key_jwt", 2));
    let r = admin_patch(&app, &admin, "api-fapi", json!({"name": "FAPI 2"})).await;
    assert_eq!(r.status(), 200, "another change is fine");
    assert_eq!(r.json::<Value>().await.unwrap()["profile"], "fapi2");
    let r = admin_patch(&app, &admin, "fapi", json!({"profile": "fapi2"})).await;
    assert_eq!(r.status(), 409, "a config client's profile follows the file");
}

async fn register(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http.post(app.url("/register")).bearer_auth(IAT).json(body).send().await.unwrap()
}

#[actix_web::test]
async fn fa_1_dynamic_registration_and_its_put_keep_the_profile() {
    let k = client_key();
    let app = spawn(&k).await;
    let good = json!({"redirect_uris": [RP], "client_name": "Registered FAPI", "profile": "fapi2",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": k.jwks_value(),
        "grant_types": ["authorization_code", "refresh_token"]});
    let with = |member: &str, v: Value| {
        let mut b = good.clone();
        b[member] = v;
        b
    };
    for (body, why) in [
        (with("token_endpoint_auth_method", json!("client_secret_basic")), "must be private_key_jwt"),
        (with("grant_types", json!(["authorization_code", "client_credentials"])), "client_credentials"),
        (with("profile", json!("fapi1")), "unknown"),
    ] {
        let r = register(&app, &body).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_client_metadata");
        assert!(e["error_description"].as_str().unwrap().contains(why), "{e}");
    }
    let r = register(&app, &good).await;
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().await.unwrap();
    assert_eq!(reg["profile"], "fapi2");
    assert!(reg.get("client_secret").is_none());
    let (id, rat) = (reg["client_id"].as_str().unwrap(), reg["registration_access_token"].as_str().unwrap());
    let put = |body: Value| {
        let mut b = body;
        b["client_id"] = json!(id);
        app.http.put(app.url(&format!("/register/{id}"))).bearer_auth(rat).json(&b).send()
    };
    let mut no_profile = good.clone();
    no_profile.as_object_mut().unwrap().remove("profile");
    for body in [
        no_profile,
        with("dpop_bound_access_tokens", json!(false)),
        with("require_pushed_authorization_requests", json!(false)),
        with("token_endpoint_auth_method", json!("client_secret_basic")),
    ] {
        let r = put(body.clone()).await.unwrap();
        assert_eq!(error_of(r).await, (400, "invalid_client_metadata".into()), "{body}");
    }
    let r = put(with("client_name", json!("Renamed"))).await.unwrap();
    assert_eq!(r.status(), 200);
    let stored = bridgekeeper::accounts::clients::get(&app.state.db, id).await.unwrap();
    assert_eq!((stored.profile().as_str(), stored.name.as_str()), (Some("fapi2"), "Renamed"));
    assert!(stored.secret_hash.is_none());
}

#[actix_web::test]
async fn fa_2_a_plain_authorization_request_is_refused() {
    let k = client_key();
    let app = spawn(&k).await;
    let r = authorize(&app, &fapi_query(&[])).await;
    let loc = location(&r);
    assert!(loc.starts_with(RP), "{loc}");
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"), "{loc}");
    assert!(param(&loc, "code").is_none());
}

#[actix_web::test]
async fn fa_2_a_push_without_pkce_or_with_plain_pkce_or_another_response_type_is_refused() {
    let k = client_key();
    let app = spawn(&k).await;
    for (extra, want) in [
        (vec![("code_challenge", ""), ("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("response_type", "code id_token")], "unsupported_response_type"),
    ] {
        let r = post_as(&app, &k, "fapi", "/par", fapi_query(&extra), None).await;
        assert_eq!(error_of(r).await, (400, want.into()), "{extra:?}");
    }
    let r = post_as(&app, &k, "fapi", "/par", fapi_query(&[]), None).await;
    assert_eq!(r.status(), 201, "with S256 PKCE");
}

#[actix_web::test]
async fn fa_3_a_token_request_without_a_dpop_proof_is_refused() {
    let k = client_key();
    let app = spawn(&k).await;
    // Pushed without a proof: the code is not bound to a key, yet the client must send one.
    let code = code_via_par(&app, &k, None).await;
    let r = post_as(&app, &k, "fapi", "/token", redeem_form(&code), None).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()));
    let dk = dpop_key(Alg::Es256);
    let r = post_as(&app, &k, "fapi", "/token", redeem_form(&code), Some(&dk)).await;
    assert_eq!(r.status(), 200, "the refused request spent nothing");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    // A secret is no way in (there is none).
    let r = app.http.post(app.url("/token")).basic_auth("fapi", Some("guess")).form(&redeem_form(&code)).send();
    assert_eq!(error_of(r.await.unwrap()).await, (401, "invalid_client".into()));
}

#[actix_web::test]
async fn fa_4_a_fapi2_code_lives_at_most_sixty_seconds() {
    let k = client_key();
    let app = spawn(&k).await;
    let dk = dpop_key(Alg::Es256);
    let code = code_via_par(&app, &k, Some(&dk)).await;
    app.clock.advance(61);
    let r = post_as(&app, &k, "fapi", "/token", redeem_form(&code), Some(&dk)).await;
    assert_eq!(error_of(r).await, (400, "invalid_grant".into()));
    // The boundary: a code 59 s old is still good.
    let code = code_via_par(&app, &k, Some(&dk)).await;
    app.clock.advance(59);
    let r = post_as(&app, &k, "fapi", "/token", redeem_form(&code), Some(&dk)).await;
    assert_eq!(r.status(), 200);
}

#[actix_web::test]
async fn fa_5_the_refresh_token_is_not_rotated_and_stays_bound_to_the_client_and_its_key() {
    let k = client_key();
    let app = spawn(&k).await;
    let dk = dpop_key(Alg::Es256);
    let code = code_via_par(&app, &k, Some(&dk)).await;
    let t: Value = post_as(&app, &k, "fapi", "/token", redeem_form(&code), Some(&dk)).await.json().await.unwrap();
    let rt = t["refresh_token"].as_str().expect("a refresh token").to_string();
    let refresh = owned(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
    for _ in 0..3 {
        let r = post_as(&app, &k, "fapi", "/token", refresh.clone(), Some(&dk)).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP");
        assert!(body.get("refresh_token").is_none(), "no successor: {body}");
        let at = body["access_token"].as_str().unwrap();
        let proof = dk.proof(&app, "GET", "/userinfo", json!({"ath": ath(at)}));
        let r = app.http.get(app.url("/userinfo")).header("Authorization", format!("DPoP {at}")).header("DPoP", proof);
        assert_eq!(r.send().await.unwrap().status(), 200);
    }
    let other = dpop_key(Alg::Es256);
    let r = post_as(&app, &k, "fapi", "/token", refresh.clone(), Some(&other)).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "another key");
    let r = post_as(&app, &k, "fapi", "/token", refresh.clone(), None).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "no proof");
    let r = post_as(&app, &k, "fapi-b", "/token", refresh.clone(), Some(&dk)).await;
    assert_eq!(error_of(r).await, (400, "invalid_grant".into()), "another client");
    let r = post_as(&app, &k, "fapi", "/token", refresh, Some(&dk)).await;
    assert_eq!(r.status(), 200, "still valid after the refused attempts");
}

#[actix_web::test]
async fn fa_6_an_rs256_assertion_or_proof_of_a_fapi2_client_is_refused() {
    let k = client_key();
    let rsa = client_key_of(Alg::Rs256);
    let app = TestApp::spawn_with(|s| {
        s.dev_mode = true;
        s.tokens.signing_alg = "ES256".into();
        s.clients = vec![
            ClientBuilder::private_key_jwt("fapi", &k.jwks)
                .redirect(RP)
                .scopes(&SCOPES)
                .skip_consent()
                .profile("fapi2")
                .build(),
            ClientBuilder::private_key_jwt("fapi-rsa", &rsa.jwks).redirect(RP).profile("fapi2").build(),
            ClientBuilder::private_key_jwt("plain-rsa", &rsa.jwks).redirect(RP).build(),
        ];
    })
    .await;
    let r = post_as(&app, &rsa, "fapi-rsa", "/par", fapi_query(&[("client_id", "fapi-rsa")]), None).await;
    assert_eq!(error_of(r).await, (401, "invalid_client".into()), "an RS256 assertion of a fapi2 client");
    let q = auth_query(&[("client_id", "plain-rsa")]);
    assert_eq!(post_as(&app, &rsa, "plain-rsa", "/par", q, None).await.status(), 201, "RS256 for other clients");
    let rs = dpop_key(Alg::Rs256);
    let r = post_as(&app, &k, "fapi", "/par", fapi_query(&[]), Some(&rs)).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "an RS256 proof at /par");
    let code = code_via_par(&app, &k, None).await;
    let r = post_as(&app, &k, "fapi", "/token", redeem_form(&code), Some(&rs)).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "an RS256 proof at /token");
    let r = post_as(&app, &k, "fapi", "/token", redeem_form(&code), Some(&dpop_key(Alg::EdDsa))).await;
    assert_eq!(r.status(), 200, "EdDSA is allowed");
}

#[actix_web::test]
async fn fa_5_a_refresh_token_from_before_an_upgrade_to_fapi2_is_bound_on_first_use() {
    let k = client_key();
    let app = spawn(&k).await;
    let admin = admin_api_token(&app).await;
    let body = json!({"client_id": "late", "name": "Late", "redirect_uris": [RP], "skip_consent": true,
        "allowed_scopes": SCOPES, "token_endpoint_auth_method": "private_key_jwt", "jwks": k.jwks_value()});
    assert_eq!(admin_create(&app, &admin, body).await.status(), 201);
    // Before the upgrade: a code flow without DPoP gives an unbound refresh token.
    let r = authorize(&app, &fapi_query(&[("client_id", "late")])).await;
    let code = param(&complete(&app, r, "ada@example.com").await, "code").unwrap();
    let t: Value = post_as(&app, &k, "late", "/token", redeem_form(&code), None).await.json().await.unwrap();
    let rt0 = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(admin_patch(&app, &admin, "late", json!({"profile": "fapi2"})).await.status(), 200);
    let (k1, k2) = (dpop_key(Alg::Es256), dpop_key(Alg::Es256));
    let refresh = |rt: &str| owned(&[("grant_type", "refresh_token"), ("refresh_token", rt)]);
    let r = post_as(&app, &k, "late", "/token", refresh(&rt0), Some(&k1)).await;
    assert_eq!(r.status(), 200);
    let rt1 = r.json::<Value>().await.unwrap()["refresh_token"].as_str().expect("a bound successor").to_string();
    let r = post_as(&app, &k, "late", "/token", refresh(&rt0), Some(&k2)).await;
    assert_eq!(error_of(r).await, (400, "invalid_grant".into()), "the unbound token is spent");
    let r = post_as(&app, &k, "late", "/token", refresh(&rt1), Some(&k2)).await;
    assert_eq!(error_of(r).await, (400, "invalid_dpop_proof".into()), "the successor is bound to k1");
    let r = post_as(&app, &k, "late", "/token", refresh(&rt1), Some(&k1)).await;
    let body: Value = r.json().await.unwrap();
    assert!(body["access_token"].is_string() && body.get("refresh_token").is_none(), "then not rotated: {body}");
}

#[actix_web::test]
async fn fa_2_a_push_without_redirect_uri_is_refused() {
    let k = client_key();
    let app = spawn(&k).await;
    let r = post_as(&app, &k, "fapi", "/par", fapi_query(&[("redirect_uri", "")]), None).await;
    assert_eq!(error_of(r).await, (400, "invalid_request".into()), "FAPI 2.0 §5.3.2.2");
}

#[actix_web::test]
async fn fa_2_a_pending_plain_request_is_refused_after_the_client_must_push() {
    let k = client_key();
    let app = spawn(&k).await;
    let admin = admin_api_token(&app).await;
    let body = json!({"client_id": "late", "name": "Late", "redirect_uris": [RP], "skip_consent": true,
        "allowed_scopes": SCOPES, "token_endpoint_auth_method": "private_key_jwt", "jwks": k.jwks_value()});
    assert_eq!(admin_create(&app, &admin, body).await.status(), 201);
    // A plain request waits at sign-in; then the client becomes a fapi2 client.
    let r = authorize(&app, &fapi_query(&[("client_id", "late")])).await;
    assert!(r.status().is_redirection());
    assert_eq!(admin_patch(&app, &admin, "late", json!({"profile": "fapi2"})).await.status(), 200);
    // The browser goes on to sign in: no code comes back, the request is gone.
    let mut r = r;
    for _ in 0..6 {
        let loc = location(&r);
        assert!(loc.starts_with('/'), "no answer to the app for a plain request: {loc}");
        r = app.http.get(app.url(&loc)).send().await.unwrap();
        if !r.status().is_redirection() {
            break;
        }
    }
    let (status, page) = (r.status(), r.text().await.unwrap());
    if page.contains("name=\"csrf\"") {
        let form = [
            ("csrf", hidden(&page, "csrf")),
            ("email", "ada@example.com".to_string()),
            ("name", "Ada".into()),
            ("link", "false".into()),
            ("req", hidden(&page, "req")),
        ];
        let mut r = app.http.post(app.url(&attr(&page, "action"))).form(&form).send().await.unwrap();
        while r.status().is_redirection() {
            let loc = location(&r);
            assert!(loc.starts_with('/'), "no answer to the app: {loc}");
            r = app.http.get(app.url(&loc)).send().await.unwrap();
        }
    } else {
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("Sign-in expired"), "{page}");
    }
}
