//! RFC 8693 token exchange: who may exchange what ([TX-3]–[TX-9]): the provider's client list and the person's
//! consent, every refusal with its RFC 8693 error, delegation between APIs with `act`, incremental upstream consent.

mod common;

use common::exchange::*;
use common::oauth::*;

#[actix_web::test]
async fn tx_3_tx_5_exchanges_refused_with_their_rfc_8693_errors() {
    let w = world().await;
    let at = sign_in(&w).await;
    let tokens = sign_in_as(&w, ("other", "other-secret", "https://other.example/cb")).await;
    let other_at = tokens["access_token"].as_str().unwrap();
    // A client not on the provider's list, even with its own token.
    let r = upstream_exchange(&w.app, ("other", "other-secret"), other_at).await;
    assert_eq!(json_error(r).await, (400, "invalid_target".to_string()));
    // The app presenting another client's token.
    let r = upstream_exchange(&w.app, ("app", SECRET), other_at).await;
    assert_eq!(json_error(r).await, (400, "invalid_request".to_string()));
    // An ID token as subject token.
    let r = upstream_exchange(&w.app, ("app", SECRET), tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(json_error(r).await.1, "invalid_request");
    // A refresh token as the subject, and garbage.
    let r = upstream_exchange(&w.app, ("app", SECRET), tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(json_error(r).await.1, "invalid_request");
    // Unsupported token types, no target, an unknown provider.
    let r = token(
        &w.app,
        ("app", SECRET),
        &[
            ("grant_type", GRANT),
            ("subject_token", &at),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
            ("resource", ACME),
        ],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_request");
    let r = token(
        &w.app,
        ("app", SECRET),
        &[
            ("grant_type", GRANT),
            ("subject_token", &at),
            ("subject_token_type", AT_TYPE),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
            ("resource", ACME),
        ],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_request", "never an upstream refresh token");
    let r = token(
        &w.app,
        ("app", SECRET),
        &[("grant_type", GRANT), ("subject_token", &at), ("subject_token_type", AT_TYPE)],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_request");
    let r = token(
        &w.app,
        ("app", SECRET),
        &[
            ("grant_type", GRANT),
            ("subject_token", &at),
            ("subject_token_type", AT_TYPE),
            ("audience", "urn:bridgekeeper:provider:nope"),
        ],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_target");
    // Upstream scopes the identity never granted.
    let r = token(
        &w.app,
        ("app", SECRET),
        &[
            ("grant_type", GRANT),
            ("subject_token", &at),
            ("subject_token_type", AT_TYPE),
            ("resource", ACME),
            ("scope", "admin:org"),
        ],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_scope");
    // A revoked subject token.
    let r = w
        .app
        .http
        .post(w.app.url("/revoke"))
        .basic_auth("app", Some(enc(SECRET)))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await.1, "invalid_request", "revoked subject token");
    assert_eq!(w.idp.refreshes(), 0);
}

#[actix_web::test]
async fn tx_3_another_users_token_without_consent_and_a_withdrawn_consent_are_refused() {
    let w = world().await;
    // Ada consents through the page (which names "may act for you at Acme acme").
    let q = auth_query(&[("scope", "openid email")]);
    let r = authorize(&w.app, &q).await;
    let mut r = r;
    let mut page = String::new();
    for _ in 0..8 {
        let loc = location(&r);
        if loc.starts_with("/consent") {
            page = w.app.http.get(w.app.url(&loc)).send().await.unwrap().text().await.unwrap();
            break;
        }
        let loc = loc.strip_prefix("/login?").map(|q| format!("/login/acme?{q}")).unwrap_or(loc);
        r = if loc.starts_with('/') {
            w.app.http.get(w.app.url(&loc)).send().await.unwrap()
        } else {
            w.app.http.get(&loc).send().await.unwrap()
        };
    }
    assert!(page.contains("Mail App may act for you at Acme acme"), "the consent line: {page}");
    let r = w.app.http.post(w.app.url("/consent")).form(&consent_form(&page)).send().await.unwrap();
    let loc = drive(&w.app, r).await;
    let t = exchange(&w.app, &param(&loc, "code").unwrap()).await;
    let ada = t["access_token"].as_str().unwrap().to_string();
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &ada).await).await;
    // Grace, another person, signs in to the same app in another browser; her consent is withdrawn on /account.
    let grace = w.app.view();
    w.idp.set_user(common::fake_idp::User::new("upstream-sub-2", "grace@upstream.test"));
    let grace_at = sign_in_with(&grace, ("app", SECRET, RP)).await["access_token"].as_str().unwrap().to_string();
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &grace_at).await).await;
    let page = grace.http.get(grace.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("may act for you at Acme acme"), "listed on /account");
    let form = [("csrf", hidden(&page, "csrf")), ("client_id", "app".into()), ("provider", "acme".into())];
    let r = grace.http.post(grace.url("/account/revoke-exchange")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = upstream_exchange(&w.app, ("app", SECRET), &grace_at).await;
    assert_eq!(json_error(r).await.1, "invalid_request", "Grace's token no longer yields her upstream token");
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &ada).await).await;
}

#[actix_web::test]
async fn tx_7_tx_8_delegation_between_apis_carries_act_and_only_narrows() {
    let w = world().await;
    let at = sign_in(&w).await;
    let ask = |aud: &'static str, scope: &'static str| {
        let (app, at) = (w.app.view(), at.clone());
        async move {
            token(
                &app,
                ("api-a", "api-a-secret"),
                &[
                    ("grant_type", GRANT),
                    ("subject_token", &at),
                    ("subject_token_type", AT_TYPE),
                    ("audience", aud),
                    ("scope", scope),
                ],
            )
            .await
        }
    };
    let t = ok_json(ask("https://api-b", "read").await).await;
    assert_eq!((t["issued_token_type"].as_str(), t["scope"].as_str()), (Some(AT_TYPE), Some("read")));
    let (header, claims) = verify_jwt(&w.app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(claims["act"], serde_json::json!({"sub": "api-a"}), "the actor is named");
    assert_eq!(claims["aud"], "https://api-b");
    assert_eq!(claims["client_id"], "api-a");
    let (_, subject) = verify_jwt(&w.app, &at).await;
    assert_eq!(claims["sub"], subject["sub"], "the person stays the subject");
    assert!(claims["exp"].as_i64() <= subject["exp"].as_i64(), "never outlives its subject");
    let r = ask("https://api-b", "read admin").await;
    assert_eq!(json_error(r).await.1, "invalid_scope", "scope only narrows");
    let r = ask("https://api-c", "read").await;
    assert_eq!(json_error(r).await.1, "invalid_target", "disallowed audience");
    // The app itself has no delegation rule.
    let r = token(
        &w.app,
        ("app", SECRET),
        &[
            ("grant_type", GRANT),
            ("subject_token", &at),
            ("subject_token_type", AT_TYPE),
            ("audience", "https://api-b"),
        ],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_target");
    // A delegated token never yields an upstream token.
    let r = upstream_exchange(&w.app, ("app", SECRET), t["access_token"].as_str().unwrap()).await;
    assert_eq!(json_error(r).await.1, "invalid_request");
}

#[actix_web::test]
async fn tx_4_discovery_advertises_token_exchange_and_public_clients_cannot_use_it() {
    let w = world().await;
    let d: serde_json::Value =
        w.app.http.get(w.app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(d["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT));
    let r = w
        .app
        .http
        .post(w.app.url("/token"))
        .form(&[("grant_type", GRANT), ("client_id", "app"), ("subject_token", "x"), ("subject_token_type", AT_TYPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await.1, "invalid_client", "a secret is required");
}

#[actix_web::test]
async fn tx_9_a_missing_upstream_scope_is_invalid_scope_naming_the_downstream_scope_and_a_step_up_grants_it() {
    let w = world_with(common::test_db(), None, None, "[scope_map]\ncode = [\"repo\"]\n").await;
    let browser = w.app.view();
    let at = sign_in_with(&browser, ("app", SECRET, RP)).await["access_token"].as_str().unwrap().to_string();
    let ask = |at: String| {
        let app = w.app.view();
        async move {
            token(
                &app,
                ("app", SECRET),
                &[
                    ("grant_type", GRANT),
                    ("subject_token", &at),
                    ("subject_token_type", AT_TYPE),
                    ("resource", ACME),
                    ("scope", "repo"),
                ],
            )
            .await
        }
    };
    let r = ask(at).await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains("scope code") && d.contains("prompt=login"), "{d}");
    // The app follows the advice: the upstream is asked for repo, the vault keeps the new grant.
    let q = auth_query(&[("scope", "openid email code"), ("prompt", "login")]);
    let loc = drive(&browser, authorize(&browser, &q).await).await;
    assert!(w.idp.last_authorize().get("scope").is_some_and(|s| s.split(' ').any(|x| x == "repo")));
    let t = exchange(&browser, &param(&loc, "code").unwrap()).await;
    let r = ask(t["access_token"].as_str().unwrap().to_string()).await;
    let x = ok_json(r).await;
    assert!(x["scope"].as_str().unwrap().split(' ').any(|s| s == "repo"), "{x}");
}

#[actix_web::test]
async fn tx_6_upstream_scopes_are_bounded_by_the_subject_tokens_downstream_scopes() {
    let w = world_with(common::test_db(), None, None, "[scope_map]\ncode = [\"repo\"]\n").await;
    let browser = w.app.view();
    // A token without `code`, then a sign-in (another app's, or a step-up) that grants `repo` upstream.
    let plain = sign_in_with(&browser, ("app", SECRET, RP)).await["access_token"].as_str().unwrap().to_string();
    let q = auth_query(&[("scope", "openid email code"), ("prompt", "login")]);
    let loc = drive(&browser, authorize(&browser, &q).await).await;
    let with_code =
        exchange(&browser, &param(&loc, "code").unwrap()).await["access_token"].as_str().unwrap().to_string();
    // The vault's token now carries repo, which the plain token's scopes do not reach: refused, as it cannot be
    // narrowed; asked for explicitly, refused before the vault is asked.
    let r = upstream_exchange(&w.app, ("app", SECRET), &plain).await;
    let (status, code) = json_error(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_scope"));
    let refreshes = w.idp.refreshes();
    let r = token(
        &w.app,
        ("app", SECRET),
        &[
            ("grant_type", GRANT),
            ("subject_token", &plain),
            ("subject_token_type", AT_TYPE),
            ("resource", ACME),
            ("scope", "repo"),
        ],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_scope");
    assert_eq!(w.idp.refreshes(), refreshes);
    // The token whose scopes map to repo gets it.
    let x = ok_json(upstream_exchange(&w.app, ("app", SECRET), &with_code).await).await;
    assert!(x["scope"].as_str().unwrap().split(' ').any(|s| s == "repo"), "{x}");
}

async fn delegate(app: &common::TestApp, client: (&str, &str), subject: &str, aud: &str) -> reqwest::Response {
    token(
        app,
        client,
        &[("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", AT_TYPE), ("audience", aud)],
    )
    .await
}

#[actix_web::test]
async fn tx_4_delegation_refuses_a_subject_token_of_a_client_the_rule_does_not_name() {
    let w = world().await;
    let app_at = sign_in(&w).await;
    let other = sign_in_as(&w, ("other", "other-secret", "https://other.example/cb")).await;
    let other_at = other["access_token"].as_str().unwrap();
    let r = delegate(&w.app, ("api-a", "api-a-secret"), other_at, "https://api-b").await;
    assert_eq!(json_error(r).await, (400, "invalid_request".to_string()), "other is not a subject client");
    ok_json(delegate(&w.app, ("api-a", "api-a-secret"), &app_at, "https://api-b").await).await;
    // api-b's rule names no subject client: the app's own token is not its to exchange.
    let r = delegate(&w.app, ("api-b", "api-b-secret"), &app_at, "https://api-c").await;
    assert_eq!(json_error(r).await.1, "invalid_request");
}

#[actix_web::test]
async fn tx_4_a_delegated_token_is_exchangeable_only_by_its_audience() {
    let w = world().await;
    let at = sign_in(&w).await;
    let t = ok_json(delegate(&w.app, ("api-a", "api-a-secret"), &at, "https://api-b").await).await;
    let for_b = t["access_token"].as_str().unwrap();
    // api-a holds the token it minted for api-b but may not exchange it itself.
    let r = delegate(&w.app, ("api-a", "api-a-secret"), for_b, "https://api-b").await;
    assert_eq!(json_error(r).await.1, "invalid_request");
    // api-b, which the token is for, may: the actors nest.
    let c = ok_json(delegate(&w.app, ("api-b", "api-b-secret"), for_b, "https://api-c").await).await;
    let (_, claims) = verify_jwt(&w.app, c["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["act"], serde_json::json!({"sub": "api-b", "act": {"sub": "api-a"}}));
    assert_eq!(claims["aud"], "https://api-c");
}

async fn only_user(w: &World) -> String {
    w.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap()[0].id.clone()
}

async fn exchange_consents(w: &World, uid: &str) -> Vec<(String, String)> {
    let u = uid.to_string();
    w.app.state.db.run(move |c| bridgekeeper::store::vault::exchange_consents_of(c, &u)).await.unwrap()
}

#[actix_web::test]
async fn tx_3_an_exchange_consent_ends_with_the_identity_it_was_given_for() {
    let w = world().await;
    let _ = sign_in(&w).await;
    let uid = only_user(&w).await;
    assert_eq!(exchange_consents(&w, &uid).await, vec![("app".to_string(), "acme".to_string())]);
    let u = uid.clone();
    w.app
        .state
        .db
        .write(move |c| {
            let i = bridgekeeper::store::identities::list_for_user(c, &u)?.remove(0);
            bridgekeeper::store::identities::delete(c, &u, &i.id)
        })
        .await
        .unwrap();
    assert!(exchange_consents(&w, &uid).await.is_empty(), "no identity at acme is left: the consent ends");
}

#[actix_web::test]
async fn tx_3_admin_consent_withdrawal_removes_the_exchange_consent() {
    let w = world().await;
    let at = sign_in(&w).await;
    let uid = only_user(&w).await;
    let r = token(&w.app, ("ops", "ops-secret"), &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    let t = ok_json(r).await["access_token"].as_str().unwrap().to_string();
    let r =
        w.app.http.delete(w.app.url(&format!("/admin/api/consents/{uid}/app"))).bearer_auth(&t).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(exchange_consents(&w, &uid).await.is_empty(), "withdrawing the app's consent withdraws 'may act for you'");
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await.1, "invalid_request");
}

#[actix_web::test]
async fn tx_8_introspection_of_a_delegated_token_shows_act() {
    let w = world().await;
    let at = sign_in(&w).await;
    let t = ok_json(delegate(&w.app, ("api-a", "api-a-secret"), &at, "https://api-b").await).await;
    let for_b = t["access_token"].as_str().unwrap();
    let introspect = |client: (&'static str, &'static str)| {
        let (app, tok) = (w.app.view(), for_b.to_string());
        async move {
            let r = app
                .http
                .post(app.url("/introspect"))
                .basic_auth(client.0, Some(enc(client.1)))
                .form(&[("token", tok.as_str())])
                .send()
                .await
                .unwrap();
            ok_json(r).await
        }
    };
    // The API it was issued for (api-b, known as https://api-b) and the delegating API both see who acts.
    for c in [("api-b", "api-b-secret"), ("api-a", "api-a-secret")] {
        let x = introspect(c).await;
        assert_eq!(x["active"], true, "{c:?}: {x}");
        assert_eq!(x["act"], serde_json::json!({"sub": "api-a"}), "{c:?}");
        assert_eq!(x["aud"], "https://api-b");
    }
    // Anyone else learns nothing.
    assert_eq!(introspect(("other", "other-secret")).await["active"], false);
}

#[actix_web::test]
async fn tx_9_a_step_up_at_an_upstream_that_omits_scope_keeps_the_scopes_asked() {
    let w = world_with(common::test_db(), None, None, "[scope_map]\ncode = [\"repo\"]\n").await;
    w.idp.set_tamper(common::fake_idp::Tamper::NoScope);
    let browser = w.app.view();
    let _ = sign_in_with(&browser, ("app", SECRET, RP)).await;
    let q = auth_query(&[("scope", "openid email code"), ("prompt", "login")]);
    let loc = drive(&browser, authorize(&browser, &q).await).await;
    let t = exchange(&browser, &param(&loc, "code").unwrap()).await;
    let at = t["access_token"].as_str().unwrap();
    let r = token(
        &w.app,
        ("app", SECRET),
        &[
            ("grant_type", GRANT),
            ("subject_token", at),
            ("subject_token_type", AT_TYPE),
            ("resource", ACME),
            ("scope", "repo"),
        ],
    )
    .await;
    let x = ok_json(r).await;
    assert!(x["scope"].as_str().unwrap().split(' ').any(|s| s == "repo"), "the scopes asked were granted: {x}");
}

/// After a re-consent at the upstream with fewer scopes, the vault holds what the upstream granted last (its
/// answer's `scope`, or the scopes asked when it names none), not a union with the earlier grant.
#[actix_web::test]
async fn tx_9_a_re_consent_with_fewer_upstream_scopes_replaces_the_stored_set() {
    let w = world_with(common::test_db(), None, None, "[scope_map]\ncode = [\"repo\"]\n").await;
    let browser = w.app.view();
    for omit_scope in [false, true] {
        if omit_scope {
            w.idp.set_tamper(common::fake_idp::Tamper::NoScope);
        }
        let q = auth_query(&[("scope", "openid email code"), ("prompt", "login")]);
        let loc = drive(&browser, authorize(&browser, &q).await).await;
        let with_code =
            exchange(&browser, &param(&loc, "code").unwrap()).await["access_token"].as_str().unwrap().to_string();
        let x = ok_json(upstream_exchange(&w.app, ("app", SECRET), &with_code).await).await;
        assert!(x["scope"].as_str().unwrap().split(' ').any(|s| s == "repo"), "{x}");
        // The person signs in again; this time the upstream is asked (and grants) no repo.
        let q = auth_query(&[("scope", "openid email"), ("prompt", "login")]);
        drive(&browser, authorize(&browser, &q).await).await;
        assert!(!w.idp.last_authorize()["scope"].split(' ').any(|s| s == "repo"));
        let rows = vault_rows(&w.app).await;
        assert!(!rows[0].scope.split(' ').any(|s| s == "repo"), "omit_scope={omit_scope}: {}", rows[0].scope);
        let x = ok_json(upstream_exchange(&w.app, ("app", SECRET), &with_code).await).await;
        assert!(!x["scope"].as_str().unwrap().split(' ').any(|s| s == "repo"), "{x}");
        let r = token(
            &w.app,
            ("app", SECRET),
            &[
                ("grant_type", GRANT),
                ("subject_token", &with_code),
                ("subject_token_type", AT_TYPE),
                ("resource", ACME),
                ("scope", "repo"),
            ],
        )
        .await;
        assert_eq!(json_error(r).await.1, "invalid_scope", "repo is no longer granted upstream");
    }
}
