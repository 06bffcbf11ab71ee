//! Microsoft multi-tenant (`kind = "oidc"` with a `{tenantid}` issuer and `tenants`): against the fake upstream in
//! its Entra ID shape (shared-endpoint discovery naming the template, ID tokens with `tid` and `oid`), two
//! tenants of which one is admitted.

mod common;
use common::TestApp;
use common::clients::ClientBuilder;
use common::fake_idp::{FakeIdp, Tamper, User};
use common::oauth::*;

const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const OID: &str = "0b1ec7d0-1111-4111-8111-000000000001";

struct World {
    app: TestApp,
    idp: FakeIdp,
    _providers: tempfile::TempDir,
}

async fn world(tenants: &[&str]) -> World {
    world_with(tenants, |_| {}).await
}

/// A world whose fake upstream is set up by `setup` before the broker first fetches its keys.
async fn world_with(tenants: &[&str], setup: impl FnOnce(&FakeIdp)) -> World {
    let idp = FakeIdp::start().await;
    setup(&idp);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ms.toml"), idp.ms_toml("ms", tenants, "")).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| {
        s.providers_dir = providers;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid", "profile", "email", "offline_access"])
                .build(),
        ];
    })
    .await;
    World { app, idp, _providers: dir }
}

fn person(tid: &str, oid: &str) -> User {
    User {
        tid: Some(tid.into()),
        oid: Some(oid.into()),
        ..User::new(&format!("pairwise-{tid}"), &format!("ada@{tid}.test"))
    }
}

/// Signs in through `ms` in a fresh browser: the app's redirect (with a code) or the page's status.
async fn sign_in(w: &World) -> Result<String, u16> {
    let app = w.app.view();
    let mut r = authorize(&app, &auth_query(&[("scope", "openid email")])).await;
    for _ in 0..12 {
        if !r.status().is_redirection() {
            return Err(r.status().as_u16());
        }
        let loc = location(&r);
        if loc.starts_with(RP) {
            return Ok(loc);
        }
        let loc = match loc.strip_prefix("/login?") {
            Some(rest) => format!("/login/ms?{rest}"),
            None => loc,
        };
        r = if loc.starts_with("/consent") {
            let page = app.http.get(app.url(&loc)).send().await.unwrap().text().await.unwrap();
            let form = [("req", hidden(&page, "req")), ("csrf", hidden(&page, "csrf")), ("decision", "allow".into())];
            app.http.post(app.url("/consent")).form(&form).send().await.unwrap()
        } else if loc.starts_with('/') {
            app.http.get(app.url(&loc)).send().await.unwrap()
        } else {
            app.http.get(&loc).send().await.unwrap()
        };
    }
    panic!("the sign-in did not end");
}

async fn identity(w: &World, subject: &str) -> Option<bridgekeeper::store::identities::Identity> {
    let s = subject.to_string();
    w.app.state.db.run(move |c| bridgekeeper::store::identities::find(c, "ms", &s)).await.unwrap()
}

async fn identities(w: &World) -> usize {
    let users = w.app.state.db.run(|c| bridgekeeper::store::users::list(c, 1000, 0)).await.unwrap();
    let mut n = 0;
    for u in users {
        let id = u.id.clone();
        n += w.app.state.db.run(move |c| bridgekeeper::store::identities::list_for_user(c, &id)).await.unwrap().len();
    }
    n
}

#[actix_web::test]
async fn ms_1_an_allowed_tenant_signs_in_with_subject_tid_and_oid() {
    let w = world(&[TENANT_A]).await;
    w.idp.set_user(person(TENANT_A, OID));
    assert!(sign_in(&w).await.is_ok());
    let id = identity(&w, &format!("{TENANT_A}:{OID}")).await.expect("keyed by tid:oid");
    assert_eq!(id.issuer, format!("{}/{{tenantid}}/v2.0", w.idp.base), "the provider's issuer template");
    assert!(identity(&w, &format!("pairwise-{TENANT_A}")).await.is_none(), "never by sub");
}

#[actix_web::test]
async fn ms_2_a_tenant_not_allowed_is_refused() {
    let w = world(&[TENANT_A]).await;
    w.idp.set_user(person(TENANT_B, OID));
    assert_eq!(sign_in(&w).await, Err(400));
    assert_eq!(identities(&w).await, 0);
}

