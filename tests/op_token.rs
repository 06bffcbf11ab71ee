//! The token endpoint and what the tokens do afterwards: grants, client authentication, userinfo,
//! introspection, revocation, logout, key rotation (security.md §4–12, §19).

mod common;
use common::clients::ClientBuilder;

use common::oauth::*;

#[actix_web::test]
async fn tk_1_2_get_and_json_bodies_are_refused_with_no_store() {
    let app = spawn().await;
    let r = app.http.get(app.url("/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth("app", Some(enc(SECRET)))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_request".into()));
    let r = token(&app, ("app", SECRET), &[("grant_type", "password")]).await;
    assert_eq!(json_error(r).await, (400, "unsupported_grant_type".into()));
}

#[actix_web::test]
async fn ca_1_2_3_client_authentication() {
    let app = spawn().await;
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(token(&app, ("app", SECRET), &cc).await.status(), 200, "CA-1 secret with : + % space, form-encoded");
    let r = token(&app, ("app", "wrong"), &cc).await;
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Basic"));
    assert_eq!(json_error(r).await, (401, "invalid_client".into()));
    let r = app
        .http
        .post(app.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "app"), ("client_secret", SECRET)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "client_secret_post");
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth("app", Some(enc(SECRET)))
        .form(&[("grant_type", "client_credentials"), ("client_secret", SECRET)])
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_request".into()), "CA-3 two methods");
    let r = app
        .http
        .post(app.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "native")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r).await.1, "invalid_client", "public clients cannot use client_credentials");
}

#[actix_web::test]
async fn client_credentials_token_has_client_as_subject_and_narrowed_scope() {
    let app = spawn().await;
    let r = token(&app, ("app", SECRET), &[("grant_type", "client_credentials"), ("scope", "email groups")]).await;
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t["scope"], "email groups");
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    let (_, c) = verify_jwt(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(c["sub"], "app");
    let r = token(&app, ("app", SECRET), &[("grant_type", "client_credentials"), ("scope", "openid")]).await;
    assert_eq!(json_error(r).await.1, "invalid_scope");
}

#[actix_web::test]
async fn ac_1_code_reuse_is_invalid_grant_and_revokes_the_first_tokens() {
    let app = spawn().await;
    let c = code(&app, &[]).await;
    let first = exchange(&app, &c).await;
    let at = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, at).await.status(), 200);
    let r =
        token(&app, ("app", SECRET), &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", RP)]).await;
    assert_eq!(json_error(r).await, (400, "invalid_grant".into()));
    assert_eq!(userinfo(&app, at).await.status(), 401, "access token of the first use revoked");
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "refresh token of the first use revoked");
}

#[actix_web::test]
async fn ac_2_3_4_code_is_bound_to_client_redirect_uri_and_lifetime() {
    let app = spawn().await;
    let c = code(&app, &[]).await;
    let r = token(
        &app,
        ("other", "other-secret"),
        &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", RP)],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "AC-2 another client");
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", "https://rp.example/other")],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "AC-3 redirect_uri differs");
    let c = code(&app, &[]).await;
    let r = token(&app, ("app", SECRET), &[("grant_type", "authorization_code"), ("code", &c)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "AC-3 redirect_uri missing");
    let c = code(&app, &[]).await;
    app.clock.advance(61);
    let r =
        token(&app, ("app", SECRET), &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", RP)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "AC-4 expired");
}

#[actix_web::test]
async fn ac_5_concurrent_redemptions_exactly_one_succeeds_and_the_losers_revoke_it() {
    let app = spawn().await;
    let c = code(&app, &[]).await;
    let form = [("grant_type", "authorization_code"), ("code", c.as_str()), ("redirect_uri", RP)];
    let answers = futures_util::future::join_all((0..6).map(|_| token(&app, ("app", SECRET), &form))).await;
    let mut won = Vec::new();
    for r in answers {
        if r.status() == 200 {
            won.push(r.json::<serde_json::Value>().await.unwrap());
        } else {
            assert_eq!(json_error(r).await, (400, "invalid_grant".into()), "a loser is a replay");
        }
    }
    assert_eq!(won.len(), 1);
    // [AC-1] Every loser is a replay, also one whose deferred spend lost the race ([DB-5]): the winner's tokens end.
    let first = &won[0];
    assert_eq!(userinfo(&app, first["access_token"].as_str().unwrap()).await.status(), 401);
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "the winner's refresh token is revoked");
}

#[actix_web::test]
async fn pk_4_5_pkce_verifier_checked_and_downgrade_refused() {
    let app = spawn().await;
    let c = code(&app, &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]).await;
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", RP), ("code_verifier", &"x".repeat(43))],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "PK-4 wrong verifier");
    let c = code(&app, &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]).await;
    let r =
        token(&app, ("app", SECRET), &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", RP)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "PK-4 missing verifier");
    let c = code(&app, &[]).await;
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "authorization_code"), ("code", &c), ("redirect_uri", RP), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "PK-5 downgrade");
}

