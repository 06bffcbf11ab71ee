//! Discovery, JWKS and the authorization endpoint, black-box over HTTP (security.md §1–3).

mod common;
use common::clients::ClientBuilder;

use common::oauth::*;

#[actix_web::test]
async fn md_1_3_4_discovery_is_exact_complete_and_truthful() {
    let app = spawn().await;
    let r = app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-type").unwrap().to_str().unwrap().starts_with("application/json"));
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], app.base.as_str(), "issuer byte-identical");
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        assert!(d[k].as_str().unwrap().starts_with(&app.base), "{k}");
    }
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(d["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&"RS256".into()));
    assert!(!d["grant_types_supported"].as_array().unwrap().contains(&"implicit".into()));
    assert!(d["scopes_supported"].as_array().unwrap().contains(&"openid".into()));
    assert_eq!(d["request_uri_parameter_supported"], false);
    let oauth: serde_json::Value =
        app.http.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(oauth["issuer"], d["issuer"]);
}

#[actix_web::test]
async fn md_6_jwks_keys_have_distinct_kids_and_no_private_members() {
    let app = spawn().await;
    let j: serde_json::Value = app.http.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let keys = j["keys"].as_array().unwrap();
    assert!(keys.len() >= 2, "current and next are published");
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.dedup();
    assert_eq!(kids.len(), keys.len());
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert!(k["alg"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none());
        }
    }
}

#[actix_web::test]
async fn happy_path_code_flow_with_pkce_tokens_verify_through_jwks() {
    let app = spawn().await;
    let code = code(&app, &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]).await;
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", RP), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 600);
    assert!(t["refresh_token"].as_str().unwrap().len() >= 43);
    let (h, at) = verify_jwt(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(h.typ.as_deref(), Some("at+jwt"));
    for k in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope"] {
        assert!(at.get(k).is_some(), "access token claim {k}");
    }
    assert_eq!(at["client_id"], "app");
    assert_ne!(at["aud"], "app", "JA-3: aud is not the client");
    let (_, id) = verify_jwt(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["iss"], app.base.as_str());
    assert_eq!(id["aud"], "app");
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["sub"], at["sub"]);
    assert!(id["auth_time"].is_i64() && id["at_hash"].is_string());
    assert_eq!(id["email"], "ada@example.com");
    let ui = userinfo(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(ui.status(), 200);
    let ui: serde_json::Value = ui.json().await.unwrap();
    assert_eq!(ui["sub"], id["sub"]);
    assert_eq!(ui["email_verified"], true);
}

#[actix_web::test]
async fn az_5_10_19_registered_query_kept_state_exact_iss_present() {
    let app = spawn().await;
    let state = "a b+c%2B/é€".repeat(20);
    let uri = "https://rp.example/cb?dummy1=lorem&dummy2=ipsum";
    let r = authorize(&app, &auth_query(&[("redirect_uri", uri), ("state", &state)])).await;
    let loc = complete(&app, r, "ada@example.com").await;
    assert!(loc.starts_with("https://rp.example/cb?dummy1=lorem&dummy2=ipsum&code="), "{loc}");
    assert_eq!(param(&loc, "state").unwrap(), state);
    assert_eq!(param(&loc, "iss").unwrap(), app.base);
}

#[actix_web::test]
async fn az_2_unregistered_redirect_uri_shows_error_page() {
    let app = spawn().await;
    for bad in [
        "https://rp.example/cb?foo=bar",
        "https://rp.example/cb/",
        "https://rp.example/CB",
        "http://rp.example/cb",
        "https://rp.example:8443/cb",
        "https://rp.example.evil.com/cb",
        "https://user@rp.example/cb",
        "javascript:alert(1)",
    ] {
        let r = authorize(&app, &auth_query(&[("redirect_uri", bad)])).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none(), "never redirect to {bad}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Request id"), "readable page: {body}");
    }
}

