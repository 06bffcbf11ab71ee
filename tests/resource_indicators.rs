//! Resource indicators (RFC 8707) and per-API settings (`[[apis]]`) as apps and APIs see them: `resource` at
//! `/authorize`, `/par` and `/token` sets the access token's audience, scopes and lifetime; every error path
//! (security.md [RI-1]..[RI-7]).

mod common;

use common::TestApp;
use common::clients::ClientBuilder;
use common::oauth::*;
use serde_json::Value;

const ORDERS: &str = "https://orders.example";
const BILLING: &str = "https://billing.example/api";
const OTHER_SECRET: &str = "other-secret";
const OTHER_RP: &str = "https://other.example/cb";

fn api(identifier: &str, scopes: &[&str], clients: &[&str], ttl: Option<i64>) -> bridgekeeper_core::resource::Api {
    bridgekeeper_core::resource::Api {
        identifier: identifier.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        access_token_ttl_secs: ttl,
        clients: clients.iter().map(|s| s.to_string()).collect(),
    }
}

/// `app` may ask for both APIs, `other` for orders only; `ops` (admin) for orders.
async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

async fn spawn_with(tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.dev_mode = true;
        for sc in ["orders.read", "orders.write", "billing.read"] {
            s.scopes.insert(sc.into(), format!("{sc} access"));
        }
        let scopes = ["openid", "profile", "email", "offline_access", "orders.read", "orders.write", "billing.read"];
        let grants = ["authorization_code", "refresh_token", "client_credentials"];
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET).redirect(RP).scopes(&scopes).grants(&grants).build(),
            ClientBuilder::confidential("other", OTHER_SECRET)
                .redirect(OTHER_RP)
                .scopes(&scopes)
                .grants(&grants)
                .build(),
            ClientBuilder::confidential("ops", "ops-secret").scopes(&["admin"]).grants(&["client_credentials"]).build(),
        ];
        s.apis = vec![
            api(ORDERS, &["orders.read", "orders.write"], &["app", "other", "ops"], Some(120)),
            api(BILLING, &["billing.read"], &["app"], None),
        ];
        tweak(s);
    })
    .await
}

/// The standard query of `app` with these scopes and one `resource` pair per entry of `resources`.
fn query(scope: &str, resources: &[&str]) -> Vec<(String, String)> {
    let mut q = auth_query(&[("scope", scope)]);
    q.extend(resources.iter().map(|r| ("resource".to_string(), r.to_string())));
    q
}

/// A code of `app` for these scopes and resources.
async fn code_for(app: &TestApp, scope: &str, resources: &[&str]) -> String {
    let loc = complete(app, authorize(app, &query(scope, resources)).await, "ada@example.com").await;
    assert!(loc.starts_with(RP), "{loc}");
    param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"))
}

async fn redeem(app: &TestApp, code: &str, resource: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", RP)];
    form.extend(resource.map(|r| ("resource", r)));
    token(app, ("app", SECRET), &form).await
}

async fn refresh(app: &TestApp, rt: &str, resource: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    form.extend(resource.map(|r| ("resource", r)));
    token(app, ("app", SECRET), &form).await
}

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn claims(app: &TestApp, body: &Value) -> Value {
    verify_jwt(app, body["access_token"].as_str().unwrap()).await.1
}

async fn introspect(app: &TestApp, at: &str) -> Value {
    let r = app.http.post(app.url("/introspect")).basic_auth("app", Some(enc(SECRET))).form(&[("token", at)]);
    r.send().await.unwrap().json().await.unwrap()
}

/// The error an authorization redirect carries, with its state and iss.
fn redirected_error(r: &reqwest::Response, app: &TestApp) -> String {
    assert_eq!(r.status(), 302, "a redirect to the app");
    let loc = location(r);
    assert!(loc.starts_with(RP), "{loc}");
    assert_eq!(param(&loc, "state").as_deref(), Some("st-1"));
    assert_eq!(param(&loc, "iss").as_deref(), Some(app.base.as_str()));
    param(&loc, "error").unwrap()
}

