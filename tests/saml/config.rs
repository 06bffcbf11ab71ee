//! [SA-1] The pinned IdP signing certificate: mandatory, and the only key signatures are checked against.

use super::fixture::{PROVIDER, Setup, World, keys, provider_toml, sign_in};

fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bridgekeeper"));
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn sa_1_a_provider_without_a_pinned_certificate_is_refused_at_load_and_by_providers_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(dir.path().join("idp.xml"), super::fixture::idp_metadata(1)).unwrap();
    let without: String = provider_toml(dir.path(), None, "idp", "")
        .lines()
        .filter(|l| !l.starts_with("idp_certificate_file"))
        .collect::<Vec<_>>()
        .join("\n");
    let file = p.join("saml.toml");
    std::fs::write(&file, &without).unwrap();
    let err = bridgekeeper::upstream::config::load_file(&file, &[]).unwrap_err();
    assert!(err.contains("idp_certificate_file") && err.contains("pinned"), "{err}");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, format!("providers_dir = {:?}\n", p)).unwrap();
    let out = bin().args(["--config", config.to_str().unwrap(), "providers", "check"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("saml.toml") && stderr.contains("idp_certificate_file"), "{stderr}");
    // With it, the same file loads.
    std::fs::write(&file, provider_toml(dir.path(), None, "idp", "")).unwrap();
    assert!(bridgekeeper::upstream::config::load_file(&file, &[]).is_ok());
    // Metadata whose signing keys do not include the pinned certificate is refused too.
    std::fs::write(&file, provider_toml(dir.path(), None, "evil", "")).unwrap();
    let err = bridgekeeper::upstream::config::load_file(&file, &[]).unwrap_err();
    assert!(err.contains("do not include the pinned"), "{err}");
    assert!(keys().join("evil.crt").exists());
}

/// Metadata with no signing key at all (samael alone would then check no signature): the pinned certificate is
/// still what every answer is checked against.
#[actix_web::test]
async fn sa_1_metadata_without_a_signing_key_never_means_unchecked_signatures() {
    let strip = |m: String| {
        let (head, rest) = m.split_once("<ns0:KeyDescriptor").expect("the IdP's metadata has a KeyDescriptor");
        let tail = rest.rsplit_once("</ns0:KeyDescriptor>").unwrap().1;
        format!("{head}{tail}")
    };
    let w = World::start_full(Setup { metadata: strip, ..Setup::default() }, |_| {}).await;
    let md = std::fs::read_to_string(w.dir.path().join("idp.xml")).unwrap();
    assert!(!md.contains("KeyDescriptor"), "{md}");
    for hooks in ["sign=none", "attack=tampered", "key=evil", "attack=xsw1"] {
        assert_eq!(sign_in(&w, hooks).await, Err(400), "{hooks}");
    }
    assert!(sign_in(&w, "").await.is_ok());
}

#[actix_web::test]
async fn sa_1_metadata_from_a_url_must_list_the_pinned_certificate() {
    let w = World::start_full(Setup { by_url: true, ..Setup::default() }, |_| {}).await;
    assert!(sign_in(&w, "").await.is_ok(), "fetched metadata with the pinned certificate");
    let evil = World::start_full(Setup { by_url: true, cert: "evil", ..Setup::default() }, |_| {}).await;
    let r = evil.app.http.get(evil.app.url(&format!("/login/{PROVIDER}"))).send().await.unwrap();
    assert_eq!(r.status(), 502, "the IdP's metadata names another signing key than the pinned one");
}

#[test]
fn sa_1_an_http_metadata_url_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("saml.toml");
    let with = |url: &str| {
        let line = format!("idp_metadata_url = \"{url}\"");
        std::fs::write(&file, provider_toml(dir.path(), Some(&line), "idp", "")).unwrap();
        bridgekeeper::upstream::config::load_file(&file, &[])
    };
    let err = with("http://idp.example/metadata").unwrap_err();
    assert!(err.contains("idp_metadata_url") && err.contains("https"), "{err}");
    assert!(with("https://idp.example/metadata").is_ok());
    assert!(with("http://127.0.0.1:8080/metadata").is_ok(), "loopback (tests, a local IdP) may be http");
    assert!(with("http://localhost:8080/metadata").is_ok());
    assert!(with("http://127.0.0.1.evil.example/metadata").is_err());
}

#[test]
fn sa_8_trust_email_on_a_saml_provider_needs_an_explicit_email_verified_claim() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("idp.xml"), super::fixture::idp_metadata(1)).unwrap();
    let file = dir.path().join("saml.toml");
    std::fs::write(&file, provider_toml(dir.path(), None, "idp", "trust_email = true")).unwrap();
    let err = bridgekeeper::upstream::config::load_file(&file, &[]).unwrap_err();
    assert!(err.contains("claims.email_verified") && err.contains("trust_email"), "{err}");
    let explicit =
        provider_toml(dir.path(), None, "idp", "trust_email = true") + "email_verified = \"/mailVerified\"\n";
    std::fs::write(&file, explicit).unwrap();
    assert!(bridgekeeper::upstream::config::load_file(&file, &[]).is_ok());
    std::fs::write(&file, provider_toml(dir.path(), None, "idp", "")).unwrap();
    assert!(bridgekeeper::upstream::config::load_file(&file, &[]).is_ok(), "without trust_email nothing is needed");
}
