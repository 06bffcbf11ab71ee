//! RFC 8693 token exchange from the upstream token vault ([TX-1], [TX-2]): freshness, single-flight refresh with
//! rotation, two instances, upstream refusal and outage, deletion and resealing, against the fake upstream
//! (short-lived access tokens, rotating refresh tokens, refreshes counted at the fake).

mod common;

use common::exchange::*;
use common::oauth::*;

#[actix_web::test]
async fn tx_1_exchange_before_and_after_expiry_refreshes_upstream_once_with_rotation() {
    let w = world().await;
    let at = sign_in(&w).await;
    let rows = vault_rows(&w.app).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].access_token.as_deref().unwrap().starts_with("enc1:test:"), "sealed at rest");
    assert!(rows[0].refresh_token.as_deref().unwrap().starts_with("enc1:test:"), "sealed at rest");
    let first = ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(first["issued_token_type"], AT_TYPE);
    assert_eq!(first["token_type"], "Bearer");
    assert!(first.get("refresh_token").is_none(), "never an upstream refresh token");
    let up1 = first["access_token"].as_str().unwrap().to_string();
    assert_eq!(w.idp.token_user(&up1).as_deref(), Some("upstream-sub-1"), "the upstream's own token");
    assert_eq!(w.idp.refreshes(), 0, "fresh from the vault: no upstream call");
    let again = ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(again["access_token"], up1.as_str());
    // 300 s tokens, 30 s skew: 280 s later the stored token is about to expire.
    w.app.clock.advance(280);
    let second = ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    let up2 = second["access_token"].as_str().unwrap();
    assert_ne!(up2, up1, "a new upstream access token");
    assert_eq!(w.idp.refreshes(), 1, "refreshed upstream exactly once");
    assert_eq!(w.idp.token_user(up2).as_deref(), Some("upstream-sub-1"));
    assert!(second["expires_in"].as_i64().unwrap() > 250);
    let third = ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(third["access_token"], up2, "the refreshed token is kept");
    assert_eq!(w.idp.refreshes(), 1);
    // The rotated refresh token was committed: the next expiry refreshes again with it.
    w.app.clock.advance(280);
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(w.idp.refreshes(), 2, "the stored successor refresh token works (rotation kept)");
}

#[actix_web::test]
async fn tx_1_twenty_concurrent_exchanges_of_an_expiring_token_make_one_upstream_refresh() {
    let w = world().await;
    let at = sign_in(&w).await;
    w.app.clock.advance(280);
    w.idp.set_refresh_delay_ms(300);
    let tokens = concurrently(&[&w.app], 20, &at).await;
    assert_eq!(tokens.len(), 20);
    assert_eq!(w.idp.refreshes(), 1, "exactly one upstream refresh");
    assert!(tokens.iter().all(|t| t == &tokens[0]), "20 identical successes");
    assert_eq!(w.idp.token_user(&tokens[0]).as_deref(), Some("upstream-sub-1"));
}

#[actix_web::test]
async fn tx_1_two_instances_on_one_database_refresh_once() {
    let db = common::test_db();
    let shared = db.share();
    let w = world_on(db, None, None).await;
    let idp = w.idp.clone();
    // One issuer for both (the tokens A issues are B's too); sign-in happens at A.
    let b = world_on(shared, Some(idp), Some(w.app.base.clone())).await;
    let at = sign_in(&w).await;
    w.app.clock.advance(280);
    b.app.clock.advance(280);
    w.idp.set_refresh_delay_ms(400);
    let tokens = concurrently(&[&w.app, &b.app], 10, &at).await;
    assert_eq!(w.idp.refreshes(), 1, "one refresh across both instances");
    assert!(tokens.iter().all(|t| t == &tokens[0]), "both instances hand out the refreshed token");
}

