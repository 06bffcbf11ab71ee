//! The binary: configuration layering and its error paths, and the admin CLI.

mod common;

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"));
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("BRIDGEKEEPER__") {
            c.env_remove(k);
        }
    }
    c
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(c: &mut Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_key_in_file_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "bad.toml", "issuer = \"http://127.0.0.1:1\"\n[database]\npool_sise = 3\n");
    let (code, _, err) = run(bin().args(["--config", f.to_str().unwrap(), "migrate"]));
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml") && err.contains("database.pool_sise"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn wrong_type_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "bad.toml", "[database]\npool_size = \"many\"\n");
    let (code, _, err) = run(bin().args(["migrate", "--config", f.to_str().unwrap()]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pool_size"), "{err}");
}

#[test]
fn malformed_issuer_url_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "bad.toml", "issuer = \"not a url\"\n");
    let (code, _, err) = run(bin().args(["--config", f.to_str().unwrap(), "migrate"]));
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml") && err.contains("issuer"), "{err}");
}

#[test]
fn missing_secret_variable_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "c.toml",
        "[[clients]]\nclient_id = \"demo-app\"\nclient_secret = \"${BK_TEST_UNSET_SECRET}\"\nredirect_uris = [\"http://127.0.0.1:9000/callback\"]\n",
    );
    let (code, _, err) =
        run(bin().args(["--config", f.to_str().unwrap(), "migrate"]).env_remove("BK_TEST_UNSET_SECRET"));
    assert_eq!(code, 2);
    assert!(err.contains("BK_TEST_UNSET_SECRET") && err.contains("client_secret"), "{err}");
}

#[test]
fn unknown_environment_key_exits_2_naming_the_variable() {
    let (code, _, err) = run(bin().args(["migrate"]).env("BRIDGEKEEPER__DATABASE__POOLSIZE", "4"));
    assert_eq!(code, 2);
    assert!(err.contains("BRIDGEKEEPER__DATABASE__POOLSIZE"), "{err}");
}

#[test]
fn layers_apply_in_order_defaults_file_environment() {
    use bridgekeeper::settings::Settings;
    let dir = tempfile::tempdir().unwrap();
    let f =
        write(&dir, "mine.toml", "bind = \"127.0.0.1:9999\"\n[database]\npool_size = 3\nconnect_timeout_secs = 7\n");
    let env = vec![
        ("BRIDGEKEEPER__DATABASE__POOL_SIZE".to_string(), "16".to_string()),
        ("BRIDGEKEEPER__DEV_MODE".to_string(), "true".to_string()),
    ];
    let s = Settings::load_with_env(Some(&f), &env).unwrap();
    assert_eq!(s.bind, "127.0.0.1:9999", "file over defaults");
    assert_eq!(s.database.pool_size, 16, "environment over file");
    assert_eq!(s.database.connect_timeout_secs, 7, "file value kept when env is silent");
    assert!(s.dev_mode);
    assert_eq!(s.tokens.access_token_ttl_secs, 600, "defaults fill the rest");
}

#[test]
fn secret_interpolation_reads_the_environment() {
    use bridgekeeper::settings::Settings;
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "c.toml",
        "[[clients]]\nclient_id = \"demo-app\"\nclient_secret = \"${DEMO_SECRET}\"\nredirect_uris = [\"http://127.0.0.1:9000/callback\"]\n",
    );
    let env = vec![("DEMO_SECRET".to_string(), "xyz".to_string())];
    let s = Settings::load_with_env(Some(&f), &env).unwrap();
    assert_eq!(s.clients[0].client_secret.as_ref().unwrap().expose(), "xyz");
    assert_eq!(format!("{:?}", s.clients[0].client_secret), "Some([redacted])");
}