#[actix_web::test]
async fn ms_2_organizations_admits_any_work_tenant_but_not_personal_accounts() {
    let w = world(&["organizations"]).await;
    w.idp.set_user(person(TENANT_B, OID));
    assert!(sign_in(&w).await.is_ok());
    w.idp.set_user(person(bridgekeeper_core::tenants::CONSUMERS_TENANT, OID));
    assert_eq!(sign_in(&w).await, Err(400), "the consumer tenant is not an organization");
    assert_eq!(identities(&w).await, 1);
}

#[actix_web::test]
async fn ms_3_an_iss_naming_another_tenant_than_tid_is_refused() {
    let w = world(&[TENANT_A, TENANT_B]).await;
    w.idp.set_user(person(TENANT_B, OID));
    w.idp.set_iss_tenant(Some(TENANT_A));
    assert_eq!(sign_in(&w).await, Err(400));
    w.idp.set_iss_tenant(Some("{tenantid}"));
    assert_eq!(sign_in(&w).await, Err(400), "the template itself is no issuer");
    assert_eq!(identities(&w).await, 0);
    w.idp.set_iss_tenant(None);
    assert!(sign_in(&w).await.is_ok(), "and the honest token still works");
}

/// Finding: openidconnect's issuer check is off on the tenant path; every other check of the ID token must still run.
#[actix_web::test]
async fn ms_3_with_the_issuer_template_every_other_check_still_applies() {
    let w = world(&[TENANT_A]).await;
    w.idp.set_user(person(TENANT_A, OID));
    for t in [
        Tamper::WrongAud,
        Tamper::BadSignature,
        Tamper::WrongNonce,
        Tamper::Expired,
        Tamper::BadAtHash,
        Tamper::OtherAzp,
        Tamper::AlgNone,
    ] {
        w.idp.set_tamper(t);
        assert_eq!(sign_in(&w).await, Err(400), "{t:?}");
        assert_eq!(identities(&w).await, 0, "{t:?} created an identity");
    }
    w.idp.set_tamper(Tamper::None);
    assert!(sign_in(&w).await.is_ok(), "and the honest token still works");
    assert_eq!(identities(&w).await, 1);
}

/// Finding (Storm-0558 class): a key of the shared JWKS that names the issuer it signs for verifies only tokens of
/// that issuer (with `{tenantid}`, the token's own tenant); a key without the member is not restricted.
#[actix_web::test]
async fn ms_3_a_token_signed_by_a_key_of_another_issuer_is_refused() {
    let template = |w: &FakeIdp| format!("{}/{{tenantid}}/v2.0", w.base);
    type Named = fn(&FakeIdp) -> Option<String>;
    let cases: [(&str, Named, bool); 4] = [
        (
            "a consumer key",
            |i| Some(format!("{}/{}/v2.0", i.base, bridgekeeper_core::tenants::CONSUMERS_TENANT)),
            false,
        ),
        ("a key of tenant B", |i| Some(format!("{}/{TENANT_B}/v2.0", i.base)), false),
        ("a key of tenant A itself", |i| Some(format!("{}/{TENANT_A}/v2.0", i.base)), true),
        ("a key without an issuer member", |_| None, true),
    ];
    for (what, second, ok) in cases {
        let w = world_with(&["common", TENANT_A], |idp| {
            idp.set_key_issuer(Some(&template(idp)));
            idp.publish_second_key(second(idp).as_deref());
        })
        .await;
        w.idp.set_user(person(TENANT_A, OID));
        w.idp.set_sign_with_second(true);
        assert_eq!(sign_in(&w).await.is_ok(), ok, "{what} signing a token of tenant A");
        assert_eq!(identities(&w).await, usize::from(ok), "{what}");
        if !ok {
            w.idp.set_sign_with_second(false);
            assert!(sign_in(&w).await.is_ok(), "the template's key signs tenant A's token ({what})");
        }
    }
}

/// Finding: RFC 9207 on the tenant path: advertised means required, and a present `iss` must name an admitted
/// tenant before the code is redeemed (and the token's own issuer after).
#[actix_web::test]
async fn ms_3_an_advertised_iss_parameter_must_be_present() {
    let w = world_with(&[TENANT_A], |i| i.set_ms_iss_param(true, Some(TENANT_A))).await;
    w.idp.set_user(person(TENANT_A, OID));
    assert!(sign_in(&w).await.is_ok(), "advertised and sent");
    w.idp.set_ms_iss_param(true, None);
    assert_eq!(sign_in(&w).await, Err(400), "advertised but missing");
    assert_eq!(identities(&w).await, 1);
}

