//! [SA-12] A saml provider under hot reload, and [MT-4] the reasons its refusals are counted under.

use crate::common::broker::{admin_token, from_file, reload};
use crate::fixture::{PROVIDER, World, identities, post, provider_toml, sign_in, to_idp};

/// The IdP's metadata without its signing key (so that another certificate can be pinned).
fn without_key(m: &str) -> String {
    let (head, rest) = m.split_once("<ns0:KeyDescriptor").expect("the IdP's metadata has a KeyDescriptor");
    format!("{head}{}", rest.rsplit_once("</ns0:KeyDescriptor>").unwrap().1)
}

/// [SA-12] A changed saml provider is a new generation: a login begun before the reload finishes with the
/// generation it began with when only allow-listed members changed ([HR-5b]: here the icon); another entity id, or
/// a withdrawn pinned certificate, ends it with the 409 page (and a fresh answer signed with the old key is
/// refused); the POST of a login through a removed saml provider is the 410 page.
#[actix_web::test]
async fn sa_12_a_reload_keeps_pending_logins_but_never_a_withdrawn_certificate() {
    let w = World::start_with("", |s| {
        let dir = s.providers_dir.parent().unwrap().to_path_buf();
        from_file(s, &dir, "");
    })
    .await;
    let admin = admin_token(&w.app).await;
    let path = format!("/login/{PROVIDER}");
    let (a, b, c, d) = (w.app.view(), w.app.view(), w.app.view(), w.app.view());
    let write = |toml: String| std::fs::write(w.dir.path().join("providers").join(format!("{PROVIDER}.toml")), toml);
    let (before, pending) = (to_idp(&a, &path, "").await, to_idp(&b, &path, "").await);
    let renamed = to_idp(&d, &path, "").await;
    // [HR-5b] A change of the button only (allow-listed): the login begun before it finishes with its generation.
    write(provider_toml(w.dir.path(), None, "idp", "icon = \"https://sp.example/icon.svg\"")).unwrap();
    let (status, body) = reload(&w.app, &admin).await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!([PROVIDER])), "{body}");
    assert!(post(&a, &w.app, &before).await.is_ok(), "begun before the reload, finished with its generation");
    // [HR-5b] Another audience is another answerer: the login begun before it is the 409 page.
    write(provider_toml(w.dir.path(), None, "idp", "sp_entity_id = \"https://sp.example/renamed\"")).unwrap();
    let (status, body) = reload(&w.app, &admin).await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!([PROVIDER])), "{body}");
    assert_eq!(post(&d, &w.app, &renamed).await, Err(409), "the entity id its request named is no longer ours");

    let md = w.dir.path().join("idp.xml");
    std::fs::write(&md, without_key(&std::fs::read_to_string(&md).unwrap())).unwrap();
    write(provider_toml(w.dir.path(), None, "evil", "")).unwrap();
    let (status, body) = reload(&w.app, &admin).await;
    assert_eq!((status, &body["providers"]["changed"]), (200, &serde_json::json!([PROVIDER])), "{body}");
    assert_eq!(post(&b, &w.app, &pending).await, Err(409), "the certificate it began with is withdrawn");
    assert_eq!(sign_in(&w, "").await, Err(400), "the IdP's key no longer signs for anyone");
    assert_eq!(identities(&w.app).await.len(), 1);

    let removed = to_idp(&c, &path, "").await;
    std::fs::remove_file(w.dir.path().join("providers").join(format!("{PROVIDER}.toml"))).unwrap();
    let (status, body) = reload(&w.app, &admin).await;
    assert_eq!((status, &body["providers"]["removed"]), (200, &serde_json::json!([PROVIDER])), "{body}");
    assert_eq!(post(&c, &w.app, &removed).await, Err(410), "RelayState names the removed provider's login");
    assert_eq!(post(&c, &w.app, &removed).await, Err(404), "spent: now an unknown method");
}

/// [MT-4] Refused SAML answers are counted under the check that failed, each once (a fixed word).
#[actix_web::test]
async fn mt_4_refused_saml_answers_are_counted_by_the_check_that_failed() {
    let w = World::start().await;
    let cases = [
        ("sign=none", "signature"),
        ("key=evil", "signature"),
        ("attack=xsw1", "structure"),
        ("expired=1", "expired"),
        ("aud=other", "audience"),
        ("nameid=email", "subject"),
    ];
    for (hooks, _) in cases {
        assert_eq!(sign_in(&w, hooks).await, Err(400), "{hooks}");
    }
    let text = String::from_utf8_lossy(&w.app.state.metrics.render()).to_string();
    let count = |reason: &str| -> u32 {
        let label = format!("reason=\"{reason}\"");
        let rows = text.lines().filter(|l| l.starts_with("bridgekeeper_logins_total") && l.contains(&label));
        rows.filter(|l| l.contains("outcome=\"rejected\""))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u32>().unwrap())
            .sum()
    };
    let mut expected = std::collections::BTreeMap::new();
    for (_, reason) in cases {
        *expected.entry(reason).or_insert(0) += 1;
    }
    for (reason, n) in &expected {
        assert_eq!(count(reason), *n, "{reason}: {text}");
    }
}