#[test]
fn clients_add_list_show_rotate_remove() {
    let db = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "c.toml", &format!("database_url = \"{}\"\n", db.url));
    let cfg = f.to_str().unwrap();
    let (code, out, err) = run(bin().args([
        "--config",
        cfg,
        "clients",
        "add",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--scope",
        "openid",
    ]));
    assert_eq!(code, 0, "{err}");
    let id = out.lines().find_map(|l| l.strip_prefix("client_id: ")).unwrap().to_string();
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_string();
    assert!(secret.len() >= 43);

    let (code, out, _) = run(bin().args(["--config", cfg, "clients", "list"]));
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("confidential"));
    assert!(!out.contains(&secret), "the secret is shown once only");

    let (code, out, _) = run(bin().args(["clients", "show", &id, "--config", cfg]));
    assert_eq!(code, 0);
    assert!(out.contains("https://shop.example/cb"));

    let (code, out, _) = run(bin().args(["--config", cfg, "clients", "rotate-secret", &id]));
    assert_eq!(code, 0);
    assert!(!out.contains(&secret));

    let (code, _, _) = run(bin().args(["--config", cfg, "clients", "remove", &id]));
    assert_eq!(code, 0);
    let (_, out, _) = run(bin().args(["--config", cfg, "clients", "list"]));
    assert!(!out.contains(&id));
    let (code, _, err) = run(bin().args(["--config", cfg, "clients", "remove", &id]));
    assert_eq!(code, 1);
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn clients_add_rejects_a_non_loopback_http_redirect_uri() {
    let db = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "c.toml", &format!("database_url = \"{}\"\n", db.url));
    let (code, _, err) = run(bin().args([
        "--config",
        f.to_str().unwrap(),
        "clients",
        "add",
        "--name",
        "X",
        "--redirect-uri",
        "http://evil.example/cb",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("http is only allowed for loopback"), "{err}");
}

#[test]
fn keys_rotate_then_list_shows_states() {
    let db = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "c.toml", &format!("database_url = \"{}\"\n[tokens]\nsigning_alg = \"EdDSA\"\n", db.url));
    let cfg = f.to_str().unwrap();
    let (code, out, err) = run(bin().args(["--config", cfg, "keys", "rotate"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("now signing with "));
    let (_, out, _) = run(bin().args(["--config", cfg, "keys", "list"]));
    assert!(
        out.contains("retired") && out.contains("current") && out.contains("next") && out.contains("EdDSA"),
        "{out}"
    );
}

#[test]
fn help_works_for_every_command() {
    for args in [vec!["--help"], vec!["clients", "--help"], vec!["keys", "rotate", "--help"], vec!["users", "--help"]] {
        let (code, out, _) = run(bin().args(&args));
        assert_eq!(code, 0);
        assert!(out.contains("Usage"));
    }
}

#[test]
fn issuer_with_a_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "bad.toml", "issuer = \"https://id.example/tenant1\"\n");
    let (code, _, err) = run(bin().args(["--config", f.to_str().unwrap(), "migrate"]));
    assert_eq!(code, 2);
    assert!(err.contains("issuer") && err.contains("path"), "{err}");
}

#[test]
fn providers_list_and_check_read_the_shipped_presets() {
    let (code, out, err) = run(bin().args(["providers", "list"]).current_dir(env!("CARGO_MANIFEST_DIR")));
    assert_eq!(code, 0, "{err}");
    for id in [
        "google",
        "github",
        "gitlab",
        "microsoft",
        "apple",
        "generic-oidc",
        "generic-oauth2",
        "dev",
        "ldap",
        "active-directory",
        "saml",
    ] {
        assert!(out.contains(id), "{id} in {out}");
    }
    let (code, out, err) = run(bin().args(["providers", "check"]).current_dir(env!("CARGO_MANIFEST_DIR")));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("11 provider file(s) valid"), "{out}");
}