#[actix_web::test]
async fn az_2_unknown_client_shows_error_page() {
    let app = spawn().await;
    let r = authorize(&app, &auth_query(&[("client_id", "nobody")])).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

#[actix_web::test]
async fn az_4_missing_redirect_uri_with_two_registered_is_an_error_page() {
    let app = spawn().await;
    let r = authorize(&app, &auth_query(&[("redirect_uri", "")])).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

async fn redirected_error(app: &common::TestApp, extra: &[(&str, &str)]) -> (String, String) {
    let r = authorize(app, &auth_query(extra)).await;
    assert_eq!(r.status(), 302, "errors after validation are redirected");
    let loc = location(&r);
    assert!(loc.starts_with(RP), "{loc}");
    assert!(param(&loc, "code").is_none());
    assert_eq!(param(&loc, "iss").unwrap(), app.base, "AZ-19 iss on errors");
    (param(&loc, "error").unwrap(), param(&loc, "state").unwrap_or_default())
}

#[actix_web::test]
async fn az_6_7_8_17_errors_redirect_with_state_and_iss() {
    let app = spawn().await;
    assert_eq!(
        redirected_error(&app, &[("response_type", "token")]).await,
        ("unsupported_response_type".into(), "st-1".into())
    );
    assert_eq!(redirected_error(&app, &[("response_type", "")]).await.0, "invalid_request");
    assert_eq!(redirected_error(&app, &[("request", "eyJ.x.y")]).await.0, "request_not_supported");
    assert_eq!(redirected_error(&app, &[("request_uri", "https://x/r")]).await.0, "request_uri_not_supported");
    assert_eq!(redirected_error(&app, &[("scope", "unknown-scope")]).await.0, "invalid_scope");
    assert_eq!(redirected_error(&app, &[("prompt", "none login")]).await.0, "invalid_request");
    assert_eq!(redirected_error(&app, &[("max_age", "-1")]).await.0, "invalid_request");
    let mut q = auth_query(&[]);
    q.push(("scope".into(), "openid".into()));
    let r = authorize(&app, &q).await;
    assert_eq!(param(&location(&r), "error").unwrap(), "invalid_request", "AZ-8 duplicate parameter");
    let (err, st) = redirected_error(&app, &[("state", ""), ("response_type", "token")]).await;
    assert_eq!((err.as_str(), st.as_str()), ("unsupported_response_type", ""), "no state sent, none returned");
}

#[actix_web::test]
async fn pk_1_2_3_pkce_rules_at_the_authorization_endpoint() {
    let app = spawn().await;
    assert_eq!(
        redirected_error(&app, &[("code_challenge", CHALLENGE), ("code_challenge_method", "plain")]).await.0,
        "invalid_request"
    );
    assert_eq!(
        redirected_error(&app, &[("code_challenge", CHALLENGE)]).await.0,
        "invalid_request",
        "absent method means plain"
    );
    assert_eq!(
        redirected_error(&app, &[("code_challenge", "short"), ("code_challenge_method", "S256")]).await.0,
        "invalid_request"
    );
    let q = [
        ("client_id", "native"),
        ("redirect_uri", "http://127.0.0.1:5555/cb"),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
    ];
    let r = app.http.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let loc = location(&r);
    assert!(loc.starts_with("http://127.0.0.1:5555/cb?"), "AZ-3 loopback port may vary: {loc}");
    assert_eq!(param(&loc, "error").unwrap(), "invalid_request", "PK-2 public client needs PKCE");
}

#[actix_web::test]
async fn az_1_post_authorization_request_works_and_unknown_params_are_ignored() {
    let app = spawn().await;
    let mut q = auth_query(&[("extra", "foobar"), ("display", "popup"), ("ui_locales", "se"), ("acr_values", "1")]);
    q.retain(|(k, _)| k != "nonce");
    let r = app.http.post(app.url("/authorize")).form(&q).send().await.unwrap();
    let loc = complete(&app, r, "ada@example.com").await;
    assert!(param(&loc, "code").is_some(), "{loc}");
}

#[actix_web::test]
async fn az_12_prompt_none_without_session_is_login_required_and_with_session_is_silent() {
    let app = spawn().await;
    assert_eq!(redirected_error(&app, &[("prompt", "none")]).await.0, "login_required");
    let first = exchange(&app, &code(&app, &[]).await).await;
    let r = authorize(&app, &auth_query(&[("prompt", "none")])).await;
    let loc = location(&r);
    let second = exchange(&app, &param(&loc, "code").expect("silent code")).await;
    let (_, a) = verify_jwt(&app, first["id_token"].as_str().unwrap()).await;
    let (_, b) = verify_jwt(&app, second["id_token"].as_str().unwrap()).await;
    assert_eq!(a["sub"], b["sub"]);
    assert_eq!(a["auth_time"], b["auth_time"]);
}

#[actix_web::test]
async fn az_13_14_prompt_login_and_max_age_force_a_fresh_login() {
    let app = spawn().await;
    let first = exchange(&app, &code(&app, &[]).await).await;
    app.clock.advance(5);
    let r = authorize(&app, &auth_query(&[("prompt", "login")])).await;
    assert!(location(&r).starts_with("/login"), "prompt=login shows the login page");
    let c = code(&app, &[("prompt", "login")]).await;
    let second = exchange(&app, &c).await;
    let (_, a) = verify_jwt(&app, first["id_token"].as_str().unwrap()).await;
    let (_, b) = verify_jwt(&app, second["id_token"].as_str().unwrap()).await;
    assert!(b["auth_time"].as_i64() > a["auth_time"].as_i64());
    app.clock.advance(3);
    let r = authorize(&app, &auth_query(&[("max_age", "1")])).await;
    assert!(location(&r).starts_with("/login"), "max_age exceeded");
    let r = authorize(&app, &auth_query(&[("max_age", "10000")])).await;
    assert!(location(&r).starts_with(RP), "max_age not exceeded: silent");
}

#[actix_web::test]
async fn consent_is_remembered_forced_by_prompt_consent_and_deny_gives_access_denied() {
    let app = spawn().await;
    code(&app, &[]).await;
    let r = authorize(&app, &auth_query(&[])).await;
    assert!(location(&r).starts_with(RP), "remembered consent");
    let r = authorize(&app, &auth_query(&[("prompt", "consent")])).await;
    let loc = location(&r);
    assert!(loc.starts_with("/consent"), "{loc}");
    let page = app.http.get(app.url(&loc)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("App app") && page.contains("offline_access"));
    let grab = |n: &str| {
        let needle = format!("name=\"{n}\" value=\"");
        let s = page.find(&needle).unwrap() + needle.len();
        page[s..s + page[s..].find('"').unwrap()].to_string()
    };
    let r = app
        .http
        .post(app.url("/consent"))
        .form(&[("req", grab("req")), ("csrf", grab("csrf")), ("decision", "deny".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(param(&location(&r), "error").unwrap(), "access_denied");
    let r = app
        .http
        .post(app.url("/consent"))
        .form(&[("req", grab("req")), ("csrf", "forged".into()), ("decision", "allow".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "CSRF token checked");
}

#[actix_web::test]
async fn az_15_id_token_hint_silent_for_same_user_and_refused_when_forged() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let hint = t["id_token"].as_str().unwrap();
    app.clock.advance(4000);
    let r = authorize(&app, &auth_query(&[("prompt", "none"), ("id_token_hint", hint)])).await;
    assert!(param(&location(&r), "code").is_some(), "expired-but-ours hint accepted: {}", location(&r));
    let mut forged = hint.to_string();
    forged.push('x');
    assert_eq!(redirected_error(&app, &[("prompt", "none"), ("id_token_hint", &forged)]).await.0, "invalid_request");
}

#[actix_web::test]
async fn session_and_csrf_cookies_are_httponly_samesite_host_only() {
    let app = spawn().await;
    let r = authorize(&app, &auth_query(&[])).await;
    let chooser = app.http.get(app.url(&location(&r))).send().await.unwrap();
    let login = app.http.get(app.url(&location(&chooser))).send().await.unwrap();
    assert!(
        login.headers().get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'")
    );
    let set: Vec<String> =
        login.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let csrf = set.iter().find(|c| c.starts_with("bk_csrf=")).expect("csrf cookie");
    assert!(csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict") && !csrf.contains("Domain="));
    let page = login.text().await.unwrap();
    assert!(!page.contains("<script"), "no scripts on pages");
    let r = app
        .http
        .post(app.url("/login/dev"))
        .form(&[("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("email", "b@example.com".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "AZ-21 303 after a credential POST");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("bk_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && !session.contains("Domain=")
            && !session.contains("Secure"),
        "{session}"
    );
}

#[actix_web::test]
async fn dev_sign_in_is_refused_unless_dev_mode() {
    let app = common::TestApp::spawn().await;
    let r =
        app.http.post(app.url("/login/dev")).form(&[("req", "x"), ("email", "a@example.com")]).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[actix_web::test]
async fn cookies_are_secure_and_hsts_is_sent_when_the_issuer_is_https() {
    let app = common::TestApp::spawn_with(|s| {
        s.issuer = "https://broker.example".into();
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid"])
                .grants(&["authorization_code"])
                .build(),
        ];
    })
    .await;
    let r = authorize(&app, &auth_query(&[("scope", "openid")])).await;
    assert!(r.headers().get("strict-transport-security").is_some());
    let chooser = app.http.get(app.url(&location(&r))).send().await.unwrap();
    let login = app.http.get(app.url(&location(&chooser))).send().await.unwrap();
    let csrf = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-bk_csrf="))
        .unwrap();
    assert!(csrf.contains("Secure") && csrf.contains("HttpOnly") && csrf.contains("Path=/"), "{csrf}");
}

/// [AZ-2] `/authorize` reads the client from the database, not from the short client cache: a client disabled
/// by another process (here a plain SQL update no instance hears of: the CLI on a SQLite deployment, or an
/// instance whose invalidation listener is down) is refused at once, not for up to the cache's lifetime.
#[actix_web::test]
async fn az_2_a_client_disabled_elsewhere_is_refused_at_once() {
    use diesel::RunQueryDsl;
    let app = spawn().await;
    let r = authorize(&app, &auth_query(&[])).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let mut other = app.state.db.conn().unwrap();
    diesel::sql_query("UPDATE clients SET disabled = true WHERE client_id = 'app'").execute(&mut *other).unwrap();
    drop(other);
    // The token endpoint's cache may still hold the row; /authorize must not use it.
    let r = authorize(&app, &auth_query(&[])).await;
    assert_eq!(r.status(), 400, "a disabled client gets the error page, never a redirect");
}
