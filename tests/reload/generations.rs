//! [HR-5] [HR-5a] [HR-5b] Logins begun before a reload that changed their provider (issue #16): they finish with
//! the generation they began with only when it differs from the one in force in nothing but what cannot change
//! who answers or what is believed (`upstream::generation::answerer_fingerprint`); otherwise the translated 409.

use super::common;
use common::broker::{Broker, begin_at, finish, users};
use common::fake_idp::{FakeIdp, User};

/// `oauth2` reports no `auth_time`: trusted to honour `prompt=login`, its logins answer `begin_at`'s `prompt=login`.
const HONOURS: &str = "honours_prompt_login = true\n";

/// A provider file for `idp` as a plain `oauth2` upstream (its OIDC endpoints, no ID token believed);
/// `extra` top-level keys.
fn oauth2_toml(idp: &FakeIdp, id: &str, extra: &str) -> String {
    let b = &idp.base;
    format!(
        "id = \"{id}\"\nkind = \"oauth2\"\ndisplay_name = \"Corp\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nscopes = [\"openid\", \"email\"]\nauthorization_url = \"{b}/authorize\"\ntoken_url = \"{b}/token\"\nuserinfo_url = \"{b}/userinfo\"\n{extra}\n[claims]\nsubject = \"/sub\"\n",
        common::fake_idp::CLIENT_ID,
        common::fake_idp::CLIENT_SECRET,
    )
}

/// Reloads, asserting that exactly `id` changed.
async fn reload_changed(b: &Broker, id: &str) {
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!([id])), "{body}");
}

/// [HR-5] A provider changed while someone is at the upstream only in what the answerer fingerprint leaves out
/// (the client secret, the button's name): that login finishes with the settings it began with (the old client
/// secret: the fake upstream accepts only it), and logins begun after the reload use the new ones (the new name
/// is shown; the rotated secret is sent, which this upstream refuses).
#[actix_web::test]
async fn hr_5_a_login_through_a_changed_provider_keeps_the_settings_it_began_with() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into()), ("acme.toml", idp.oidc_toml("acme", ""))]).await;
    let old = begin_at(&b.app, "acme").await;
    let changed = idp
        .oidc_toml("acme", "")
        .replace(common::fake_idp::CLIENT_SECRET, "rotated-secret")
        .replace("display_name = \"Acme acme\"", "display_name = \"Acme renamed\"");
    b.write("acme.toml", &changed);
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!(["acme"])), "{body}");
    let newer = b.app.view();
    let page = newer.http.get(newer.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Acme renamed"), "the new settings are in force: {page}");
    let new = begin_at(&newer, "acme").await;
    assert_eq!(finish(&b.app, b.app.http.get(&old).send().await.unwrap()).await, 200, "the old login finishes");
    let r = newer.http.get(&new).send().await.unwrap();
    assert_eq!(r.status(), 502, "the new login sends the rotated secret, which this upstream refuses");
}

/// [HR-5a] A reload that withdraws a provider's email trust is in force for logins begun before it: a person at
/// the upstream when the admin turns `link_by_email` and `trust_email` off finishes with the current settings, so
/// the verified email of the answer no longer links into the account that holds it (the attack: logins kept open
/// across the reload, finished with the old trust).
#[actix_web::test]
async fn hr_5a_a_tightening_reload_is_in_force_for_logins_begun_before_it() {
    let idp = FakeIdp::start().await;
    let trusting = idp.oidc_toml("acme", "link_by_email = \"verified\"\ntrust_email = true\n");
    let b = Broker::start(&[("acme.toml", trusting)]).await;
    idp.set_user(common::fake_idp::User::new("holder", "ada@example.com"));
    let first = begin_at(&b.app, "acme").await;
    assert_eq!(finish(&b.app, b.app.http.get(&first).send().await.unwrap()).await, 200, "the account holder");
    let other = b.app.view();
    idp.set_user(common::fake_idp::User::new("someone-else", "ada@example.com"));
    let pending = begin_at(&other, "acme").await;
    b.write("acme.toml", &idp.oidc_toml("acme", ""));
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!(["acme"])), "{body}");
    let r = other.http.get(&pending).send().await.unwrap();
    assert_eq!(r.status(), 409, "the email is taken and no longer links: {}", r.text().await.unwrap());
    assert_eq!(users(&b.app).await, 1);
    let holder = b.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap().remove(0);
    let linked =
        b.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &holder.id)).await.unwrap();
    assert_eq!(linked.len(), 1, "nothing was linked into the holder's account");
}

