//! The world of the LDAP tests: an app with one ldap provider (`corp`) in front of a directory, and a browser
//! that signs in through the form.

use crate::common::TestApp;
use crate::common::clients::ClientBuilder;
use crate::common::oauth::{RP, SECRET, attr, auth_query, authorize, exchange, hidden, location, verify_jwt};
use crate::common::slapd::{GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd};

pub struct World {
    pub app: TestApp,
    _providers: tempfile::TempDir,
}

pub fn provider_toml(url: &str, extra_ldap: &str) -> String {
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

pub async fn world_with(
    url: &str,
    extra_ldap: &str,
    tweak: impl FnOnce(&mut bridgekeeper::settings::Settings),
) -> World {
    world_toml(&provider_toml(url, extra_ldap), tweak).await
}

pub async fn world_toml(toml: &str, tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> World {
    world_toml_on(crate::common::test_db(), toml, tweak).await
}

/// The same on an existing database (several instances can share one).
pub async fn world_toml_on(
    db: crate::common::TestDb,
    toml: &str,
    tweak: impl FnOnce(&mut bridgekeeper::settings::Settings),
) -> World {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("corp.toml"), toml).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_on(db, |s| {
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

pub async fn world(slapd: &Slapd) -> World {
    world_with(&slapd.url, "", |_| {}).await
}

/// Starts an authorization and posts the LDAP form with these credentials (from `from`, an X-Forwarded-For
/// address, when given); returns the answer to the POST.
pub async fn post_login(app: &TestApp, username: &str, password: &str, from: Option<&str>) -> reqwest::Response {
    login_form(app, username, password, from).await.send().await.unwrap()
}

/// The LDAP form of a fresh authorization, filled in and ready to be sent (so that many can be sent at once).
pub async fn login_form(app: &TestApp, username: &str, password: &str, from: Option<&str>) -> reqwest::RequestBuilder {
    login_form_asking(app, "openid profile email groups", username, password, from).await
}

/// The same, for an authorization asking `scope`.
pub async fn login_form_asking(
    app: &TestApp,
    scope: &str,
    username: &str,
    password: &str,
    from: Option<&str>,
) -> reqwest::RequestBuilder {
    let q = auth_query(&[("scope", scope)]);
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
    post
}

/// Follows a successful sign-in through consent to the app; returns the ID token's claims.
pub async fn id_claims(app: &TestApp, r: reqwest::Response) -> serde_json::Value {
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let loc = crate::common::oauth::complete(app, r, "unused").await;
    let code = crate::common::oauth::param(&loc, "code").unwrap();
    let tokens = exchange(app, &code).await;
    verify_jwt(app, tokens["id_token"].as_str().unwrap()).await.1
}

pub async fn assert_wrong_credentials(r: reqwest::Response) {
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(body.contains("Wrong username or password"), "{body}");
}

pub async fn identities(app: &TestApp) -> Vec<bridgekeeper::store::identities::Identity> {
    let users = app.state.db.run(|c| bridgekeeper::store::users::list(c, 1000, 0)).await.unwrap();
    let mut out = Vec::new();
    for u in users {
        let id = u.id.clone();
        out.extend(app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &id)).await.unwrap());
    }
    out
}