#[actix_web::test]
async fn public_client_code_flow_with_pkce_and_client_id() {
    let app = spawn().await;
    let q = [
        ("client_id", "native"),
        ("redirect_uri", "http://127.0.0.1:4321/cb"),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let r = app.http.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let loc = complete(&app, r, "ada@example.com").await;
    let c = param(&loc, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", c.as_str()),
        ("redirect_uri", "http://127.0.0.1:4321/cb"),
        ("code_verifier", VERIFIER),
        ("client_id", "native"),
    ];
    let r = app.http.post(app.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.unwrap();
    let r = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", "native"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "public clients refresh with client_id");
}

#[actix_web::test]
async fn rt_1_3_4_5_refresh_rotation_reuse_narrowing_and_binding() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let r = token(&app, ("other", "other-secret"), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!(json_error(r).await, (400, "invalid_grant".into()), "RT-1 bound to its client");
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1), ("scope", "openid phone")],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_scope", "RT-3 wider scope");
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1), ("scope", "openid email")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let t2: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t2["scope"], "email openid", "RT-3 narrowed");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    let (_, id1) = verify_jwt(&app, t["id_token"].as_str().unwrap()).await;
    let (_, id2) = verify_jwt(&app, t2["id_token"].as_str().unwrap()).await;
    assert_eq!((&id1["sub"], &id1["auth_time"], &id1["aud"]), (&id2["sub"], &id2["auth_time"], &id2["aud"]), "ID-5");
    assert!(id2.get("nonce").is_none(), "ID-5 no nonce on refresh");
    app.clock.advance(3); // past refresh_reuse_grace_secs: this is reuse, not a racing duplicate
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "RT-4 reuse");
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "RT-4 the whole family is revoked");
    assert_eq!(userinfo(&app, t2["access_token"].as_str().unwrap()).await.status(), 401, "and its access tokens");
}

#[actix_web::test]
async fn concurrent_refreshes_with_one_token_exactly_one_succeeds_and_the_winner_keeps_working() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let rs = futures_util::future::join_all((0..6).map(|_| token(&app, ("app", SECRET), &form))).await;
    let mut winners = Vec::new();
    for r in rs {
        if r.status() == 200 {
            winners.push(r.json::<serde_json::Value>().await.unwrap());
        } else {
            assert_eq!(json_error(r).await.1, "invalid_grant");
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    let next = winners[0]["refresh_token"].as_str().unwrap();
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", next)]).await;
    assert_eq!(r.status(), 200, "racing duplicates did not fire reuse detection on the winner's family");
}

#[actix_web::test]
async fn rt_4_reuse_within_the_grace_window_is_refused_without_revoking_after_it_revokes() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    let rt2 = r.json::<serde_json::Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string();
    app.clock.advance(1);
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "a late duplicate inside the window is refused");
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!(r.status(), 200, "but the family lives");
    let rt3 = r.json::<serde_json::Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string();
    app.clock.advance(2);
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant");
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt3)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "reuse after the window revokes the family");
}

#[actix_web::test]
async fn refresh_token_only_with_offline_access_and_idle_expiry() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[("scope", "openid email")]).await).await;
    assert!(t.get("refresh_token").is_none());
    let t = exchange(&app, &code(&app, &[]).await).await;
    app.clock.advance(1_209_600 + 1);
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "idle lifetime");
}

#[actix_web::test]
async fn br_1_2_3_4_userinfo_bearer_rules() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let at = t["access_token"].as_str().unwrap();
    let r = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let w = r.headers().get("www-authenticate").unwrap().to_str().unwrap().to_string();
    assert!(w.starts_with("Bearer") && !w.contains("error="), "BR-2 {w}");
    let r = app.http.get(app.url("/userinfo")).header("Authorization", format!("BEARER {at}")).send().await.unwrap();
    assert_eq!(r.status(), 200, "BR-1 scheme is case-insensitive");
    let r = app.http.post(app.url("/userinfo")).form(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 200, "BR-4 form body");
    let r = app.http.get(app.url("/userinfo")).query(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 400, "BR-4 query refused");
    let r = userinfo(&app, "garbage").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().contains("error=\"invalid_token\""));
    let id = t["id_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, id).await.status(), 401, "JA-2 an ID token is not an access token");
    let cc: serde_json::Value =
        token(&app, ("app", SECRET), &[("grant_type", "client_credentials")]).await.json().await.unwrap();
    assert_eq!(userinfo(&app, cc["access_token"].as_str().unwrap()).await.status(), 403, "BR-6");
    app.clock.advance(601);
    assert_eq!(userinfo(&app, at).await.status(), 401, "expired");
}