#[actix_web::test]
async fn ri_2_4_5_6_a_resource_sets_the_audience_the_apis_scopes_and_its_lifetime() {
    let app = spawn().await;
    let code = code_for(&app, "openid offline_access orders.read billing.read", &[ORDERS]).await;
    let body = ok_json(redeem(&app, &code, None).await).await;
    assert_eq!(body["scope"], "orders.read", "billing.read is not for orders, openid is the broker's: {body}");
    assert_eq!(body["expires_in"], 120, "the API's own lifetime");
    let c = claims(&app, &body).await;
    assert_eq!((c["aud"].as_str(), c["scope"].as_str()), (Some(ORDERS), Some("orders.read")));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);
    // The ID token is the app's, unaffected; the family can refresh.
    let id = verify_jwt(&app, body["id_token"].as_str().unwrap()).await.1;
    assert_eq!(id["aud"], "app");
    assert!(body["refresh_token"].is_string());
    // Introspection shows the audience.
    let at = body["access_token"].as_str().unwrap();
    let i = introspect(&app, at).await;
    assert_eq!((i["active"].as_bool(), i["aud"].as_str()), (Some(true), Some(ORDERS)), "{i}");
    // [RI-7] A token for an API is not for /userinfo.
    let r = userinfo(&app, at).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
}

#[actix_web::test]
async fn ri_4_5_without_a_resource_the_audience_stays_the_issuer_and_no_apis_scope_is_carried() {
    let app = spawn().await;
    let code = code_for(&app, "openid email orders.read", &[]).await;
    let body = ok_json(redeem(&app, &code, None).await).await;
    assert_eq!(body["scope"], "email openid", "{body}");
    assert_eq!(body["expires_in"], 600, "tokens.access_token_ttl_secs");
    let c = claims(&app, &body).await;
    assert_eq!(c["aud"].as_str(), Some(app.base.as_str()));
    let r = userinfo(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200, "the broker's own token still opens userinfo");
    // A client's own token without resource carries no API scope; asking one without its resource is refused.
    let cc = token(&app, ("app", SECRET), &[("grant_type", "client_credentials")]).await;
    let cc = ok_json(cc).await;
    assert_eq!(claims(&app, &cc).await["aud"].as_str(), Some(app.base.as_str()));
    assert!(!cc["scope"].as_str().unwrap_or("").contains("orders"), "{cc}");
    let r = token(&app, ("app", SECRET), &[("grant_type", "client_credentials"), ("scope", "orders.read")]).await;
    assert_eq!(json_error(r).await, (400, "invalid_scope".into()));
}

#[actix_web::test]
async fn ri_4_several_granted_resources_one_audience_per_token_and_the_family_keeps_them_all() {
    let app = spawn().await;
    let scope = "openid offline_access orders.read billing.read";
    let code = code_for(&app, scope, &[ORDERS, BILLING]).await;
    let r = redeem(&app, &code, None).await;
    assert_eq!(json_error(r).await, (400, "invalid_target".into()), "several granted, none named");
    let code = code_for(&app, scope, &[BILLING, ORDERS]).await;
    let body = ok_json(redeem(&app, &code, Some(BILLING)).await).await;
    assert_eq!(body["scope"], "billing.read");
    assert_eq!(claims(&app, &body).await["aud"].as_str(), Some(BILLING));
    assert_eq!(body["expires_in"], 600);
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // Refused before the token is spent: it still refreshes afterwards.
    for bad in [None, Some("https://unknown.example"), Some("https://orders.example/")] {
        assert_eq!(json_error(refresh(&app, &rt, bad).await).await, (400, "invalid_target".into()), "{bad:?}");
    }
    let body = ok_json(refresh(&app, &rt, Some(ORDERS)).await).await;
    assert_eq!(body["scope"], "orders.read", "a refresh for another granted resource");
    assert_eq!(claims(&app, &body).await["aud"].as_str(), Some(ORDERS));
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let body = ok_json(refresh(&app, &rt, Some(BILLING)).await).await;
    assert_eq!(claims(&app, &body).await["aud"].as_str(), Some(BILLING), "the successor keeps the whole family");
}