const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";

/// [HR-5b] A reload that takes a tenant out of a Microsoft multi-tenant provider's `tenants` is in force for logins
/// begun before it: a person of the removed tenant at the upstream during the reload cannot finish with the old
/// list (the translated page of a changed method; nothing created), and one who begins after it is refused as well.
#[actix_web::test]
async fn hr_5b_a_reload_that_narrows_tenants_refuses_logins_begun_before_it() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("ms.toml", idp.ms_toml("ms", &[TENANT_A, TENANT_B], ""))]).await;
    let of_b = common::fake_idp::User {
        tid: Some(TENANT_B.into()),
        oid: Some("0b1ec7d0-1111-4111-8111-000000000001".into()),
        ..common::fake_idp::User::new("pairwise-b", "ada@b.test")
    };
    idp.set_user(of_b);
    let pending = begin_at(&b.app, "ms").await;
    b.write("ms.toml", &idp.ms_toml("ms", &[TENANT_A], ""));
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!(["ms"])), "{body}");
    let r = b.app.http.get(&pending).header("Accept-Language", "de").send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("Anmeldemethode geändert"), "translated");
    assert_eq!(users(&b.app).await, 0, "nothing created");
    let after = b.app.view();
    let refused = begin_at(&after, "ms").await;
    assert_eq!(after.http.get(&refused).send().await.unwrap().status(), 400, "tenant B is not admitted now");
    assert_eq!(users(&b.app).await, 0);
}

/// [HR-5b] A reload that points a provider at another issuer is in force for logins begun before it: the answer of
/// the old issuer is not verified with the old settings (the changed-method page; nothing created), while a login
/// begun after the reload signs in at the new issuer.
#[actix_web::test]
async fn hr_5b_a_reload_that_changes_the_issuer_refuses_logins_begun_before_it() {
    let (old_idp, new_idp) = (FakeIdp::start().await, FakeIdp::start().await);
    let b = Broker::start(&[("acme.toml", old_idp.oidc_toml("acme", ""))]).await;
    let pending = begin_at(&b.app, "acme").await;
    b.write("acme.toml", &new_idp.oidc_toml("acme", ""));
    let (status, body) = b.reload().await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!(["acme"])), "{body}");
    assert_eq!(b.app.http.get(&pending).send().await.unwrap().status(), 409);
    assert_eq!(users(&b.app).await, 0, "nothing created");
    let after = b.app.view();
    let callback = begin_at(&after, "acme").await;
    assert!(callback.starts_with(&b.app.base), "{callback}");
    assert_eq!(finish(&after, after.http.get(&callback).send().await.unwrap()).await, 200, "the new issuer signs in");
}

/// The pending login `callback`, begun before a reload that changed something the answerer fingerprint holds:
/// the translated page of a changed method, and no session (the person is not signed in).
async fn refused(app: &common::TestApp, callback: &str) {
    let r = app.http.get(callback).header("Accept-Language", "de").send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("Anmeldemethode geändert"), "translated");
    assert_ne!(app.http.get(app.url("/account")).send().await.unwrap().status(), 200, "not signed in");
}