async fn introspect(app: &common::TestApp, who: (&str, &str), tok: &str) -> serde_json::Value {
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(who.0, Some(enc(who.1)))
        .form(&[("token", tok)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[actix_web::test]
async fn in_1_2_3_4_introspection() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let (at, rt) = (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap());
    let r = app.http.post(app.url("/introspect")).form(&[("token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 401, "IN-1");
    let a = introspect(&app, ("app", SECRET), at).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["client_id"], "app");
    assert!(a["scope"].as_str().unwrap().contains("openid") && a["exp"].is_i64() && a["sub"].is_string());
    assert_eq!(introspect(&app, ("app", SECRET), rt).await["active"], true, "refresh tokens too");
    assert_eq!(introspect(&app, ("other", "other-secret"), at).await, serde_json::json!({"active": false}), "IN-4");
    assert_eq!(introspect(&app, ("app", SECRET), "garbage").await, serde_json::json!({"active": false}), "IN-2");
}

#[actix_web::test]
async fn rv_1_to_5_revocation() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let (at, rt) = (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap());
    let revoke = |who: (&'static str, &'static str), form: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            app.http.post(app.url("/revoke")).basic_auth(who.0, Some(enc(who.1))).form(&form).send().await.unwrap()
        }
    };
    assert_eq!(json_error(revoke(("app", SECRET), vec![]).await).await.1, "invalid_request", "RV-1");
    assert_eq!(revoke(("app", SECRET), vec![("token", "unknown".into())]).await.status(), 200, "RV-2");
    assert_eq!(revoke(("other", "other-secret"), vec![("token", rt.into())]).await.status(), 200, "RV-5 answers 200");
    assert_eq!(introspect(&app, ("app", SECRET), rt).await["active"], true, "RV-5 but the token stays valid");
    assert_eq!(
        revoke(("app", SECRET), vec![("token", rt.into()), ("token_type_hint", "access_token".into())]).await.status(),
        200
    );
    assert_eq!(introspect(&app, ("app", SECRET), rt).await["active"], false, "RV-3 hint is only a hint");
    assert_eq!(userinfo(&app, at).await.status(), 401, "RV-4 access tokens of the grant end too");
    let t = exchange(&app, &code(&app, &[]).await).await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(revoke(("app", SECRET), vec![("token", at.into())]).await.status(), 200);
    assert_eq!(userinfo(&app, at).await.status(), 401, "access token revoked by jti");
    assert_eq!(introspect(&app, ("app", SECRET), at).await["active"], false);
}

#[actix_web::test]
async fn lo_2_3_4_logout_ends_sso_and_redirects_only_where_registered() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[("scope", "openid email")]).await).await;
    let id = t["id_token"].as_str().unwrap();
    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[("id_token_hint", id), ("post_logout_redirect_uri", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "LO-3 unregistered");
    assert!(r.headers().get("location").is_none());
    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[("id_token_hint", "a.b.c"), ("post_logout_redirect_uri", "https://rp.example/bye")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "LO-3 hint not ours");
    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[("post_logout_redirect_uri", "https://rp.example/bye")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "LO-3 no hint, no client");
    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[("id_token_hint", id), ("post_logout_redirect_uri", "https://rp.example/bye"), ("state", "s x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example/bye?state=s+x");
    assert_eq!(userinfo(&app, t["access_token"].as_str().unwrap()).await.status(), 401, "RT-5 online grant ended");
    let r = authorize(&app, &auth_query(&[("prompt", "none")])).await;
    assert_eq!(param(&location(&r), "error").unwrap(), "login_required", "SSO ended");
    let r = app.http.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), 200, "LO-4 no params: confirmation page");
    assert!(r.text().await.unwrap().contains("Sign out?"));
}