#[actix_web::test]
async fn ri_2_a_resource_that_is_unknown_not_allowed_or_malformed_is_an_invalid_target_redirect() {
    let app = spawn().await;
    for bad in ["https://unknown.example", "https://orders.example#frag", "orders", "https://orders.example/"] {
        let r = authorize(&app, &query("openid", &[ORDERS, bad])).await;
        assert_eq!(redirected_error(&r, &app), "invalid_target", "{bad}");
    }
    // `other` may ask for orders, not for billing.
    let mut q = query("openid", &[BILLING]);
    for (k, v) in q.iter_mut() {
        match k.as_str() {
            "client_id" => *v = "other".into(),
            "redirect_uri" => *v = OTHER_RP.into(),
            _ => {}
        }
    }
    let r = authorize(&app, &q).await;
    assert_eq!(r.status(), 302);
    assert_eq!(param(&location(&r), "error").as_deref(), Some("invalid_target"));
    // Before the redirect URI is trusted the answer is a page, never a redirect.
    let mut q = query("openid", &["https://unknown.example"]);
    q.retain(|(k, _)| k != "redirect_uri");
    q.push(("redirect_uri".into(), "https://evil.example/cb".into()));
    let r = authorize(&app, &q).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // [RI-3] Only an API's scopes, without that API: nothing the grant could carry.
    let r = authorize(&app, &query("orders.read", &[])).await;
    assert_eq!(redirected_error(&r, &app), "invalid_scope");
    // A repeated resource is one resource; a repeated other parameter is still refused.
    let code = code_for(&app, "openid orders.read", &[ORDERS, ORDERS]).await;
    assert_eq!(claims(&app, &ok_json(redeem(&app, &code, None).await).await).await["aud"].as_str(), Some(ORDERS));
    let mut q = query("openid", &[ORDERS]);
    q.push(("nonce".into(), "again".into()));
    assert_eq!(redirected_error(&authorize(&app, &q).await, &app), "invalid_request");
}

#[actix_web::test]
async fn ri_4_resource_errors_at_the_token_endpoint_are_invalid_target() {
    let app = spawn().await;
    let code = code_for(&app, "openid orders.read billing.read", &[ORDERS]).await;
    // No API of this client's: refused before the code is spent.
    let r = redeem(&app, &code, Some("https://unknown.example")).await;
    assert_eq!(json_error(r).await, (400, "invalid_target".into()), "unknown");
    let r = redeem(&app, &code, Some(BILLING)).await;
    assert_eq!(json_error(r).await, (400, "invalid_target".into()), "not granted");
    // Review finding 1: the code is not spent by a resource error; the corrected retry gets its token.
    let body = ok_json(redeem(&app, &code, Some(ORDERS)).await).await;
    assert_eq!(claims(&app, &body).await["aud"].as_str(), Some(ORDERS));
    let code = code_for(&app, "openid orders.read billing.read", &[ORDERS, BILLING]).await;
    assert_eq!(json_error(redeem(&app, &code, None).await).await, (400, "invalid_target".into()), "name one");
    let body = ok_json(redeem(&app, &code, Some(BILLING)).await).await;
    assert_eq!(claims(&app, &body).await["aud"].as_str(), Some(BILLING));
    let code = code_for(&app, "openid orders.read", &[ORDERS]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP),
        ("resource", ORDERS),
        ("resource", BILLING),
    ];
    assert_eq!(json_error(token(&app, ("app", SECRET), &form).await).await, (400, "invalid_target".into()));
    // client_credentials: an API the client may ask for, else invalid_target.
    let cc = |client: (&'static str, &'static str), resource: &'static str| {
        let app = &app;
        async move { token(app, client, &[("grant_type", "client_credentials"), ("resource", resource)]).await }
    };
    let body = ok_json(cc(("app", SECRET), ORDERS).await).await;
    assert_eq!(body["scope"], "orders.read orders.write");
    assert_eq!(body["expires_in"], 120);
    let c = claims(&app, &body).await;
    assert_eq!((c["aud"].as_str(), c["sub"].as_str()), (Some(ORDERS), Some("app")));
    assert_eq!(json_error(cc(("other", OTHER_SECRET), BILLING).await).await, (400, "invalid_target".into()));
    assert_eq!(json_error(cc(("app", SECRET), "https://unknown.example").await).await, (400, "invalid_target".into()));
    let form = [("grant_type", "client_credentials"), ("resource", BILLING), ("scope", "orders.read")];
    assert_eq!(json_error(token(&app, ("app", SECRET), &form).await).await, (400, "invalid_scope".into()));
    // Token exchange keeps its own reading of resource: repeated, it is a repeated parameter.
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", "x"),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("resource", ORDERS),
        ("resource", BILLING),
    ];
    let (status, _) = json_error(token(&app, ("app", SECRET), &form).await).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn ri_2_pushed_requests_carry_their_resources_and_refuse_unknown_ones_as_json() {
    let app = spawn().await;
    let push = |form: Vec<(String, String)>| {
        let app = &app;
        async move { app.http.post(app.url("/par")).basic_auth("app", Some(enc(SECRET))).form(&form).send().await.unwrap() }
    };
    let r = push(query("openid", &[ORDERS, "https://unknown.example"])).await;
    assert_eq!(json_error(r).await, (400, "invalid_target".into()));
    let r = push(query("openid offline_access orders.read billing.read", &[ORDERS, BILLING])).await;
    assert_eq!(r.status(), 201);
    let uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_string();
    let r = app.http.get(app.url("/authorize")).query(&[("client_id", "app"), ("request_uri", &uri)]).send().await;
    let loc = complete(&app, r.unwrap(), "ada@example.com").await;
    let code = param(&loc, "code").unwrap();
    let body = ok_json(redeem(&app, &code, Some(ORDERS)).await).await;
    assert_eq!(claims(&app, &body).await["aud"].as_str(), Some(ORDERS));
    let body = ok_json(refresh(&app, body["refresh_token"].as_str().unwrap(), Some(BILLING)).await).await;
    assert_eq!(body["scope"], "billing.read");
}

