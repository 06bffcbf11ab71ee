//! `kind = "ldap"` against a real OpenLDAP slapd (tests/common/slapd.rs): the [LD-*] rules of docs/security.md.

#[path = "ldap/budget.rs"]
mod budget;
mod common;
#[path = "ldap/relay.rs"]
mod ldap_relay;
#[path = "ldap/world.rs"]
mod ldap_world;
#[path = "ldap/shared.rs"]
mod shared;

use common::TestApp;
use common::broker::Broker;
use common::slapd::{PEOPLE, SERVICE_PASSWORD, Slapd};
use ldap_world::*;

#[tokio::test]
async fn ld_2_5_a_good_login_signs_in_with_the_entry_uuid_as_subject_claims_and_mapped_groups() {
    let slapd = Slapd::start().await;
    let w = world(&slapd).await;
    let claims = id_claims(&w.app, post_login(&w.app, "ada", "ada-pw", None).await).await;
    assert_eq!(claims["email"], "ada@example.org");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["preferred_username"], "ada");
    // [LD-6] The directory's mail is not verified unless the admin says so.
    assert_eq!(claims["email_verified"], false);
    // [LD-5] By name (cn=admins) and by DN (cn=staff,…), only through group_rules.
    assert_eq!(claims["groups"], serde_json::json!(["corp-admins", "corp-staff"]));
    let ids = identities(&w.app).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].provider, "corp");
    assert_eq!(ids[0].subject, slapd.entry_uuid("ada").await, "the subject is entryUUID, never the DN");
    assert_eq!(ids[0].issuer, "urn:bridgekeeper:ldap:corp");

    // Bob is only staff; a second sign-in of Ada finds the same identity.
    let bob = w.app.view();
    let claims = id_claims(&bob, post_login(&bob, "bob", "bob-pw", None).await).await;
    assert_eq!(claims["groups"], serde_json::json!(["corp-staff"]));
    let again = w.app.view();
    id_claims(&again, post_login(&again, "ADA", "ada-pw", None).await).await;
    assert_eq!(identities(&w.app).await.len(), 2);
}

#[tokio::test]
async fn ld_2_a_wrong_password_and_an_unknown_user_get_the_same_page() {
    let slapd = Slapd::start().await;
    let w = world(&slapd).await;
    let wrong = post_login(&w.app, "ada", "not-her-password", None).await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap();
    let unknown = post_login(&w.app.view(), "nobody", "whatever", None).await;
    assert_eq!(wrong_status, 401);
    assert_eq!(unknown.status(), wrong_status);
    let unknown_body = unknown.text().await.unwrap();
    let strip = |b: &str| b.lines().filter(|l| !l.contains("Request id")).collect::<Vec<_>>().join("\n");
    assert!(wrong_body.contains("Wrong username or password"));
    assert_eq!(strip(&wrong_body), strip(&unknown_body));
    assert!(identities(&w.app).await.is_empty());
    // [MT-4] Both counted as rejected for the one reason the page gives (never the name typed).
    let m = String::from_utf8_lossy(&w.app.state.metrics.render()).to_string();
    let line = m.lines().find(|l| l.starts_with("bridgekeeper_logins_total") && l.contains("outcome=\"rejected\""));
    assert!(line.is_some_and(|l| l.contains("reason=\"password\"") && l.ends_with(" 2")), "{m}");
}

#[tokio::test]
async fn ld_3_injection_in_the_username_never_matches_another_entry() {
    let slapd = Slapd::start().await;
    let w = world(&slapd).await;
    // Each with Bob's real password: unescaped, `b*` and `bo*` would find exactly Bob and sign in as him.
    for name in ["b*", "bo*", "*", "*)(uid=*", "bob)(|(uid=*", "admin)(|(uid=*", "bob\0", "bob\\2a", "(uid=bob)"] {
        let v = w.app.view();
        assert_wrong_credentials(post_login(&v, name, "bob-pw", None).await).await;
    }
    assert!(identities(&w.app).await.is_empty());
}

#[tokio::test]
async fn ld_4_an_empty_password_is_refused_without_a_bind() {
    let slapd = Slapd::start().await;
    // This directory answers an unauthenticated bind (a DN, no password) with success, as many do.
    assert!(slapd.bind(&format!("uid=ada,{PEOPLE}"), "").await);
    let w = world(&slapd).await;
    assert_wrong_credentials(post_login(&w.app, "ada", "", None).await).await;
    assert!(identities(&w.app).await.is_empty());
}