#[actix_web::test]
async fn offline_access_survives_logout() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let r = app
        .http
        .get(app.url("/logout"))
        .query(&[("id_token_hint", t["id_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "logged-out page");
    let r = token(
        &app,
        ("app", SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[actix_web::test]
async fn md_7_key_rotation_keeps_old_tokens_verifiable() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let at = t["access_token"].as_str().unwrap();
    let old_kid = jsonwebtoken::decode_header(at).unwrap().kid.unwrap();
    let now = app.clock.now();
    let sealer = app.state.sealer.clone();
    app.state
        .db
        .run(move |c| {
            bridgekeeper::tokens::keyring::rotate(c, bridgekeeper::tokens::keys::Alg::Rs256, now, 3660, &sealer)
        })
        .await
        .unwrap();
    app.state.reload_keys().await.unwrap();
    verify_jwt(&app, at).await;
    assert_eq!(userinfo(&app, at).await.status(), 200, "old token still accepted");
    let t2 = exchange(&app, &code(&app, &[("prompt", "consent")]).await).await;
    let new_kid = jsonwebtoken::decode_header(t2["access_token"].as_str().unwrap()).unwrap().kid.unwrap();
    assert_ne!(old_kid, new_kid, "new tokens signed with the new key");
    verify_jwt(&app, t2["id_token"].as_str().unwrap()).await;
}

#[actix_web::test]
async fn es256_and_eddsa_are_selectable() {
    for alg in ["ES256", "EdDSA"] {
        let app = common::TestApp::spawn_with(|s| {
            s.tokens.signing_alg = alg.into();
            s.clients = vec![];
        })
        .await;
        app.state
            .db
            .write(|c| {
                bridgekeeper::store::clients::insert(
                    c,
                    &bridgekeeper::store::clients::Client {
                        client_id: "m2m".into(),
                        secret_hash: Some(bridgekeeper::secret::hash_token("pw")),
                        name: "m2m".into(),
                        redirect_uris: vec![],
                        post_logout_redirect_uris: vec![],
                        allowed_scopes: vec!["email".into()],
                        grant_types: vec!["client_credentials".into()],
                        skip_consent: false,
                        require_pkce: false,
                        source: "cli".into(),
                        disabled: false,
                        created_at: 0,
                        updated_at: 0,
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        let t: serde_json::Value =
            token(&app, ("m2m", "pw"), &[("grant_type", "client_credentials")]).await.json().await.unwrap();
        let (h, _) = verify_jwt(&app, t["access_token"].as_str().unwrap()).await;
        assert_eq!(format!("{:?}", h.alg), if alg == "ES256" { "ES256" } else { "EdDSA" });
        app.stop().await;
    }
}

#[actix_web::test]
async fn rt_4_grace_zero_is_strict() {
    let app = common::TestApp::spawn_with(|s| {
        s.tokens.refresh_reuse_grace_secs = 0;
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid", "offline_access"])
                .grants(&["authorization_code", "refresh_token"])
                .skip_consent()
                .build(),
        ];
    })
    .await;
    let t = exchange(&app, &code(&app, &[("scope", "openid offline_access")]).await).await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt1)]).await;
    let rt2 = r.json::<serde_json::Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string();
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt1)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant");
    let r = token(&app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "an immediate replay revokes the family");
}

#[actix_web::test]
async fn tokens_of_a_disabled_client_are_inactive() {
    let app = spawn().await;
    let t = exchange(&app, &code(&app, &[]).await).await;
    let at = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(&app, &at).await.status(), 200);
    app.state
        .db
        .write(|c| {
            let mut cl = bridgekeeper::store::clients::find(c, "app")?.unwrap();
            cl.disabled = true;
            bridgekeeper::store::clients::update(c, &cl)
        })
        .await
        .unwrap();
    assert_eq!(userinfo(&app, &at).await.status(), 401, "a disabled client's access token is refused");
}

#[actix_web::test]
async fn id_tokens_rs256_and_access_tokens_es256_from_one_jwks() {
    let app = common::TestApp::spawn_with(|s| {
        s.tokens.signing_alg = "RS256".into();
        s.tokens.access_token_alg = "ES256".into();
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid"])
                .grants(&["authorization_code"])
                .skip_consent()
                .build(),
        ];
    })
    .await;
    let t = exchange(&app, &code(&app, &[("scope", "openid")]).await).await;
    let (h_at, _) = verify_jwt(&app, t["access_token"].as_str().unwrap()).await;
    let (h_id, _) = verify_jwt(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(format!("{:?}", h_at.alg), "ES256");
    assert_eq!(format!("{:?}", h_id.alg), "RS256");
    assert_eq!(userinfo(&app, t["access_token"].as_str().unwrap()).await.status(), 200);
    let d: serde_json::Value =
        app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let algs = d["id_token_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&"RS256".into()));
}