/// A config file with one `[[apis]]` table body.
fn load_with_api(api: &str) -> Result<bridgekeeper::settings::Settings, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    let text = format!(
        "issuer = \"https://broker.example\"\n[scopes]\n\"orders.read\" = \"r\"\n\"billing.read\" = \"b\"\n[[apis]]\nidentifier = \"https://orders.example\"\nscopes = [\"orders.read\"]\nclients = [\"app\"]\n[[apis]]\n{api}\n"
    );
    std::fs::write(&file, text).unwrap();
    bridgekeeper::settings::Settings::load_with_env(Some(&file), &[]).map_err(|e| e.0)
}

#[test]
fn ri_1_bad_apis_are_refused_at_load_naming_the_key() {
    let ok = "identifier = \"urn:example:billing\"\nscopes = [\"billing.read\"]\nclients = [\"app\"]\naccess_token_ttl_secs = 60";
    let s = load_with_api(ok).unwrap();
    assert_eq!(s.apis.len(), 2);
    assert_eq!(s.apis[1].access_token_ttl_secs, Some(60));
    for (api, key) in [
        ("identifier = \"billing\"\nclients = []", "apis[1].identifier"),
        ("identifier = \"https://b.example/#x\"\nclients = []", "apis[1].identifier"),
        ("identifier = \"https://orders.example\"\nclients = []", "apis[1].identifier"),
        ("identifier = \"https://broker.example\"\nclients = []", "apis[1].identifier"),
        ("identifier = \"https://b.example\"\nscopes = [\"orders.read\"]\nclients = []", "apis[1].scopes"),
        ("identifier = \"https://b.example\"\nscopes = [\"openid\"]\nclients = []", "apis[1].scopes"),
        ("identifier = \"https://b.example\"\nscopes = [\"offline_access\"]\nclients = []", "apis[1].scopes"),
        ("identifier = \"https://b.example\"\nscopes = [\"nope\"]\nclients = []", "apis[1].scopes"),
        ("identifier = \"https://b.example\"\nclients = [\"*\"]", "apis[1].clients"),
        (
            "identifier = \"https://b.example\"\nclients = []\naccess_token_ttl_secs = 0",
            "apis[1].access_token_ttl_secs",
        ),
        (
            "identifier = \"https://b.example\"\nclients = []\naccess_token_ttl_secs = 86401",
            "apis[1].access_token_ttl_secs",
        ),
        ("identifier = \"https://b.example\"\nclients = []\naudience = \"x\"", "apis[1].audience"),
        ("identifier = \"https://ORDERS.example/\"\nclients = []", "apis[1].identifier"),
    ] {
        let e = load_with_api(api).unwrap_err();
        assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
    }
}

