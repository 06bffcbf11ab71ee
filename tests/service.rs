//! Issue #16, running it like a service: one self-contained binary started from any folder, relative paths from
//! the config file's folder, `templates_dir` as an override, `check-config`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The database of this run: a relative SQLite file (resolved against the config folder) or the PostgreSQL one.
fn database_url(db: &common::TestDb) -> String {
    if common::backend_is_postgres() { db.url.clone() } else { "sqlite://data/bk.db".into() }
}

const DEV_PROVIDER: &str = "kind = \"dev\"\ndisplay_name = \"Development sign-in\"\nenabled = true\n";

/// [SV-1] [SV-2] [SV-3] The binary started from `/`, with its config in another folder that holds relative
/// paths, serves pages from the built-in templates, the one overridden page from `templates_dir`, and the
/// stylesheet; its SQLite file lands in the config folder.
#[tokio::test]
async fn sv_1_2_3_the_binary_runs_from_any_folder_with_built_in_templates_and_one_override() {
    let db = common::test_db();
    let conf = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let cfg = write(
        conf.path(),
        "etc/config.toml",
        &format!(
            "issuer = \"http://127.0.0.1:{port}\"\nbind = \"127.0.0.1:{port}\"\nmetrics_bind = \"127.0.0.1:{metrics_port}\"\ndatabase_url = \"{}\"\ndev_mode = true\ntemplates_dir = \"brand\"\nencryption_keys = \"{}\"\n",
            database_url(&db),
            common::TEST_ENCRYPTION_KEYS
        ),
    );
    let etc = conf.path().join("etc");
    write(&etc, "providers/dev.toml", DEV_PROVIDER);
    write(&etc, "providers/other.toml", &DEV_PROVIDER.replace("Development sign-in", "Second dev door"));
    write(&etc, "brand/home.html", "{% extends \"base.html\" %}{% block content %}OUR OWN HOME{% endblock content %}");
    let child = Child(
        bin()
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .current_dir("/")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut child = child;
    while !http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        if let Ok(Some(status)) = child.0.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("broker exited with {status}: {err}");
        }
        assert!(Instant::now() < deadline, "broker did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let home = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("OUR OWN HOME"), "the override replaces home.html");
    let login = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let page = login.text().await.unwrap();
    assert!(page.contains("Second dev door") && page.contains("/static/style.css"), "built-in login.html: {page}");
    let css = http.get(format!("{base}/static/style.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css");
    let shipped = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/static/style.css")).unwrap();
    assert_eq!(css.bytes().await.unwrap().as_ref(), shipped.as_slice());
    let missing = http.get(format!("{base}/static/nothing.css")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // [MT-1] Metrics on their own listener only.
    assert_eq!(http.get(format!("{base}/metrics")).send().await.unwrap().status(), 404);
    let metrics = http.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("bridgekeeper_http_requests_total{method=\"GET\",route=\"/\""));
    if !common::backend_is_postgres() {
        assert!(etc.join("data/bk.db").is_file(), "the relative SQLite path is taken from the config folder");
    }
}

/// A config folder whose every file is valid, with one OIDC provider at `issuer`.
fn valid_folder(issuer: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        write(dir.path(), "config.toml", "database_url = \"sqlite://nowhere/never.db\"\ntemplates_dir = \"brand\"\n");
    write(
        dir.path(),
        "providers/acme.toml",
        &format!("kind = \"oidc\"\nclient_id = \"x\"\nclient_secret = \"y\"\nissuer = \"{issuer}\"\n"),
    );
    write(dir.path(), "brand/home.html", "{% extends \"base.html\" %}{% block content %}ok{% endblock content %}");
    (dir, cfg)
}

/// [SV-4] `check-config` reads everything, reports every problem on a line of its own naming the file (and the
/// key), exits 2; a valid configuration exits 0; nothing is contacted or created without `--online`.
#[test]
fn sv_4_check_config_names_every_problem_with_file_and_key() {
    let (dir, cfg) = valid_folder("http://127.0.0.1:1");
    let (code, out, err) = run(bin().args(["--config", cfg.to_str().unwrap(), "check-config"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration valid"), "{out}");
    assert!(!dir.path().join("nowhere").exists(), "check-config opens no database");

    write(dir.path(), "providers/bad1.toml", "kind = \"oauth2\"\nclient_id = \"x\"\ntoken_url = \"not a url\"\n");
    write(
        dir.path(),
        "providers/bad2.toml",
        "kind = \"oidc\"\nclient_id = \"x\"\nissuer = \"https://a\"\nsurprise = 1\n",
    );
    write(dir.path(), "brand/login.html", "{% if %}broken");
    let (code, out, err) = run(bin().args(["--config", cfg.to_str().unwrap(), "check-config"]));
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "one line per problem: {out}");
    assert!(lines.iter().any(|l| l.contains("bad1.toml") && l.contains("authorization_url")), "{out}");
    assert!(lines.iter().any(|l| l.contains("bad2.toml") && l.contains("surprise")), "{out}");
    assert!(lines.iter().any(|l| l.contains(&format!("brand{}login.html", std::path::MAIN_SEPARATOR))), "{out}");

    let fr = write(dir.path(), "fr.toml", "default_locale = \"fr\"\n");
    let (code, out, _) = run(bin().args(["--config", fr.to_str().unwrap(), "check-config"]));
    assert_eq!(code, 2);
    assert!(out.contains("default_locale") && out.contains("locales/fr.ftl"), "{out}");

    let bad = write(dir.path(), "bad.toml", "[database]\npool_sise = 3\n");
    let (code, _, err) = run(bin().args(["--config", bad.to_str().unwrap(), "check-config"]));
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml") && err.contains("database.pool_sise"), "{err}");
}

/// [SV-4] `--online` fetches each OIDC provider's discovery and JWKS: an unreachable issuer is a problem only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sv_4_check_config_online_fetches_discovery_and_jwks() {
    let (_dir, cfg) = valid_folder("http://127.0.0.1:1");
    let cfg_s = cfg.to_str().unwrap().to_string();
    let c = cfg_s.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run(bin().args(["--config", &c, "check-config", "--online"])))
            .await
            .unwrap();
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("acme.toml") && out.contains("issuer"), "{out}");

    let idp = common::fake_idp::FakeIdp::start().await;
    let (dir, cfg) = valid_folder(&idp.base);
    let c = cfg.to_str().unwrap().to_string();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run(bin().args(["--config", &c, "check-config", "--online"])))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("upstreams reachable"), "{out}");
    drop(dir);
    idp.stop().await;
}