#[tokio::test]
async fn ld_8_a_directory_that_is_down_or_silent_gets_a_clear_page_not_a_500_or_a_hang() {
    let mut slapd = Slapd::start().await;
    let w = world(&slapd).await;
    slapd.stop();
    let r = post_login(&w.app, "ada", "ada-pw", None).await;
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("Sign-in unavailable"));

    // A server that accepts the connection and never answers: the operation timeout (1 s) ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    let w = world_with(&url, "", |_| {}).await;
    let started = std::time::Instant::now();
    let r = post_login(&w.app, "ada", "ada-pw", None).await;
    assert_eq!(r.status(), 503);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    held.abort();

    // A wrong service password is the directory's trouble, not the person's: the same page.
    let slapd = Slapd::start().await;
    let w = world_toml(&provider_toml(&slapd.url, "").replace(SERVICE_PASSWORD, "wrong"), |_| {}).await;
    assert_eq!(post_login(&w.app, "ada", "ada-pw", None).await.status(), 503);
}

const ADA_DN: &str = "uid=ada,ou=people,dc=example,dc=org";

fn from_many_addresses(s: &mut bridgekeeper::settings::Settings) {
    s.trusted_proxies = vec!["127.0.0.1/32".into()];
}

#[tokio::test]
async fn ld_7_a_guesser_never_drives_the_directory_into_its_lockout() {
    // The directory locks an entry for good after 6 wrong passwords (ppolicy); the broker's budget is 5 (default).
    let slapd = Slapd::start_with_lockout(6).await;
    let w = world_with(&slapd.url, "", from_many_addresses).await;
    for i in 0..12 {
        let r = post_login(&w.app.view(), "ada", "guess", Some(&format!("198.51.100.{i}"))).await;
        if i < 5 {
            assert_wrong_credentials(r).await;
        } else {
            assert_eq!(r.status(), 429, "guess {i}");
            assert!(r.headers().get("retry-after").is_some());
        }
    }
    assert_eq!(slapd.binds_of(ADA_DN), 5, "the directory saw exactly the budget");
    assert_eq!(slapd.failures_of("ada").await, 5);
    assert!(!slapd.is_locked("ada").await, "the directory never locked Ada");
    assert!(slapd.bind(ADA_DN, "ada-pw").await, "Ada can still bind at the directory itself");
    // Through the broker even her right password waits out the window (without a bind), other people do not.
    let binds = slapd.binds_of(ADA_DN);
    assert_eq!(post_login(&w.app.view(), "ada", "ada-pw", Some("203.0.113.9")).await.status(), 429);
    assert_eq!(slapd.binds_of(ADA_DN), binds, "a spent budget is refused without a bind");
    let bob = w.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", Some("198.51.100.1")).await).await;
    // After 15 minutes without a failure the count starts again.
    w.app.clock.advance(899);
    assert_eq!(post_login(&w.app.view(), "ada", "ada-pw", Some("203.0.113.9")).await.status(), 429);
    w.app.clock.advance(1);
    let ada = w.app.view();
    id_claims(&ada, post_login(&ada, "ada", "ada-pw", Some("203.0.113.9")).await).await;
}

#[tokio::test]
async fn ld_7_the_budget_is_set_per_provider_and_a_success_clears_it() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "max_failures = 2\nfailure_window_secs = 60", from_many_addresses).await;
    assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", Some("198.51.100.1")).await).await;
    let ada = w.app.view();
    id_claims(&ada, post_login(&ada, "ada", "ada-pw", Some("198.51.100.2")).await).await;
    for ip in ["198.51.100.3", "198.51.100.4"] {
        assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", Some(ip)).await).await;
    }
    assert_eq!(post_login(&w.app.view(), "ada", "ada-pw", Some("198.51.100.5")).await.status(), 429);
    w.app.clock.advance(60);
    let ada = w.app.view();
    id_claims(&ada, post_login(&ada, "ada", "ada-pw", Some("198.51.100.5")).await).await;
}

#[tokio::test]
async fn ld_7a_variants_of_a_username_share_one_budget() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "", from_many_addresses).await;
    // Full-width letters and a zero-width space reach Ada's entry at the directory (RFC 4518 string preparation),
    // so they are Ada, and her budget.
    let variants = ["ada", "ＡＤＡ", "a\u{200B}da", " Ada ", "aDa\u{00AD}"];
    for (i, v) in variants.iter().enumerate() {
        assert_wrong_credentials(post_login(&w.app.view(), v, "guess", Some(&format!("198.51.100.{i}"))).await).await;
    }
    for v in ["ada", "ＡＤＡ", "a\u{2060}da"] {
        assert_eq!(post_login(&w.app.view(), v, "ada-pw", Some("198.51.100.9")).await.status(), 429, "{v:?}");
    }
    assert!(slapd.binds_of(ADA_DN) <= 5, "{}", slapd.binds_of(ADA_DN));
    // Names the directory does not know share a budget by their normalised form.
    let unknown = ["nobody", "ＮＯＢＯＤＹ", "no\u{200B}body", " Nobody", "NOBODY\u{FEFF}"];
    for (i, v) in unknown.iter().enumerate() {
        assert_wrong_credentials(post_login(&w.app.view(), v, "guess", Some(&format!("198.51.100.{}", 20 + i))).await)
            .await;
    }
    assert_eq!(post_login(&w.app.view(), "ｎｏｂｏｄｙ", "guess", Some("198.51.100.30")).await.status(), 429);
    let bob = w.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", Some("198.51.100.1")).await).await;
}