/// Instance B's clock runs 20 s ahead of A's (more than the old lease of `upstream_timeout_secs` + 5 s): B must
/// still see A's lease as held while A's refresh is in flight, so the rotating refresh token is spent once.
#[actix_web::test]
async fn tx_1_a_lease_outlives_the_slowest_refresh_so_two_instances_never_spend_one_token_under_clock_skew() {
    let db = common::test_db();
    let shared = db.share();
    let w = world_on(db, None, None).await;
    let b = world_on(shared, Some(w.idp.clone()), Some(w.app.base.clone())).await;
    let at = sign_in(&w).await;
    w.app.clock.advance(280);
    b.app.clock.advance(300);
    w.idp.set_refresh_delay_ms(1500);
    let first = tokio::spawn({
        let (app, at) = (w.app.view(), at.clone());
        async move { ok_json(upstream_exchange(&app, ("app", SECRET), &at).await).await }
    });
    // A holds the lease and its refresh is at the upstream.
    while w.idp.refresh_requests_seen() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = ok_json(upstream_exchange(&b.app, ("app", SECRET), &at).await).await;
    let first = first.await.unwrap();
    assert_eq!(w.idp.refreshes(), 1, "one refresh across both instances despite the skew");
    assert_eq!(w.idp.refresh_requests_seen(), 1, "the refresh token was sent upstream once");
    assert_eq!(first["access_token"], second["access_token"]);
}

#[actix_web::test]
async fn tx_2_upstream_invalid_grant_marks_the_identity_and_upstream_down_changes_nothing() {
    let w = world().await;
    let at = sign_in(&w).await;
    w.app.clock.advance(280);
    w.idp.set_refresh_down(true);
    let before = vault_rows(&w.app).await;
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await, (503, "temporarily_unavailable".to_string()));
    let after = vault_rows(&w.app).await;
    assert_eq!(before[0].refresh_token, after[0].refresh_token, "nothing changes while the upstream is down");
    assert_eq!((after[0].lease_until, after[0].needs_sign_in), (0, false), "lease released");
    w.idp.set_refresh_down(false);
    w.idp.disable("upstream-sub-1");
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await, (400, "invalid_grant".to_string()));
    let rows = vault_rows(&w.app).await;
    assert!(rows[0].needs_sign_in && rows[0].refresh_token.is_none() && rows[0].access_token.is_none());
    let events = w.app.state.db.run(|c| bridgekeeper::store::audit::list(c, 100)).await.unwrap();
    assert!(events.iter().any(|e| e.event == "upstream_refresh_refused"), "audited");
    let calls = w.idp.state.lock().unwrap().token_requests.len();
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await.1, "invalid_grant");
    assert_eq!(w.idp.state.lock().unwrap().token_requests.len(), calls, "a marked identity is not retried upstream");
    // A new sign-in at the upstream brings fresh tokens and clears the mark.
    let again = sign_in(&w).await;
    let x = ok_json(upstream_exchange(&w.app, ("app", SECRET), &again).await).await;
    assert_eq!(w.idp.token_user(x["access_token"].as_str().unwrap()).as_deref(), Some("upstream-sub-1"));
    assert!(!vault_rows(&w.app).await[0].needs_sign_in);
}

#[actix_web::test]
async fn tx_1_unlink_and_disable_delete_the_vault_rows_and_the_sweeper_removes_unused_ones() {
    let w = world().await;
    let _ = sign_in(&w).await;
    assert_eq!(vault_rows(&w.app).await.len(), 1);
    let uid = w.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap()[0].id.clone();
    let now = w.app.clock.now();
    let u = uid.clone();
    w.app.state.db.write(move |c| bridgekeeper::store::users::set_disabled(c, &u, true, now)).await.unwrap();
    let n = w.app.state.db.run(bridgekeeper::store::vault::sealed).await.unwrap().len();
    assert_eq!(n, 0, "a disabled user's upstream tokens are gone");
    let u = uid.clone();
    w.app.state.db.write(move |c| bridgekeeper::store::users::set_disabled(c, &u, false, now)).await.unwrap();
    let _ = sign_in(&w).await;
    assert_eq!(w.app.state.db.run(bridgekeeper::store::vault::sealed).await.unwrap().len(), 1);
    // Unused for longer than token_retention_secs (30 days by default): swept.
    let policy = bridgekeeper::sweeper::policy(&w.app.state.settings());
    let later = now + 31 * 24 * 3600;
    let swept = w.app.state.db.run(move |c| bridgekeeper::store::gc::sweep(c, later, &policy, false)).await.unwrap();
    assert!(swept.iter().any(|(t, n)| *t == "upstream_tokens" && *n == 1), "{swept:?}");
    // Unlinking the identity takes its row with it (ON DELETE CASCADE).
    let _ = sign_in(&w).await;
    let u = uid.clone();
    let gone = w
        .app
        .state
        .db
        .run(move |c| {
            let i = bridgekeeper::store::identities::list_for_user(c, &u)?.remove(0);
            assert!(bridgekeeper::store::vault::find(c, &i.id)?.is_some());
            bridgekeeper::store::identities::delete(c, &u, &i.id)?;
            bridgekeeper::store::vault::find(c, &i.id)
        })
        .await
        .unwrap();
    assert!(gone.is_none(), "an unlinked identity's upstream tokens are gone");
}

