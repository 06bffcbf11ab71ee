//! `kind = "ldap"` against a real OpenLDAP slapd (tests/common/slapd.rs): the [LD-*] rules of docs/security.md.

mod common;

use common::TestApp;
use common::clients::ClientBuilder;
use common::oauth::{RP, SECRET, attr, auth_query, authorize, exchange, hidden, location, verify_jwt};
use common::slapd::{GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd};

struct World {
    app: TestApp,
    _providers: tempfile::TempDir,
}

fn provider_toml(url: &str, extra_ldap: &str) -> String {
    format!(
        r#"kind = "ldap"
display_name = "Corp directory"

[[group_rules]]
upstream = "admins"
group = "corp-admins"

[[group_rules]]
upstream = "cn=staff,{GROUPS}"
group = "corp-staff"

[ldap]
url = "{url}"
bind_dn = "{SERVICE_DN}"
bind_password = "{SERVICE_PASSWORD}"
user_base = "{PEOPLE}"
groups = "search"
group_base = "{GROUPS}"
connect_timeout_secs = 2
timeout_secs = 1
{extra_ldap}
"#
    )
}

async fn world_with(url: &str, extra_ldap: &str, tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> World {
    world_toml(&provider_toml(url, extra_ldap), tweak).await
}

async fn world_toml(toml: &str, tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> World {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("corp.toml"), toml).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(|s| {
        s.providers_dir = providers;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .grants(&["authorization_code", "refresh_token"])
                .redirect(RP)
                .scopes(&["openid", "profile", "email", "groups"])
                .build(),
        ];
        tweak(s);
    })
    .await;
    World { app, _providers: dir }
}

async fn world(slapd: &Slapd) -> World {
    world_with(&slapd.url, "", |_| {}).await
}

/// Starts an authorization and posts the LDAP form with these credentials (from `from`, an X-Forwarded-For
/// address, when given); returns the answer to the POST.
async fn post_login(app: &TestApp, username: &str, password: &str, from: Option<&str>) -> reqwest::Response {
    let q = auth_query(&[("scope", "openid profile email groups")]);
    let r = authorize(app, &q).await;
    assert_eq!(r.status(), 303);
    let r = app.http.get(app.url(&location(&r))).send().await.unwrap();
    // One provider: the chooser goes straight to it.
    assert!(r.status().is_redirection(), "{}", r.status());
    let page = app.http.get(app.url(&location(&r))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("type=\"password\""), "{page}");
    let form = [
        ("csrf", hidden(&page, "csrf")),
        ("req", hidden(&page, "req")),
        ("link", "false".to_string()),
        ("username", username.to_string()),
        ("password", password.to_string()),
    ];
    let mut post = app.http.post(app.url(&attr(&page, "action"))).form(&form);
    if let Some(ip) = from {
        post = post.header("x-forwarded-for", ip);
    }
    post.send().await.unwrap()
}

/// Follows a successful sign-in through consent to the app; returns the ID token's claims.
async fn id_claims(app: &TestApp, r: reqwest::Response) -> serde_json::Value {
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let loc = common::oauth::complete(app, r, "unused").await;
    let code = common::oauth::param(&loc, "code").unwrap();
    let tokens = exchange(app, &code).await;
    verify_jwt(app, tokens["id_token"].as_str().unwrap()).await.1
}

async fn assert_wrong_credentials(r: reqwest::Response) {
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(body.contains("Wrong username or password"), "{body}");
}

async fn identities(app: &TestApp) -> Vec<bridgekeeper::store::identities::Identity> {
    let users = app.state.db.run(|c| bridgekeeper::store::users::list(c, 1000, 0)).await.unwrap();
    let mut out = Vec::new();
    for u in users {
        let id = u.id.clone();
        out.extend(app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &id)).await.unwrap());
    }
    out
}

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

#[tokio::test]
async fn ld_7_failures_on_one_username_throttle_it_from_every_address_but_no_other_username() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "", |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.rate_limits.account_failures_per_minute = 3;
    })
    .await;
    // A budget of three failures a minute: the fourth guess at Ada, from four addresses, exhausts it…
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"] {
        assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", Some(ip)).await).await;
    }
    // …so a fourth, from a fresh address, even with her right password (and her name spelt otherwise), waits.
    let r = post_login(&w.app.view(), " ADA ", "ada-pw", Some("198.51.100.5")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // Bob, from the very addresses that guessed, is not held back.
    let bob = w.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", Some("198.51.100.1")).await).await;
}

#[tokio::test]
async fn ld_7_failures_from_one_address_throttle_that_address_and_username() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "", |s| {
        s.rate_limits.failures_per_minute = 2;
        s.rate_limits.account_failures_per_minute = 100;
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