#[tokio::test]
async fn ld_7b_concurrent_wrong_passwords_reach_the_directory_at_most_the_budget() {
    let slapd = Slapd::start_with_lockout(6).await;
    let w = world_with(&slapd.url, "", from_many_addresses).await;
    let mut forms = Vec::new();
    for i in 0..16 {
        forms.push(login_form(&w.app.view(), "ada", "guess", Some(&format!("198.51.100.{i}"))).await);
    }
    // All sent at once: each passes the address checks before any failure is known.
    let answers = futures_util::future::join_all(forms.into_iter().map(|f| f.send())).await;
    let statuses: Vec<u16> = answers.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    // One in flight and one waiting per account: the others are told at once (busy, or 429 once spent).
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    assert!((1..=5).contains(&wrong), "{statuses:?}");
    assert!(statuses.iter().all(|s| [401, 429, 503].contains(s)), "{statuses:?}");
    assert_eq!(slapd.binds_of(ADA_DN), wrong);
    assert!(!slapd.is_locked("ada").await);
}

#[tokio::test]
async fn ld_7b_over_the_connection_cap_a_try_again_page_not_a_hang() {
    // A directory that accepts connections and never answers: a sign-in holds its connection for timeout_secs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
            let _ = accepted_tx.send(());
        }
    });
    let w = world_with(&url, "max_connections = 1", |_| {}).await;
    let first = login_form(&w.app.view(), "ada", "ada-pw", None).await;
    let second = login_form(&w.app.view(), "bob", "bob-pw", None).await;
    let first = tokio::spawn(first.send());
    // Two connections: the start-up health check's (never counted against the cap) and the first sign-in's.
    accepted.recv().await.unwrap();
    accepted.recv().await.unwrap();
    // The one connection is in use: the next sign-in is told to try again at once, and opens no connection.
    let r = second.send().await.unwrap();
    assert!(!first.is_finished(), "answered while the first still holds the connection (1 s timeout): no queue");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    assert!(r.text().await.unwrap().contains("try again in a moment"));
    assert_eq!(first.await.unwrap().unwrap().status(), 503, "the silent directory times out");
    assert!(accepted.try_recv().is_err(), "the second sign-in opened no connection");
    held.abort();
}

#[tokio::test]
async fn ld_7c_an_overlong_username_is_refused_before_any_budget_is_kept() {
    let slapd = Slapd::start().await;
    let w = world(&slapd).await;
    for n in [257, 10_000] {
        assert_wrong_credentials(post_login(&w.app.view(), &"a".repeat(n), "guess", None).await).await;
    }
    assert!(w.app.state.passwords.is_empty(), "no account key was built");
    assert_eq!((slapd.searches(), slapd.person_binds()), (0, 0), "the directory was not asked");
    assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", None).await).await;
    assert!(!w.app.state.passwords.is_empty());
}

#[tokio::test]
async fn ld_7_failures_from_one_address_throttle_that_address_and_username() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "max_failures = 100", |s| {
        s.rate_limits.failures_per_minute = 2;
    })
    .await;
    // Two failures a minute from one address at one username; the third exhausts it.
    for _ in 0..3 {
        assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", None).await).await;
    }
    assert_eq!(post_login(&w.app.view(), "ada", "ada-pw", None).await.status(), 429);
    // Another username from the same address is not held back.
    let bob = w.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", None).await).await;
}

#[tokio::test]
async fn ld_9_an_unknown_user_costs_the_directory_what_a_wrong_password_does() {
    let slapd = Slapd::start().await;
    let w = world(&slapd).await;
    assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", None).await).await;
    let wrong = (slapd.searches(), slapd.person_binds());
    assert_wrong_credentials(post_login(&w.app.view(), "nobody", "guess", None).await).await;
    let unknown = (slapd.searches() - wrong.0, slapd.person_binds() - wrong.1);
    assert_eq!(wrong, (1, 1), "a search and Ada's bind");
    assert_eq!(unknown, wrong, "a search and a bind for nobody too");
    let probe = slapd.bound_dns().pop().unwrap();
    assert!(probe.ends_with(PEOPLE) && !probe.contains("nobody"), "a DN that names no entry: {probe}");
}

