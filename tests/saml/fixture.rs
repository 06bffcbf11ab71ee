//! The SAML test world: a real third-party IdP (pysaml2 signing with /usr/bin/xmlsec1, `tests/saml/idp.py`) on
//! 127.0.0.1, keys generated at test time with the openssl CLI (test-only, in a temporary folder), and the broker
//! with a `kind = "saml"` provider pointing at it. Python comes from `BK_SAML_PYTHON` or a venv this harness makes
//! once in `$HOME/.cache/bk-saml-venv` (PyPI: pysaml2, lxml).
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::common::TestApp;
use crate::common::oauth::location;

const PYSAML2: &str = "pysaml2==7.5.5";
const LXML: &str = "lxml==6.1.3";
pub const PROVIDER: &str = "saml";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The Python with pysaml2 and lxml (made once per machine; a half-made venv is never used).
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        if let Ok(p) = std::env::var("BK_SAML_PYTHON") {
            return PathBuf::from(p);
        }
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let venv = PathBuf::from(home).join(".cache/bk-saml-venv");
        let py = venv.join("bin/python");
        let ok =
            |py: &Path| Command::new(py).args(["-c", "import saml2, lxml"]).output().is_ok_and(|o| o.status.success());
        if !ok(&py) {
            let fresh = venv.with_extension(format!("new-{}", std::process::id()));
            run(Command::new("python3").arg("-m").arg("venv").arg(&fresh));
            run(Command::new(fresh.join("bin/pip")).args(["install", "--quiet", PYSAML2, LXML]));
            let _ = std::fs::remove_dir_all(&venv);
            // Only `bin/python` is used, which finds its packages from where it is: the venv can move.
            std::fs::rename(&fresh, &venv).unwrap();
        }
        assert!(ok(&py), "pysaml2 and lxml not importable with {}", py.display());
        py
    })
}

/// TEST-ONLY keys, generated once per test process: the IdP's and an attacker's (RSA 2048, self-signed).
pub fn keys() -> &'static Path {
    static KEYS: OnceLock<PathBuf> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("bk-saml-keys").tempdir().unwrap().keep();
        for n in ["idp", "evil"] {
            run(Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj"])
                .arg(format!("/CN={n}.test"))
                .arg("-keyout")
                .arg(dir.join(format!("{n}.key")))
                .arg("-out")
                .arg(dir.join(format!("{n}.crt"))));
        }
        dir
    })
}

/// A port for the IdP, which binds it itself later: below the kernel's ephemeral range (32768–60999 by default),
/// so that no outgoing connection of a test running beside it takes the port in between (once in a CI run the IdP
/// did not start: "Address already in use"), and free when chosen.
fn free_port() -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The IdP process; killed when dropped.
pub struct Idp {
    child: Child,
    pub base: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn idp_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/saml/idp.py"))
}

/// The IdP's metadata for `port` (printed by the script without serving).
pub fn idp_metadata(port: u16) -> String {
    let out = Command::new(python())
        .arg("-W")
        .arg("ignore")
        .arg(idp_script())
        .arg("metadata")
        .arg(port.to_string())
        .arg(keys())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Starts the IdP on `port`, trusting the SP metadata file; returns once it listens (it prints "ready").
pub fn start_idp(port: u16, sp_metadata: &Path) -> Idp {
    let mut child = Command::new(python())
        .arg("-W")
        .arg("ignore")
        .arg(idp_script())
        .arg("serve")
        .arg(port.to_string())
        .arg(keys())
        .arg(sp_metadata)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the IdP did not start");
    Idp { child, base: format!("http://127.0.0.1:{port}") }
}

/// How the provider file is written.
pub struct Setup<'a> {
    /// More lines for the provider file.
    pub extra: &'a str,
    /// `idp_metadata_url` instead of `idp_metadata_file`.
    pub by_url: bool,
    /// The pinned certificate: `idp` (the IdP's) or `evil`.
    pub cert: &'a str,
    /// Changes the IdP's metadata before it is written to the file.
    pub metadata: fn(String) -> String,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup { extra: "", by_url: false, cert: "idp", metadata: |m| m }
    }
}

/// The broker with a saml provider, and the IdP that knows it.
pub struct World {
    pub app: TestApp,
    pub idp: Idp,
    pub dir: tempfile::TempDir,
}

/// The provider file: metadata from a file (or `metadata_line` instead), the pinned IdP certificate, `extra`.
pub fn provider_toml(dir: &Path, metadata_line: Option<&str>, cert: &str, extra: &str) -> String {
    let md =
        metadata_line.map(String::from).unwrap_or_else(|| format!("idp_metadata_file = {:?}", dir.join("idp.xml")));
    format!(
        "kind = \"saml\"\ndisplay_name = \"Test IdP\"\n{md}\nidp_certificate_file = {:?}\n{extra}\n[claims]\nemail = \"/mail\"\nname = \"/givenName\"\npreferred_username = \"/uid\"\n",
        keys().join(format!("{cert}.crt"))
    )
}