#[actix_web::test]
async fn tx_1_vault_tokens_are_resealed_with_a_new_key_and_bound_to_their_row_and_field() {
    use bridgekeeper::crypto::Sealer;
    let w = world().await;
    let at = sign_in(&w).await;
    let new_key = "k2:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let both = Sealer::from_spec(&format!("{new_key},{}", common::TEST_ENCRYPTION_KEYS)).unwrap();
    let n = w.app.state.db.run(move |c| bridgekeeper::accounts::vault::reseal(c, &both)).await.unwrap();
    assert_eq!(n, 1);
    let row = vault_rows(&w.app).await.remove(0);
    let only_new = Sealer::from_spec(new_key).unwrap();
    let (access, refresh) = (row.access_token.unwrap(), row.refresh_token.unwrap());
    assert!(access.starts_with("enc1:k2:") && refresh.starts_with("enc1:k2:"));
    let ctx = |f: &str| format!("upstream_vault:{}:{f}", row.identity_id);
    let plain = String::from_utf8(only_new.open(&access, &ctx("access")).unwrap()).unwrap();
    assert_eq!(w.idp.token_user(&plain).as_deref(), Some("upstream-sub-1"), "the same upstream token");
    assert!(only_new.open(&access, &ctx("refresh")).is_err(), "bound to its field");
    assert!(only_new.open(&access, "upstream_vault:other:access").is_err(), "bound to its row");
    assert!(only_new.open(&refresh, &ctx("refresh")).is_ok());
    // The app (which still has the old key only) cannot open them now: the exchange fails closed, not open.
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert!(r.status().is_server_error() || r.status() == 400, "{}", r.status());
}