#[actix_web::test]
async fn ms_3_an_iss_parameter_naming_another_tenant_is_refused() {
    let w = world(&[TENANT_A, TENANT_B]).await;
    w.idp.set_user(person(TENANT_A, OID));
    w.idp.set_ms_iss_param(false, Some(TENANT_B));
    assert_eq!(sign_in(&w).await, Err(400), "iss of B, token of A");
    let redeemed = w.idp.state.lock().unwrap().token_requests.len();
    for other in ["cccccccc-0000-4000-8000-00000000000c", "{tenantid}", "not-a-guid"] {
        w.idp.set_ms_iss_param(false, Some(other));
        assert_eq!(sign_in(&w).await, Err(400), "iss of {other}");
    }
    assert_eq!(w.idp.state.lock().unwrap().token_requests.len(), redeemed, "refused before the code exchange");
    assert_eq!(identities(&w).await, 0);
    w.idp.set_ms_iss_param(false, Some(TENANT_A));
    assert!(sign_in(&w).await.is_ok(), "iss of A, token of A");
}

#[actix_web::test]
async fn ms_4_the_same_oid_in_two_tenants_is_two_local_people() {
    let w = world(&[TENANT_A, TENANT_B]).await;
    w.idp.set_user(person(TENANT_A, OID));
    assert!(sign_in(&w).await.is_ok());
    w.idp.set_user(person(TENANT_B, OID));
    assert!(sign_in(&w).await.is_ok());
    let a = identity(&w, &format!("{TENANT_A}:{OID}")).await.unwrap();
    let b = identity(&w, &format!("{TENANT_B}:{OID}")).await.unwrap();
    assert_ne!(a.user_id, b.user_id);
}

#[actix_web::test]
async fn ms_5_a_template_issuer_needs_tenants_and_tenants_need_a_template() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ms.toml");
    let base = "kind = \"oidc\"\nclient_id = \"x\"\nclient_secret = \"y\"\n";
    let bad = [
        format!("{base}issuer = \"https://login.microsoftonline.com/{{tenantid}}/v2.0\"\n"),
        format!("{base}issuer = \"https://login.microsoftonline.com/abc/v2.0\"\ntenants = [\"organizations\"]\n"),
        format!("{base}issuer = \"https://login.microsoftonline.com/{{tenantid}}/v2.0\"\ntenants = [\"contoso\"]\n"),
        format!(
            "{base}issuer = \"https://login.microsoftonline.com/{{tenantid}}/v2.0\"\ntenants = [\"organizations\"]\n[claims]\nsubject = \"/sub\"\n"
        ),
    ];
    for text in bad {
        assert!(bridgekeeper::upstream::config::parse(&text, &f, &[]).is_err(), "{text}");
    }
    let good = format!(
        "{base}issuer = \"https://login.microsoftonline.com/{{tenantid}}/v2.0\"\ntenants = [\"organizations\", \"{TENANT_A}\"]\n"
    );
    assert!(bridgekeeper::upstream::config::parse(&good, &f, &[]).is_ok());
    // nOAuth: in an open tenant list any tenant admin sets any email; no email trust or linking with one.
    let ms = "issuer = \"https://login.microsoftonline.com/{tenantid}/v2.0\"\n";
    for open in ["organizations", "common", "consumers"] {
        for trust in [
            "trust_email = true\n",
            "link_by_email = \"confirm\"\n",
            "trust_email = true\nlink_by_email = \"verified\"\n",
        ] {
            let text = format!("{base}{ms}tenants = [\"{open}\", \"{TENANT_A}\"]\n{trust}");
            let err = bridgekeeper::upstream::config::parse(&text, &f, &[]).unwrap_err();
            assert!(format!("{err:#}").contains("trust_email"), "{text}: {err:#}");
        }
    }
    let only_a = format!("{base}{ms}tenants = [\"{TENANT_A}\"]\ntrust_email = true\n");
    assert!(bridgekeeper::upstream::config::parse(&only_a, &f, &[]).is_ok(), "explicit tenants may be trusted");
}