#[actix_web::test]
async fn ri_1_apis_are_reloaded_with_the_settings_and_a_withdrawn_resource_is_refused() {
    let api = |clients: &str| {
        format!("[[apis]]\nidentifier = \"{ORDERS}\"\nscopes = []\nclients = [{clients}]\naccess_token_ttl_secs = 90\n")
    };
    let b = common::broker::Broker::start_with(&[("dev.toml", "kind = \"dev\"\n".into())], &api("\"app\"")).await;
    let app = &b.app;
    let q = |r: &str| {
        let mut q = auth_query(&[("scope", "openid email")]);
        q.push(("resource".into(), r.into()));
        q
    };
    let code = {
        let loc = complete(app, authorize(app, &q(ORDERS)).await, "ada@example.com").await;
        param(&loc, "code").unwrap()
    };
    let later = {
        let loc = complete(app, authorize(app, &q(ORDERS)).await, "ada@example.com").await;
        param(&loc, "code").unwrap()
    };
    let body = ok_json(redeem(app, &code, None).await).await;
    assert_eq!((claims(app, &body).await["aud"].as_str(), body["expires_in"].as_i64()), (Some(ORDERS), Some(90)));
    // Another browser starts a sign-in for the resource; it is still at the login page when the reload comes.
    let late = app.view();
    let pending = location(&authorize(&late, &q(ORDERS)).await);
    assert!(pending.starts_with("/login"), "{pending}");
    // A bad [[apis]] at reload is refused, naming the key; the set in force stays.
    b.config("", &format!("{}\n[[apis]]\nidentifier = \"{ORDERS}\"\nclients = []\n", api("\"app\"")));
    let (_, report) = b.reload().await;
    assert!(report["problems"].to_string().contains("apis[1].identifier"), "{report}");
    // The client withdrawn from the API: asking for it is refused at /authorize and at /token.
    b.config("", &api(""));
    let (status, report) = b.reload().await;
    assert_eq!(status, 200, "{report}");
    let r = authorize(app, &q(ORDERS)).await;
    assert_eq!(param(&location(&r), "error").as_deref(), Some("invalid_target"));
    assert_eq!(json_error(redeem(app, &later, Some(ORDERS)).await).await, (400, "invalid_target".into()));
    // The pending request is rechecked when it is taken up again: no code for the withdrawn resource.
    let mut page = late.http.get(late.url(&pending)).send().await.unwrap();
    while page.status().is_redirection() {
        let loc = location(&page);
        assert!(!loc.starts_with(RP), "no code for a withdrawn resource: {loc}");
        page = late.http.get(late.url(&loc)).send().await.unwrap();
    }
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("Sign-in expired"));
}

/// [RI-7] Review finding 4: the admin API is the broker's own resource too: an admin client's token for an API is
/// refused there as a token for another audience (401), not merely as lacking `admin` (403).
#[actix_web::test]
async fn ri_7_the_admin_api_refuses_a_token_for_an_api() {
    let app = spawn().await;
    let form = [("grant_type", "client_credentials"), ("scope", "admin")];
    let own = ok_json(token(&app, ("ops", "ops-secret"), &form).await).await;
    let at = own["access_token"].as_str().unwrap();
    let r = app.http.get(app.url("/admin/api/clients")).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), 200, "the broker's own admin token");
    let form = [("grant_type", "client_credentials"), ("resource", ORDERS)];
    let api = ok_json(token(&app, ("ops", "ops-secret"), &form).await).await;
    assert!(!api["scope"].as_str().unwrap_or("").contains("admin"), "{api}");
    let at = api["access_token"].as_str().unwrap();
    let r = app.http.get(app.url("/admin/api/clients")).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

/// [RI-6] Review finding 9: an API's long lifetime never outlives the grant's absolute end.
#[actix_web::test]
async fn ri_6_a_long_api_lifetime_does_not_outlive_the_grant() {
    let app = spawn_with(|s| s.tokens.refresh_absolute_ttl_secs = 100).await;
    let code = code_for(&app, "openid orders.read", &[ORDERS]).await;
    let body = ok_json(redeem(&app, &code, None).await).await;
    assert_eq!(body["expires_in"], 100, "{body}");
    let c = claims(&app, &body).await;
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 100);
}