#[actix_web::test]
async fn tx_2_refresh_upstream_with_store_tokens_rechecks_through_the_vault_with_one_rotating_token() {
    let w = world_with(common::test_db(), None, None, "refresh_upstream = true\n").await;
    let t = sign_in_as(&w, ("app", SECRET, RP)).await;
    let mut rt = t["refresh_token"].as_str().unwrap().to_string();
    for round in 1..=2 {
        let r = token(&w.app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
        let body = ok_json(r).await;
        rt = body["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(w.idp.refreshes(), round, "each downstream refresh re-checks upstream once");
        // The exchange hands the token that re-check stored: no second upstream refresh.
        let x = ok_json(upstream_exchange(&w.app, ("app", SECRET), body["access_token"].as_str().unwrap()).await).await;
        assert_eq!(w.idp.token_user(x["access_token"].as_str().unwrap()).as_deref(), Some("upstream-sub-1"));
        assert_eq!(w.idp.refreshes(), round);
    }
    // The exchange's own refresh uses the same (latest) upstream refresh token: it was not spent twice.
    w.app.clock.advance(280);
    let r = token(&w.app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
    let body = ok_json(r).await;
    rt = body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(w.idp.refreshes(), 3);
    w.app.clock.advance(280);
    ok_json(upstream_exchange(&w.app, ("app", SECRET), body["access_token"].as_str().unwrap()).await).await;
    assert_eq!(w.idp.refreshes(), 4, "the vault refreshed with the token the re-check stored");
    w.idp.disable("upstream-sub-1");
    let r = token(&w.app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
    assert_eq!(json_error(r).await.1, "invalid_grant", "the upstream refused: the downstream grant ends");
    assert!(vault_rows(&w.app).await[0].needs_sign_in);
}

/// The vault-fresh exchange's throughput (no upstream call): `cargo test --release --test token_exchange --
/// --ignored --nocapture bench_vault_fresh_exchange_throughput` (BK_BENCH_SECS, default 5; BK_BENCH_CONCURRENCY,
/// default 32; BK_BENCH_WORKERS, default 2). The load generator runs in the same process and shares the cores:
/// the figure is a floor for the broker alone. Target (issue 14): >= 5,000/s on SQLite.
#[actix_web::test]
#[ignore]
async fn bench_vault_fresh_exchange_throughput() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (secs, conc, workers) = (env("BK_BENCH_SECS", 5), env("BK_BENCH_CONCURRENCY", 32), env("BK_BENCH_WORKERS", 2));
    let w = world().await;
    let at = sign_in(&w).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let server = bridgekeeper::server::start(w.app.state.clone(), listener, Some(workers as usize)).unwrap();
    tokio::spawn(server);
    let http = reqwest::Client::new();
    let body = format!(
        "grant_type={}&subject_token={at}&subject_token_type={}&resource={}",
        enc(GRANT),
        enc(AT_TYPE),
        enc(ACME)
    );
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut bad) = (0u64, 0u64);
            while std::time::Instant::now() < until {
                let r = http
                    .post(&url)
                    .basic_auth("app", Some(enc(SECRET)))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => ok += 1,
                    _ => bad += 1,
                }
            }
            (ok, bad)
        }));
    }
    let (mut ok, mut bad) = (0, 0);
    for t in tasks {
        let (o, b) = t.await.unwrap();
        ok += o;
        bad += b;
    }
    let rate = ok as f64 / started.elapsed().as_secs_f64();
    println!("vault-fresh token exchange: {ok} ok, {bad} failed, {rate:.0}/s ({conc} connections, {workers} workers)");
    assert_eq!(bad, 0);
    assert_eq!(w.idp.refreshes(), 0, "answered from the vault: no upstream call");
}

/// A second identity at acme linked from the account page: its sign-in's tokens are its own row, so unlinking it
/// takes them with it, and the first identity's tokens are untouched.
#[actix_web::test]
async fn tx_1_unlinking_an_identity_removes_the_tokens_its_sign_in_stored() {
    let w = world().await;
    let browser = w.app.view();
    let at = sign_in_with(&browser, ("app", SECRET, RP)).await["access_token"].as_str().unwrap().to_string();
    let first = ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    let first = first["access_token"].as_str().unwrap().to_string();
    w.idp.set_user(common::fake_idp::User::new("upstream-sub-2", "ada.work@example.com"));
    let page = browser.http.get(browser.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let mut r = browser
        .http
        .post(browser.url("/account/link"))
        .form(&[("csrf", csrf.as_str()), ("provider", "acme")])
        .send()
        .await
        .unwrap();
    while r.status().is_redirection() && location(&r) != "/account" {
        let loc = location(&r);
        r = if loc.starts_with('/') { browser.http.get(browser.url(&loc)) } else { browser.http.get(&loc) }
            .send()
            .await
            .unwrap();
    }
    assert_eq!(location(&r), "/account", "linked");
    let uid = w.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap()[0].id.clone();
    let u = uid.clone();
    let idents = w.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &u)).await.unwrap();
    assert_eq!(idents.len(), 2, "two identities at acme");
    let (a, b) = (idents[0].id.clone(), idents[1].id.clone());
    let ib = b.clone();
    let row_b = w.app.state.db.run(move |c| bridgekeeper::store::vault::find(c, &ib)).await.unwrap();
    assert!(row_b.is_some(), "the linking sign-in's tokens are kept for the identity that signed in");
    let (u, ib) = (uid.clone(), b.clone());
    w.app.state.db.run(move |c| bridgekeeper::store::identities::delete(c, &u, &ib)).await.unwrap();
    let rows = vault_rows(&w.app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].identity_id, a, "only the first identity's row is left");
    let x = ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(x["access_token"], first.as_str(), "the first identity's upstream token, not the unlinked one's");
}

