//! Shared fixture: a fresh database on the backend under test, and the real app on 127.0.0.1:0.
//! Backend: SQLite by default; PostgreSQL when BK_TEST_BACKEND=postgres (BK_TEST_PG_URL = admin URL).
#![allow(dead_code)]

pub mod backchannel;
pub mod broker;
pub mod clients;
pub mod dpop;
pub mod exchange;
pub mod fake_apple;
pub mod fake_idp;
pub mod oauth;
pub mod rows;
pub mod slapd;

use std::net::TcpListener;
use std::sync::Arc;

use bridgekeeper::clock::Clock;
use bridgekeeper::server::AppState;
use bridgekeeper::settings::Settings;
use diesel::{Connection, RunQueryDsl};

pub struct TestDb {
    pub url: String,
    _owned: Arc<Owned>,
}

/// What a test database is made of; it goes when the last handle on it does.
enum Owned {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

impl Drop for Owned {
    /// PostgreSQL: the database is dropped, its connections (a pool still open, a server still stopping) ended
    /// first. Best-effort: a failure is printed and never fails the test.
    fn drop(&mut self) {
        if let Owned::Postgres { admin, name } = self
            && let Err(e) = drop_database(admin, name)
        {
            eprintln!("test database {name} left behind: {e}");
        }
    }
}

/// `DROP DATABASE … WITH (FORCE)` (PostgreSQL 13+); before 13, `pg_terminate_backend` and a plain drop.
fn drop_database(admin: &str, name: &str) -> Result<(), String> {
    let mut c = diesel::PgConnection::establish(admin).map_err(|e| e.to_string())?;
    if diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).is_ok() {
        return Ok(());
    }
    let others = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    );
    let _ = diesel::sql_query(others).execute(&mut c);
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut c).map(drop).map_err(|e| e.to_string())
}

impl TestDb {
    /// Another handle on the same database (it is dropped with the last one).
    pub fn share(&self) -> TestDb {
        TestDb { url: self.url.clone(), _owned: self._owned.clone() }
    }
}

pub fn backend_is_postgres() -> bool {
    std::env::var("BK_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

fn pg_admin_url() -> String {
    std::env::var("BK_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database on the backend under test, dropped when its last handle is.
pub fn test_db() -> TestDb {
    if backend_is_postgres() {
        let admin = pg_admin_url();
        let name =
            format!("bk_test_{}", bridgekeeper::secret::random_token_bytes(9).to_lowercase().replace(['-', '_'], "x"));
        let mut conn = diesel::PgConnection::establish(&admin).expect("PostgreSQL reachable at BK_TEST_PG_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        TestDb { url: format!("{base}/{name}"), _owned: Arc::new(Owned::Postgres { admin, name }) }
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bk.db", dir.path().display());
        TestDb { url, _owned: Arc::new(Owned::Sqlite(dir)) }
    }
}

/// Test-only encryption key (32 bytes of 0x07): secrets at rest are sealed in every test.
pub const TEST_ENCRYPTION_KEYS: &str = "test:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// Settings for a test instance: built-in defaults, the given database and issuer.
pub fn settings(db_url: &str, issuer: &str) -> Settings {
    let mut s = Settings::load_with_env(None, &[]).unwrap();
    s.database_url = db_url.to_string();
    s.issuer = issuer.to_string();
    s.bind = "127.0.0.1:0".into();
    s.templates_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates").into();
    s.providers_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/providers").into();
    // Generous enough for a start-up on a loaded 2-core CI machine (2 s once timed out there); the tests that cut
    // the database off set their own, shorter one.
    s.database.checkout_timeout_ms = 5000;
    s.database.connect_timeout_secs = 5;
    s.encryption_keys = bridgekeeper::secret::Secret::new(TEST_ENCRYPTION_KEYS);
    s
}

/// A listener on 127.0.0.1 (a port of the system's choosing) and its base URL.
pub fn local_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

/// A port on 127.0.0.1 that was free a moment ago (for a process that binds it itself).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a test server (a fake upstream, a receiver) on the test's runtime; its handle stops it.
pub fn run_in_background(server: actix_web::dev::Server) -> actix_web::dev::ServerHandle {
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    pub clock: Clock,
    pub db: TestDb,
    pub http: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    /// Views (`view()`) share the server and never stop it.
    owner: bool,
}

impl TestApp {
    /// Spawns the real app with default settings adjusted by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_on(test_db(), tweak).await
    }

    /// Spawns the app on an existing database (several instances can share one).
    pub async fn spawn_on(db: TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let (listener, base) = local_listener();
        let mut s = settings(&db.url, &base);
        tweak(&mut s);
        let clock =
            Clock::fixed(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64);
        let state = AppState::prepare(s, clock.clone()).await.unwrap();
        let handle = run_in_background(bridgekeeper::server::start(state.clone(), listener, Some(1)).unwrap());
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        TestApp { base, state, clock, db, http, handle, owner: true }
    }

    /// The same running app seen from another browser (its own cookie jar). Dropping a view leaves the app running.
    pub fn view(&self) -> TestApp {
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        TestApp {
            base: self.base.clone(),
            state: self.state.clone(),
            clock: self.clock.clone(),
            db: self.db.share(),
            http,
            handle: self.handle.clone(),
            owner: false,
        }
    }

    /// A view whose cookie jar the test holds (to replay the browser's cookies on a raw socket).
    pub fn view_with_jar(&self, jar: Arc<reqwest::cookie::Jar>) -> TestApp {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar)
            .build()
            .unwrap();
        TestApp {
            base: self.base.clone(),
            state: self.state.clone(),
            clock: self.clock.clone(),
            db: self.db.share(),
            http,
            handle: self.handle.clone(),
            owner: false,
        }
    }

    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server and waits until it has (for tests that go on without it); dropping the app stops it too.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for TestApp {
    /// Stops the server when the test is done with the app: no test has to remember to.
    fn drop(&mut self) {
        // `stop` sends the command at once; waiting for it is not needed when the runtime ends with the test.
        if self.owner {
            let _stopping = self.handle.stop(false);
        }
    }
}