fn hangup(child: &Child) {
    let ok = Command::new("kill").args(["-HUP", &child.0.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -HUP");
}

async fn gauge(http: &reqwest::Client, metrics: &str, name: &str) -> Option<f64> {
    let text = http.get(metrics).send().await.ok()?.text().await.ok()?;
    let s = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).ok()?;
    s.samples.iter().find(|x| x.metric == name).and_then(|x| match x.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => Some(v),
        _ => None,
    })
}

/// Polls `check` until it holds or 20 s pass.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [HR-1] SIGHUP with a broken provider file keeps the broker serving the configuration in force, says why and
/// sets `config_reload_success 0`; once the files are valid, a SIGHUP puts the new templates in force, and a
/// changed `bind` is reported as needing a restart.
#[tokio::test]
async fn hr_1_sighup_validates_first_keeps_serving_on_error_and_swaps_when_valid() {
    let db = common::test_db();
    let conf = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let text = format!(
        "issuer = \"http://127.0.0.1:{port}\"\nbind = \"127.0.0.1:{port}\"\nmetrics_bind = \"127.0.0.1:{metrics_port}\"\ndatabase_url = \"{}\"\ndev_mode = true\ntemplates_dir = \"brand\"\nencryption_keys = \"{}\"\n",
        database_url(&db),
        common::TEST_ENCRYPTION_KEYS
    );
    let cfg = write(conf.path(), "config.toml", &text);
    write(conf.path(), "providers/dev.toml", DEV_PROVIDER);
    write(
        conf.path(),
        "brand/home.html",
        "{% extends \"base.html\" %}{% block content %}FIRST HOME{% endblock content %}",
    );
    let log = conf.path().join("log.txt");
    let child = Child(
        bin()
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .current_dir(conf.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let metrics = format!("http://127.0.0.1:{metrics_port}/metrics");
    eventually("ready", || async { http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) })
        .await;
    let home = || async { http.get(format!("{base}/")).send().await.unwrap().text().await.unwrap() };
    assert!(home().await.contains("FIRST HOME"));
    assert_eq!(gauge(&http, &metrics, "bridgekeeper_config_reload_success").await, Some(1.0));

    write(
        conf.path(),
        "brand/home.html",
        "{% extends \"base.html\" %}{% block content %}SECOND HOME{% endblock content %}",
    );
    write(conf.path(), "providers/broken.toml", "kind = \"oidc\"\nclient_id = \"x\"\n");
    hangup(&child);
    eventually("reload refused", || async {
        gauge(&http, &metrics, "bridgekeeper_config_reload_success").await == Some(0.0)
    })
    .await;
    assert!(home().await.contains("FIRST HOME"), "the old configuration keeps serving");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("broken.toml") && logged.contains("issuer"), "{logged}");

    std::fs::remove_file(conf.path().join("providers/broken.toml")).unwrap();
    write(conf.path(), "config.toml", &text.replace(&format!("bind = \"127.0.0.1:{port}\""), "bind = \"127.0.0.1:1\""));
    hangup(&child);
    eventually("new templates in force", || async { home().await.contains("SECOND HOME") }).await;
    // The gauge is set once the reload has finished, just after the swap.
    eventually("reload reported", || async {
        gauge(&http, &metrics, "bridgekeeper_config_reload_success").await == Some(1.0)
    })
    .await;
    eventually("bind named as needing a restart", || async {
        let logged = std::fs::read_to_string(&log).unwrap();
        logged.lines().any(|l| l.contains("needs restart") && l.contains("bind"))
    })
    .await;
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200, "still on the old bind");
}