/// Upstream access tokens of 20 s with a 30 s `refresh_skew_secs`: the skew is capped at half the token's
/// lifetime, so a just-refreshed token is fresh and 20 callers share one refresh.
#[actix_web::test]
async fn tx_1_a_token_shorter_lived_than_the_skew_is_refreshed_once_for_twenty_callers() {
    let w = world().await;
    w.idp.set_access_ttl(20);
    let at = sign_in(&w).await;
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(w.idp.refreshes(), 0, "fresh after the sign-in");
    w.app.clock.advance(15);
    w.idp.set_refresh_delay_ms(300);
    let tokens = concurrently(&[&w.app], 20, &at).await;
    assert_eq!(w.idp.refreshes(), 1, "one refresh for twenty callers");
    assert!(tokens.iter().all(|t| t == &tokens[0]));
}

/// `token_retention_secs` at its largest: keeping and touching the row saturate instead of overflowing.
#[actix_web::test]
async fn tx_1_extreme_retention_does_not_overflow() {
    let w = world_with(common::test_db(), None, None, "token_retention_secs = 9223372036854775807\n").await;
    let at = sign_in(&w).await;
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    // More than a minute later the use is recorded (`touch`), and a refresh commits and touches again.
    w.app.clock.advance(120);
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    w.app.clock.advance(200);
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(w.idp.refreshes(), 1);
    assert_eq!(vault_rows(&w.app).await[0].expires_at, i64::MAX);
}

async fn set_sealed(w: &World, access: Option<&str>, refresh: Option<&str>) {
    let row = vault_rows(&w.app).await.remove(0);
    let (iid, generation) = (row.identity_id.clone(), row.generation);
    let access = access.map(String::from).or(row.access_token);
    let refresh = refresh.map(String::from).or(row.refresh_token);
    w.app
        .state
        .db
        .run(move |c| {
            bridgekeeper::store::vault::set_sealed(c, (&iid, generation), access.as_deref(), refresh.as_deref())
        })
        .await
        .unwrap();
}