#[test]
fn ld_1_providers_check_refuses_plain_ldap_to_a_remote_host_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("corp.toml");
    let check = |text: String| {
        std::fs::write(&f, text).unwrap();
        bridgekeeper::upstream::config::check_dir(dir.path(), &[]).1
    };
    let problems = check(provider_toml("ldap://dir.example.org", ""));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("ldap.url") && problems[0].contains("in the clear"), "{problems:?}");
    assert!(check(provider_toml("ldap://dir.example.org", "insecure = true")).is_empty());
    assert!(check(provider_toml("ldap://dir.example.org", "start_tls = true")).is_empty());
    assert!(check(provider_toml("ldaps://dir.example.org", "")).is_empty());
    assert!(check(provider_toml("ldap://127.0.0.1:389", "")).is_empty());
    // The subject is never the DN; a filter must take the username; the password comes from the environment.
    let p = check(provider_toml("ldaps://d", "subject_attribute = \"distinguishedName\""));
    assert!(p[0].contains("ldap.subject_attribute"), "{p:?}");
    let p = check(provider_toml("ldaps://d", "user_filter = \"(uid=ada)\""));
    assert!(p[0].contains("ldap.user_filter"), "{p:?}");
    let p = check(provider_toml("ldaps://d", "").replace(SERVICE_PASSWORD, "${NOT_SET_LDAP_PW}"));
    assert!(p[0].contains("NOT_SET_LDAP_PW"), "{p:?}");
    let ok = bridgekeeper::upstream::config::parse(
        &provider_toml("ldaps://d", "").replace(SERVICE_PASSWORD, "${LDAP_PW}"),
        &f,
        &[("LDAP_PW".into(), "from-env".into())],
    )
    .unwrap();
    assert_eq!(ok.ldap.unwrap().bind_password.expose(), "from-env");
    // The presets ship disabled and load as they are.
    let presets = bridgekeeper::upstream::config::check_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/providers")),
        &[],
    );
    assert!(presets.1.is_empty(), "{:?}", presets.1);
    for id in ["ldap", "active-directory"] {
        assert!(presets.0.iter().any(|p| p.id == id && !p.enabled), "{id}");
    }
}

/// The answer's status to a sign-in at the broker of a reload test (its app asks `openid email`, no consent).
async fn status_of(app: &TestApp, username: &str, password: &str, from: &str) -> u16 {
    let form = login_form_asking(&app.view(), "openid email", username, password, Some(from)).await;
    form.send().await.unwrap().status().as_u16()
}

/// [LD-10] A reload puts a changed directory in force like any provider (a rotated service password
/// alone is a new generation) and never starts the failure budgets afresh: not when `[rate_limits]` change, not
/// when the provider does. A password form of a provider the reload removed gets the unknown-method page.
#[tokio::test]
async fn ld_10_a_reload_keeps_the_failure_budgets_and_puts_a_changed_directory_in_force() {
    let slapd = Slapd::start().await;
    let (top, corp) = ("trusted_proxies = [\"127.0.0.1/32\"]", provider_toml(&slapd.url, "max_failures = 2"));
    let b = Broker::start_with_top(&[("corp.toml", corp.clone())], top).await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(status_of(&b.app, "ada", "guess", ip).await, 401);
    }
    assert_eq!(status_of(&b.app, "ada", "ada-pw", "198.51.100.3").await, 429);
    b.config(top, "[rate_limits]\nfailures_per_minute = 29\n");
    b.write("corp.toml", &corp.replace(SERVICE_PASSWORD, "rotated-service-password"));
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!(["corp"])), "{body}");
    assert!(body["warnings"].to_string().contains("corp: discovery failed"), "the new service bind fails: {body}");
    assert_eq!(status_of(&b.app, "bob", "bob-pw", "198.51.100.4").await, 503, "the new settings are in force");
    assert_eq!(status_of(&b.app, "ada", "ada-pw", "198.51.100.5").await, 429, "the budget outlived the reload");
    b.write("corp.toml", &corp);
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!(["corp"])), "{body}");
    assert_eq!(status_of(&b.app, "bob", "bob-pw", "198.51.100.6").await, 303, "signed in with the settings back");
    assert_eq!(status_of(&b.app, "ada", "ada-pw", "198.51.100.7").await, 429, "and a second generation");
    assert_eq!(slapd.binds_of(ADA_DN), 2, "the directory saw the budget, no more");
    let pending = login_form_asking(&b.app.view(), "openid email", "bob", "bob-pw", None).await;
    b.remove("corp.toml");
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["removed"]), (200, &serde_json::json!(["corp"])), "{body}");
    let r = pending.send().await.unwrap();
    assert_eq!(r.status(), 404, "a form of the removed provider is an unknown method");
    assert!(r.text().await.unwrap().contains("Unknown sign-in method"));
}