/// [HR-5b] `kind = "oauth2"` has no issuer: who answers is named by its endpoints. A reload that re-points them
/// (away from a compromised host) is in force for logins begun before it: the old host's answer to a stocked login
/// would land in the same keyspace (`urn:bridgekeeper:oauth2:{id}` + subject) and sign the attacker in as the
/// victim; it is refused, and a login begun after the reload signs in at the new endpoints.
#[actix_web::test]
async fn hr_5b_a_reload_that_repoints_an_oauth2_provider_refuses_logins_begun_before_it() {
    let (old_idp, new_idp) = (FakeIdp::start().await, FakeIdp::start().await);
    let b = Broker::start(&[("corp.toml", oauth2_toml(&old_idp, "corp", HONOURS))]).await;
    old_idp.set_user(User::new("victim", "victim@example.com"));
    let first = begin_at(&b.app, "corp").await;
    assert_eq!(finish(&b.app, b.app.http.get(&first).send().await.unwrap()).await, 200, "the victim signs in");
    let attacker = b.app.view();
    let stocked = begin_at(&attacker, "corp").await;
    b.write("corp.toml", &oauth2_toml(&new_idp, "corp", HONOURS));
    reload_changed(&b, "corp").await;
    refused(&attacker, &stocked).await;
    let after = b.app.view();
    new_idp.set_user(User::new("victim", "victim@example.com"));
    let callback = begin_at(&after, "corp").await;
    assert_eq!(finish(&after, after.http.get(&callback).send().await.unwrap()).await, 200, "the new endpoints");
    assert_eq!(users(&b.app).await, 1);
}

/// [HR-5b] A reload that changes the client id (another registration at the upstream: e.g. an internal-only one,
/// or one with user assignment) is in force for logins begun before it.
#[actix_web::test]
async fn hr_5b_a_reload_that_changes_the_client_id_refuses_logins_begun_before_it() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("acme.toml", idp.oidc_toml("acme", ""))]).await;
    let pending = begin_at(&b.app, "acme").await;
    let other = idp.oidc_toml("acme", "").replace("client_id = \"broker\"", "client_id = \"internal-only\"");
    b.write("acme.toml", &other);
    reload_changed(&b, "acme").await;
    refused(&b.app, &pending).await;
    assert_eq!(users(&b.app).await, 0, "nothing created");
}

/// [HR-5a] A reload that fixes `claims.subject` (a pointer at an attribute the person chooses, `/name`, set to the
/// upstream's stable `/sub`) is in force for logins begun before it: a stocked login is not mapped with the old
/// pointer (the attack: rename the upstream account to the victim's value, finish the stocked login).
#[actix_web::test]
async fn hr_5a_a_changed_subject_claim_is_in_force_for_logins_begun_before_it() {
    let idp = FakeIdp::start().await;
    let by_name = oauth2_toml(&idp, "corp", HONOURS).replace("subject = \"/sub\"", "subject = \"/name\"");
    let b = Broker::start(&[("corp.toml", by_name)]).await;
    let pending = begin_at(&b.app, "corp").await;
    b.write("corp.toml", &oauth2_toml(&idp, "corp", HONOURS));
    reload_changed(&b, "corp").await;
    refused(&b.app, &pending).await;
    assert_eq!(users(&b.app).await, 0, "nothing created with the old pointer");
}

/// [HR-5a] A group rule a reload removed is not granted to a login begun before it (groups learnt at a sign-in
/// count for `groups_max_age_secs`).
#[actix_web::test]
async fn hr_5a_a_removed_group_rule_is_not_granted_to_a_login_begun_before_it() {
    let idp = FakeIdp::start().await;
    let rule = "[[group_rules]]\nupstream = \"admins\"\ngroup = \"broker-admins\"\n";
    let b = Broker::start(&[("acme.toml", idp.oidc_toml("acme", rule))]).await;
    idp.set_user(User { groups: vec!["admins".into()], ..User::new("ada", "ada@example.com") });
    let pending = begin_at(&b.app, "acme").await;
    b.write("acme.toml", &idp.oidc_toml("acme", ""));
    reload_changed(&b, "acme").await;
    refused(&b.app, &pending).await;
    assert_eq!(users(&b.app).await, 0, "nothing created, no group granted");
}