impl World {
    pub async fn start() -> World {
        Self::start_with("", |_| {}).await
    }

    /// A world whose provider file gets `extra` lines and whose settings get `tweak`.
    pub async fn start_with(extra: &str, tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> World {
        Self::start_full(Setup { extra, ..Setup::default() }, tweak).await
    }

    pub async fn start_full(setup: Setup<'_>, tweak: impl FnOnce(&mut bridgekeeper::settings::Settings)) -> World {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let md = tokio::task::spawn_blocking(move || idp_metadata(port)).await.unwrap();
        std::fs::write(dir.path().join("idp.xml"), (setup.metadata)(md)).unwrap();
        let providers = dir.path().join("providers");
        std::fs::create_dir(&providers).unwrap();
        let md_line = setup.by_url.then(|| format!("idp_metadata_url = \"http://127.0.0.1:{port}/metadata\""));
        let toml = provider_toml(dir.path(), md_line.as_deref(), setup.cert, setup.extra);
        std::fs::write(providers.join(format!("{PROVIDER}.toml")), toml).unwrap();
        let app = TestApp::spawn_with(|s| {
            s.providers_dir = providers;
            s.clients = vec![
                crate::common::clients::ClientBuilder::confidential("app", crate::common::oauth::SECRET)
                    .redirect(crate::common::oauth::RP)
                    .scopes(&["openid", "profile", "email"])
                    .build(),
            ];
            tweak(s);
        })
        .await;
        let idp = Self::idp_for(&app, dir.path(), port).await;
        World { app, idp, dir }
    }

    /// Fetches the broker's SP metadata (as an admin would) and starts the IdP with it.
    pub async fn idp_for(app: &TestApp, dir: &Path, port: u16) -> Idp {
        let sp = app.http.get(app.url(&format!("/saml/{PROVIDER}/metadata"))).send().await.unwrap();
        assert_eq!(sp.status(), 200);
        let sp_file = dir.join("sp.xml");
        std::fs::write(&sp_file, sp.text().await.unwrap()).unwrap();
        // Off the test's runtime, which also runs the broker: a blocked runtime lets its kept-alive connections
        // time out under the client's feet.
        tokio::task::spawn_blocking(move || start_idp(port, &sp_file)).await.unwrap()
    }
}

/// What the IdP's page posts to the ACS.
#[derive(Clone, Debug)]
pub struct Post {
    pub action: String,
    pub saml_response: String,
    pub relay_state: String,
}

fn field(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no {name} in {page}"));
    let value = page[at..].split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
    value.replace("&quot;", "\"").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// `browser` starts a sign-in at `path` (default `/login/saml`) and the IdP answers it with the test `hooks`.
pub async fn to_idp(browser: &TestApp, path: &str, hooks: &str) -> Post {
    let r = browser.http.get(browser.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 302, "{path}");
    let url = location(&r);
    assert!(url.contains("SAMLRequest=") && url.contains("RelayState="), "{url}");
    let page = browser.http.get(format!("{url}&{hooks}")).send().await.unwrap();
    assert_eq!(page.status(), 200, "the IdP's page");
    let page = page.text().await.unwrap();
    let action = page.split_once("action=\"").unwrap().1.split_once('"').unwrap().0.to_string();
    Post { action, saml_response: field(&page, "SAMLResponse"), relay_state: field(&page, "RelayState") }
}

/// Posts the IdP's answer in `browser` (its cookies) to the ACS: where the broker then sends it, or the status.
pub async fn post(browser: &TestApp, at: &TestApp, p: &Post) -> Result<String, u16> {
    let form = [("SAMLResponse", p.saml_response.as_str()), ("RelayState", p.relay_state.as_str())];
    let r = browser.http.post(at.url(&format!("/callback/{PROVIDER}"))).form(&form).send().await.unwrap();
    if r.status() == 303 { Ok(location(&r)) } else { Err(r.status().as_u16()) }
}

/// One sign-in in a fresh browser with the IdP `hooks`: `Ok(next page)` or the failing status.
pub async fn sign_in(w: &World, hooks: &str) -> Result<String, u16> {
    let browser = w.app.view();
    let p = to_idp(&browser, &format!("/login/{PROVIDER}"), hooks).await;
    post(&browser, &w.app, &p).await
}

pub async fn identities(app: &TestApp) -> Vec<(String, String, String)> {
    use bridgekeeper::store::schema::identities::dsl as i;
    use diesel::prelude::*;
    app.state
        .db
        .run(|c| Ok(i::identities.select((i::provider, i::issuer, i::subject)).load::<(String, String, String)>(c)?))
        .await
        .unwrap()
}