#[test]
fn ap_8_ms_5_providers_check_names_a_bad_apple_key_and_a_template_issuer_without_tenants() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    let f = write(&dir, "c.toml", &format!("providers_dir = \"{}\"\n", dir.path().join("p").display()));
    write(
        &dir,
        "p/apple.toml",
        "kind = \"apple\"\nclient_id = \"com.example.web\"\nteam_id = \"T\"\nkey_id = \"K\"\nprivate_key = \"not a key\"\n",
    );
    let (code, _, err) = run(bin().args(["--config", f.to_str().unwrap(), "providers", "check"]));
    assert_eq!(code, 2);
    assert!(err.contains("apple.toml") && err.contains("private_key"), "{err}");
    std::fs::remove_file(dir.path().join("p/apple.toml")).unwrap();
    write(
        &dir,
        "p/ms.toml",
        "kind = \"oidc\"\nclient_id = \"x\"\nclient_secret = \"y\"\nissuer = \"https://login.microsoftonline.com/{tenantid}/v2.0\"\n",
    );
    let (code, _, err) = run(bin().args(["--config", f.to_str().unwrap(), "providers", "check"]));
    assert_eq!(code, 2);
    assert!(err.contains("ms.toml") && err.contains("tenants"), "{err}");
}

#[test]
fn ld_6_providers_check_warns_when_an_ldap_provider_trusts_email() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    let f = write(&dir, "c.toml", &format!("providers_dir = \"{}\"\n", dir.path().join("p").display()));
    let corp = |trust: bool| {
        format!(
            "kind = \"ldap\"\nenabled = false\ntrust_email = {trust}\n[ldap]\nurl = \"ldaps://dir.example.org\"\n\
             bind_dn = \"cn=svc\"\nbind_password = \"pw\"\nuser_base = \"ou=people,dc=example,dc=org\"\n"
        )
    };
    write(&dir, "p/corp.toml", &corp(true));
    for args in [&["providers", "check"][..], &["check-config"][..]] {
        let (code, out, err) = run(bin().args(["--config", f.to_str().unwrap()]).args(args));
        assert_eq!(code, 0, "a warning, not a problem: {err}");
        assert!(out.contains("warning") && out.contains("corp.toml") && out.contains("trust_email"), "{out}");
        assert!(out.contains("by self write"), "{out}");
    }
    write(&dir, "p/corp.toml", &corp(false));
    let (code, out, _) = run(bin().args(["--config", f.to_str().unwrap(), "providers", "check"]));
    assert_eq!(code, 0);
    assert!(!out.contains("warning"), "{out}");
}

#[test]
fn a_bad_provider_file_stops_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    write(
        &dir,
        "p/acme.toml",
        "kind = \"oauth2\"\nclient_id = \"x\"\nauthorization_url = \"https://a/x\"\ntoken_url = \"not a url\"\nuserinfo_url = \"https://a/u\"\n[claims]\nsubject = \"/id\"\n",
    );
    let f = write(&dir, "c.toml", &format!("providers_dir = \"{}\"\n", dir.path().join("p").display()));
    let (code, _, err) = run(bin().args(["--config", f.to_str().unwrap(), "providers", "check"]));
    assert_eq!(code, 2);
    assert!(err.contains("acme.toml") && err.contains("token_url"), "{err}");
    write(&dir, "p/acme.toml", "kind = \"oidc\"\nclient_id = \"x\"\nissuer = \"https://a\"\nsurprise = 1\n");
    let (code, _, err) = run(bin().args(["--config", f.to_str().unwrap(), "providers", "list"]));
    assert_eq!(code, 2);
    assert!(err.contains("acme.toml") && err.contains("surprise"), "{err}");
}

#[test]
fn audit_lists_admin_actions_newest_first() {
    let db = common::test_db();
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "c.toml", &format!("database_url = \"{}\"\n", db.url));
    let cfg = f.to_str().unwrap();
    let (code, _, err) =
        run(bin().args(["--config", cfg, "clients", "add", "--name", "A", "--redirect-uri", "https://a.example/cb"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = run(bin().args(["--config", cfg, "keys", "rotate"]));
    assert_eq!(code, 0);
    let (code, out, _) = run(bin().args(["--config", cfg, "audit"]));
    assert_eq!(code, 0);
    let events: Vec<&str> = out.lines().map(|l| l.split('\t').nth(1).unwrap()).collect();
    assert!(events.contains(&"client_added") && events.contains(&"keys_rotated"), "{out}");
    let (_, out, _) = run(bin().args(["--config", cfg, "audit", "--event", "keys_rotated", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["event"], "keys_rotated");
}