/// [HR-5a] [TB-5] A reload that withdraws `honours_prompt_login` from a provider that reports no `auth_time` is in
/// force for logins begun before it: a stocked login asked with `prompt=login` is not taken as fresh (the step-up
/// bypass) on the old trust.
#[actix_web::test]
async fn hr_5a_withdrawn_honours_prompt_login_is_in_force_for_logins_begun_before_it() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("corp.toml", oauth2_toml(&idp, "corp", HONOURS))]).await;
    let pending = begin_at(&b.app, "corp").await;
    b.write("corp.toml", &oauth2_toml(&idp, "corp", "honours_prompt_login = false\n"));
    reload_changed(&b, "corp").await;
    refused(&b.app, &pending).await;
    assert_eq!(users(&b.app).await, 0);
}

/// [HR-5a] A reload that withdraws `trust_email` (link by email stays off) is in force for a login begun before it:
/// the login finishes (trust is taken from the generation in force, not part of the fingerprint), and the
/// identity's `email_trusted`, reset by the reload's reconcile, is not written back by it.
#[actix_web::test]
async fn hr_5a_withdrawn_email_trust_is_not_written_back_by_a_pending_login() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("acme.toml", idp.oidc_toml("acme", "trust_email = true\n"))]).await;
    let first = begin_at(&b.app, "acme").await;
    assert_eq!(finish(&b.app, b.app.http.get(&first).send().await.unwrap()).await, 200);
    let trusted = || async {
        let users = b.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap();
        let id = users[0].id.clone();
        let linked = b.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &id)).await;
        linked.unwrap().iter().map(|i| i.email_trusted).collect::<Vec<_>>()
    };
    assert_eq!(trusted().await, [true], "trusted while the provider is");
    let other = b.app.view();
    let pending = begin_at(&other, "acme").await;
    b.write("acme.toml", &idp.oidc_toml("acme", ""));
    reload_changed(&b, "acme").await;
    assert_eq!(trusted().await, [false], "the reload's reconcile");
    assert_eq!(finish(&other, other.http.get(&pending).send().await.unwrap()).await, 200, "it finishes");
    assert_eq!(trusted().await, [false], "and does not write the old trust back");
}

/// [HR-5a] [TX-1] `store_tokens` turned off by a reload is in force for a login begun before it: it finishes and
/// keeps no upstream tokens.
#[actix_web::test]
async fn hr_5a_store_tokens_turned_off_stores_no_vault_row_for_a_pending_login() {
    let idp = FakeIdp::start().await;
    let b = Broker::start(&[("acme.toml", idp.oidc_toml("acme", "store_tokens = true\n"))]).await;
    let rows =
        || async { b.app.state.db.run(|c| bridgekeeper::store::vault::rows_not_of(c, &[])).await.unwrap().len() };
    let first = begin_at(&b.app, "acme").await;
    assert_eq!(finish(&b.app, b.app.http.get(&first).send().await.unwrap()).await, 200);
    assert_eq!(rows().await, 1, "kept while the provider says so");
    let users_now = b.app.state.db.run(|c| bridgekeeper::store::users::list(c, 10, 0)).await.unwrap();
    let uid = users_now[0].id.clone();
    b.app.state.db.run(move |c| bridgekeeper::store::vault::delete_for_user(c, &uid)).await.unwrap();
    assert_eq!(rows().await, 0);
    let other = b.app.view();
    let pending = begin_at(&other, "acme").await;
    b.write("acme.toml", &idp.oidc_toml("acme", ""));
    reload_changed(&b, "acme").await;
    assert_eq!(finish(&other, other.http.get(&pending).send().await.unwrap()).await, 200, "it finishes");
    assert_eq!(rows().await, 0, "and keeps no upstream tokens");
}