/// A stored refresh token that does not open is `invalid_grant` ("sign in again"), never a 500: a corrupt one
/// clears the row's tokens (it can never open) and releases the lease; one sealed with a key no longer in
/// `encryption_keys` keeps the row (restoring the key brings it back); a sign-in replaces either. A corrupt access
/// token alone is refreshed.
#[actix_web::test]
async fn tx_10_a_stored_token_that_does_not_open_is_invalid_grant_and_does_not_wedge_the_grant() {
    let w = world().await;
    let at = sign_in(&w).await;
    set_sealed(&w, Some("enc1:test:garbage"), None).await;
    let x = ok_json(upstream_exchange(&w.app, ("app", SECRET), &at).await).await;
    assert_eq!(w.idp.refreshes(), 1, "a corrupt access token is replaced by a refresh");
    assert_eq!(w.idp.token_user(x["access_token"].as_str().unwrap()).as_deref(), Some("upstream-sub-1"));
    // A lost key: invalid_grant, the row stays as it is.
    set_sealed(&w, None, Some("enc1:gone:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    w.app.clock.advance(280);
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await, (400, "invalid_grant".to_string()));
    let after = vault_rows(&w.app).await.remove(0);
    assert_eq!((after.lease_until, after.lease_id.as_deref(), after.needs_sign_in), (0, None, false));
    assert!(after.refresh_token.as_deref().unwrap().starts_with("enc1:gone:"), "kept for the key's return");
    // A corrupt one: invalid_grant, the tokens go, the lease is released.
    set_sealed(&w, None, Some("enc1:test:garbage")).await;
    let r = upstream_exchange(&w.app, ("app", SECRET), &at).await;
    assert_eq!(json_error(r).await, (400, "invalid_grant".to_string()));
    let after = vault_rows(&w.app).await.remove(0);
    assert_eq!((after.lease_until, after.lease_id.as_deref(), after.needs_sign_in), (0, None, true));
    assert!(after.refresh_token.is_none() && after.access_token.is_none());
    assert_eq!(w.idp.refresh_requests_seen(), 1, "neither was sent upstream");
    let again = sign_in(&w).await;
    ok_json(upstream_exchange(&w.app, ("app", SECRET), &again).await).await;
}

async fn legacy_token(app: &common::TestApp) -> Option<String> {
    let uid = app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap()[0].id.clone();
    app.state
        .db
        .run(move |c| {
            let i = bridgekeeper::store::identities::list_for_user(c, &uid)?.remove(0);
            bridgekeeper::store::identities::sealed_upstream_token(c, &i.id)
        })
        .await
        .unwrap()
}

async fn refresh(app: &common::TestApp, rt: &str) -> reqwest::Response {
    token(app, ("app", SECRET), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await
}

/// `store_tokens` turned off: the provider's vault rows go when the broker starts; with `refresh_upstream` still
/// on, the refresh token moves to the identity first, so the re-check of grants signed in before goes on. The
/// provider's tokens are no longer handed out.
#[actix_web::test]
async fn tx_11_turning_store_tokens_off_purges_the_providers_vault_rows() {
    for recheck in [true, false] {
        let db = common::test_db();
        let shared = db.share();
        let more = if recheck { "refresh_upstream = true\n" } else { "" };
        let w = world_with(db, None, None, more).await;
        let t = sign_in_as(&w, ("app", SECRET, RP)).await;
        assert_eq!(vault_rows(&w.app).await.len(), 1);
        assert!(legacy_token(&w.app).await.is_none());
        let b = world_raw(shared, Some(w.idp.clone()), Some(w.app.base.clone()), more).await;
        assert!(vault_rows(&b.app).await.is_empty(), "recheck={recheck}: purged at start");
        assert_eq!(legacy_token(&b.app).await.is_some(), recheck, "the refresh token moved to the identity");
        let r = upstream_exchange(&b.app, ("app", SECRET), t["access_token"].as_str().unwrap()).await;
        assert_eq!(json_error(r).await.1, "invalid_target", "no upstream token for a provider without store_tokens");
        if recheck {
            ok_json(refresh(&b.app, t["refresh_token"].as_str().unwrap()).await).await;
            assert_eq!(w.idp.refreshes(), 1, "the re-check used the moved token");
        }
    }
}

/// `store_tokens` turned on for a `refresh_upstream` provider: a grant signed in before has no vault row; its
/// re-check (or an exchange) uses the identity's own refresh token once and moves the answer into the vault (not a
/// refusal that would revoke the grant), and what follows goes through the vault.
#[actix_web::test]
async fn tx_11_enabling_store_tokens_does_not_revoke_grants_signed_in_before() {
    for via_exchange in [false, true] {
        let db = common::test_db();
        let shared = db.share();
        let w = world_raw(db, None, None, "refresh_upstream = true\n").await;
        let t = sign_in_as(&w, ("app", SECRET, RP)).await;
        assert!(legacy_token(&w.app).await.is_some());
        let b = world_with(shared, Some(w.idp.clone()), Some(w.app.base.clone()), "refresh_upstream = true\n").await;
        assert!(vault_rows(&b.app).await.is_empty());
        let mut rt = t["refresh_token"].as_str().unwrap().to_string();
        if via_exchange {
            // The person allowed the app to act for them (the consent page of the instance with store_tokens).
            let uid = b.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap()[0].id.clone();
            let now = b.app.clock.now();
            b.app
                .state
                .db
                .run(move |c| bridgekeeper::store::vault::allow_exchange(c, &uid, "app", "acme", now))
                .await
                .unwrap();
            let x =
                ok_json(upstream_exchange(&b.app, ("app", SECRET), t["access_token"].as_str().unwrap()).await).await;
            assert_eq!(w.idp.token_user(x["access_token"].as_str().unwrap()).as_deref(), Some("upstream-sub-1"));
        } else {
            rt = ok_json(refresh(&b.app, &rt).await).await["refresh_token"].as_str().unwrap().to_string();
        }
        assert_eq!(w.idp.refreshes(), 1, "via_exchange={via_exchange}");
        assert_eq!(vault_rows(&b.app).await.len(), 1, "the answer is in the vault");
        assert!(legacy_token(&b.app).await.is_none(), "one copy of the rotating token");
        ok_json(refresh(&b.app, &rt).await).await;
        assert_eq!(w.idp.refreshes(), 2, "the next re-check refreshed through the vault with the rotated token");
    }
}
