//! Issue #17, scale out on PostgreSQL: the pool settings of `[database]` ([DB-1]–[DB-4]) and the start-up email
//! reconciliation that skips its scan of every user when the trusted providers did not change ([TB-1h]).

mod common;

use std::time::{Duration, Instant};

use bridgekeeper::accounts::users::EMAIL_TRUST_MARK;
use bridgekeeper::store::{self, Db};
use common::TestApp;
use common::clients::ClientBuilder;
use common::oauth::{auth_query, authorize};
use diesel::{Connection, RunQueryDsl};

/// An app with the confidential client `m2m` (client credentials, refresh) and dev sign-in.
async fn app_with(tweak: impl FnOnce(&mut bridgekeeper::settings::Settings) + 'static) -> TestApp {
    TestApp::spawn_with(move |s| {
        s.dev_mode = true;
        s.clients = vec![
            ClientBuilder::confidential("m2m", "pw")
                .scopes(&["email"])
                .grants(&["client_credentials", "refresh_token"])
                .build(),
            ClientBuilder::confidential("app", common::oauth::SECRET)
                .redirect(common::oauth::RP)
                .scopes(&["openid", "profile", "email", "offline_access"])
                .grants(&["authorization_code", "refresh_token"])
                .build(),
        ];
        tweak(s);
    })
    .await
}

/// A refresh with an unknown token: it needs the database whatever is cached (400 when it answers).
async fn refresh(app: &TestApp) -> (u16, serde_json::Value, Duration) {
    let asked = Instant::now();
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth("m2m", Some("pw"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "not-a-token")])
        .timeout(Duration::from_secs(8))
        .send()
        .await
        .expect("answered, not hung");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default(), asked.elapsed())
}

/// [DB-1] With the only pooled connection held, a request waits `checkout_timeout_ms` and is answered 503
/// `temporarily_unavailable` (JSON for the token endpoint, the page for people), never a 500 or a hang; once the
/// connection is back it is answered as usual.
#[actix_web::test]
async fn db_1_a_request_that_finds_no_free_connection_is_a_clean_503_after_the_checkout_timeout() {
    let app = app_with(|s| {
        s.database.pool_size = 1;
        s.database.checkout_timeout_ms = 300;
    })
    .await;
    assert_eq!(refresh(&app).await.0, 400, "the database answers");
    // A background task may hold it for a moment: asked again until the test has it.
    let held = (0..20).find_map(|_| app.state.db.conn().ok()).expect("the one connection");
    let (status, body, took) = refresh(&app).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert!(took >= Duration::from_millis(250), "it waited for a connection ({took:?})");
    assert!(took < Duration::from_secs(4), "bounded by checkout_timeout_ms, not a hang ({took:?})");
    let page = authorize(&app, &auth_query(&[])).await;
    assert_eq!(page.status(), 503, "people get the readable 503 page");
    assert!(page.text().await.unwrap().contains("Temporarily unavailable"));
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readyz says so");
    drop(held);
    assert_eq!(refresh(&app).await.0, 400, "served again once a connection is free");
}

/// A lock on `table` held by the test's own connection, until dropped: PostgreSQL `LOCK TABLE … ACCESS
/// EXCLUSIVE` in an open transaction (every statement on the table waits); SQLite `BEGIN IMMEDIATE` (every other
/// writer waits).
struct HeldLock(store::DbConn);

impl HeldLock {
    fn take(url: &str, table: &str) -> HeldLock {
        let (mut c, sql) = if common::backend_is_postgres() {
            let c = store::DbConn::Postgres(diesel::PgConnection::establish(url).unwrap());
            (c, format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        } else {
            (store::DbConn::Sqlite(diesel::SqliteConnection::establish(url).unwrap()), "BEGIN IMMEDIATE".into())
        };
        for statement in sql.split("; ") {
            diesel::sql_query(statement).execute(&mut c).unwrap();
        }
        HeldLock(c)
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = diesel::sql_query("ROLLBACK").execute(&mut self.0);
    }
}

fn url_of(app: &TestApp) -> String {
    app.db.url.strip_prefix("sqlite://").map_or_else(|| app.db.url.clone(), str::to_string)
}

/// [DB-2] A statement that waits on a lock past its limit (PostgreSQL `statement_timeout_ms`, SQLite
/// `busy_timeout_ms`) is cancelled and the request answered 503, never a 500 or a hang; the connection serves the
/// next request once the lock is gone.
#[actix_web::test]
async fn db_2_a_statement_over_its_timeout_is_a_clean_503_and_the_connection_serves_on() {
    let app = app_with(|s| {
        s.database.pool_size = 1;
        s.database.checkout_timeout_ms = 5000;
        s.database.statement_timeout_ms = 300;
        s.database.busy_timeout_ms = 300;
    })
    .await;
    let q = auth_query(&[]);
    assert_eq!(authorize(&app, &q).await.status(), 303, "the request is stored and sign-in offered");
    let lock = HeldLock::take(&url_of(&app), "auth_requests");
    let asked = Instant::now();
    let r = app.http.get(app.url("/authorize")).query(&q).timeout(Duration::from_secs(8)).send().await;
    let r = r.expect("answered, not hung on the lock");
    let took = asked.elapsed();
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    // Well under checkout_timeout_ms: a background task blocked on the lock forever would show as a 503 after 5 s.
    assert!(took < Duration::from_millis(2500), "bounded by the statement's limit ({took:?})");
    if common::backend_is_postgres() {
        // The token endpoint too: its JSON answer.
        let lock2 = HeldLock::take(&url_of(&app), "refresh_tokens");
        let (status, body, _) = refresh(&app).await;
        assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
        drop(lock2);
    }
    drop(lock);
    assert_eq!(authorize(&app, &q).await.status(), 303, "the same pooled connection serves on");
    assert_eq!(refresh(&app).await.0, 400);
}

/// [DB-2] Migrations are not bound by `statement_timeout_ms` (an index over a large table may take minutes), and
/// the connection that ran them gets its limit back.
#[actix_web::test]
async fn db_2_migrations_run_without_the_statement_limit_and_the_connection_gets_it_back() {
    let t = common::test_db();
    let opts = store::PoolOptions {
        pool_size: 1,
        statement_timeout: Some(Duration::from_millis(5)),
        ..store::PoolOptions::default()
    };
    let db = Db::open_with(&t.url, &opts).unwrap();
    assert!(db.migrate().unwrap() > 0, "every migration ran");
    if common::backend_is_postgres() {
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            statement_timeout: String,
        }
        let show = |c: &mut store::DbConn| -> String {
            let s: Setting = diesel::sql_query("SHOW statement_timeout").get_result(c).unwrap();
            s.statement_timeout
        };
        let mut c = db.conn().unwrap();
        assert_eq!(show(&mut c), "5ms", "the connection that ran the migrations has its limit back");
        let slow = diesel::sql_query("SELECT pg_sleep(0.5)").execute(&mut *c);
        assert!(matches!(slow.map_err(store::StoreError::from), Err(store::StoreError::Unavailable(_))));
        let fresh = Db::open_with(&t.url, &opts).unwrap();
        assert_eq!(show(&mut fresh.conn().unwrap()), "5ms", "a new connection is set up with it");
    }
}

/// [DB-4] When the server drops every connection (a restart, a failover, `pg_terminate_backend`), the next
/// request is served on a new connection, not answered 503 on a dead pooled one (`test_on_check_out`: the
/// socket of a connection the server closed reads as its end).
#[actix_web::test]
async fn db_4_pooled_connections_the_server_dropped_are_replaced_without_a_failed_request() {
    if !common::backend_is_postgres() {
        eprintln!("skipped on SQLite: an embedded database cannot drop connections; runs in the PostgreSQL pass");
        return;
    }
    let app = app_with(|s| s.database.pool_size = 2).await;
    assert_eq!(refresh(&app).await.0, 400);
    assert!(app.state.db.pool_state().1 >= 1, "an idle pooled connection");
    let mut admin = diesel::PgConnection::establish(&app.db.url).unwrap();
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND application_name <> 'bridgekeeper-invalidation-listener'",
    )
    .execute(&mut admin)
    .unwrap();
    for i in 0..3 {
        assert_eq!(refresh(&app).await.0, 400, "request {i} after the connections were dropped");
    }
}

/// [DB-4] The check on checkout sends nothing to the server: the pooled backend's last statement is still the
/// caller's own after the connection was checked out (and checked) again. A `SELECT 1` check would show there.
#[test]
fn db_4_the_check_on_checkout_makes_no_round_trip() {
    if !common::backend_is_postgres() {
        eprintln!("skipped on SQLite: no check on checkout there; runs in the PostgreSQL pass");
        return;
    }
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    #[derive(diesel::QueryableByName)]
    struct Last {
        #[diesel(sql_type = diesel::sql_types::Text)]
        query: String,
    }
    let t = common::test_db();
    let opts = store::PoolOptions { pool_size: 1, test_on_check_out: true, ..store::PoolOptions::default() };
    let db = Db::open_with(&t.url, &opts).unwrap();
    let mine = "SELECT pg_backend_pid() AS pid -- db_4 marker";
    let pid = diesel::sql_query(mine).get_result::<Pid>(&mut *db.conn().unwrap()).unwrap().pid;
    let again = db.conn().unwrap();
    let mut admin = diesel::PgConnection::establish(&t.url).unwrap();
    let last: Last = diesel::sql_query("SELECT query FROM pg_stat_activity WHERE pid = $1")
        .bind::<diesel::sql_types::Integer, _>(pid)
        .get_result(&mut admin)
        .unwrap();
    assert_eq!(last.query, mine, "the checkout of the pooled connection sent nothing");
    let mut again = again;
    let same = diesel::sql_query(mine).get_result::<Pid>(&mut *again).unwrap().pid;
    assert_eq!(same, pid, "the second checkout had the same (checked, kept) connection");
}

fn user(id: &str, verified: bool) -> store::users::User {
    store::users::User {
        id: id.into(),
        email: Some(format!("{id}@example.com")),
        email_verified: verified,
        name: None,
        preferred_username: None,
        picture: None,
        groups_json: "[]".into(),
        disabled: false,
        created_at: 1,
        updated_at: 1,
    }
}

async fn verified(db: &Db, id: &str) -> bool {
    let id = id.to_string();
    db.run(move |c| store::users::find(c, &id)).await.unwrap().unwrap().email_verified
}

async fn mark(db: &Db) -> Option<String> {
    db.run(|c| store::marks::find(c, EMAIL_TRUST_MARK)).await.unwrap()
}

/// [TB-1h] The scan of every user for a verified email without a trusted identity runs when the trusted-provider
/// set differs from the one recorded (first start, a start or a reload with another set) and is skipped when it is
/// the same. Observed through a planted row the scan would correct (a verified user without any identity).
#[actix_web::test]
async fn tb_1h_the_user_scan_runs_only_for_a_trusted_set_other_than_the_recorded_one() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("dev.toml");
    std::fs::write(&dev, "kind = \"dev\"\ntrust_email = true\n").unwrap();
    let start = |db: common::TestDb| {
        let providers = dir.path().to_path_buf();
        TestApp::spawn_on(db, move |s| {
            s.dev_mode = true;
            s.providers_dir = providers;
        })
    };
    let a = start(common::test_db()).await;
    assert_eq!(mark(&a.state.db).await.as_deref(), Some(r#"["dev"]"#), "the first start ran it and recorded the set");
    a.state.db.run(|c| store::users::insert(c, &user("drift-1", true))).await.unwrap();
    let db = a.db.share();
    a.stop().await;

    let b = start(db).await;
    assert!(verified(&b.state.db, "drift-1").await, "the same set: the scan was skipped");

    // A reload that changes the set brings the accounts in line through the same function.
    std::fs::write(&dev, "kind = \"dev\"\n").unwrap();
    let next = bridgekeeper::upstream::Registry::load(dir.path(), true, Duration::from_secs(5), &[]).unwrap();
    let reconcile = || bridgekeeper::accounts::providers::reconcile(&b.state.db, b.state.sealer.clone(), &next, 9);
    let ran = reconcile().await.unwrap();
    assert!(ran.scanned_users && ran.changed >= 1, "{ran:?}");
    assert!(!verified(&b.state.db, "drift-1").await, "a changed set: the scan ran");
    assert_eq!(mark(&b.state.db).await.as_deref(), Some("[]"));
    assert!(!reconcile().await.unwrap().scanned_users, "the set just recorded: skipped");

    // A start with yet another set runs it.
    b.state.db.run(|c| store::users::insert(c, &user("drift-2", true))).await.unwrap();
    std::fs::write(&dev, "kind = \"dev\"\ntrust_email = true\n").unwrap();
    let db = b.db.share();
    b.stop().await;
    let c = start(db).await;
    assert!(!verified(&c.state.db, "drift-2").await, "another set at start: the scan ran");
    assert_eq!(mark(&c.state.db).await.as_deref(), Some(r#"["dev"]"#));
}

/// [DB-4] The numbers behind keeping `test_on_check_out` (docs/performance.md): what a `SELECT 1` per checkout
/// costs next to a primary-key lookup, and how many checkouts a request makes. PostgreSQL only; run with
/// `cargo test --release --test database -- --ignored --nocapture db_4_measure`.
#[actix_web::test]
#[ignore]
async fn db_4_measure_what_the_check_on_checkout_costs() {
    if !common::backend_is_postgres() {
        return;
    }
    let t = common::test_db();
    Db::open(&t.url, 1, Duration::from_secs(5)).unwrap().migrate().unwrap();
    let pool = |check: bool| {
        let opts = store::PoolOptions { pool_size: 1, test_on_check_out: check, ..store::PoolOptions::default() };
        Db::open_with(&t.url, &opts).unwrap()
    };
    let (checked, unchecked) = (pool(true), pool(false));
    let lookup = |db: &Db, n: u32| {
        let started = Instant::now();
        for _ in 0..n {
            let mut c = db.conn().unwrap();
            store::users::find(&mut c, "nobody").unwrap();
        }
        started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    let (mut with, mut without) = (Vec::new(), Vec::new());
    lookup(&checked, 200);
    lookup(&unchecked, 200);
    for _ in 0..9 {
        with.push(lookup(&checked, 1000));
        without.push(lookup(&unchecked, 1000));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    println!("checkout + PK lookup: {w:.1} us with the check, {wo:.1} us without ({:.1} us per checkout)", w - wo);

    let app = common::oauth::spawn().await;
    let code = common::oauth::code(&app, &[]).await;
    let tokens = common::oauth::exchange(&app, &code).await;
    let checkouts = || app.state.metrics.db_wait.get_sample_count();
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let before = checkouts();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
    let r = common::oauth::token(&app, ("app", common::oauth::SECRET), &form).await;
    assert_eq!(r.status(), 200);
    let refreshed: serde_json::Value = r.json().await.unwrap();
    let refresh_checkouts = checkouts() - before;
    let before = checkouts();
    let at = refreshed["access_token"].as_str().unwrap();
    assert_eq!(common::oauth::userinfo(&app, at).await.status(), 200);
    println!("checkouts: refresh {refresh_checkouts}, userinfo {}", checkouts() - before);
}

/// [DB-5] A refresh and a code redemption each take one pooled connection (one transaction, one blocking hop):
/// the `bridgekeeper_db_pool_wait_seconds` count moves by one around each request (it was 4 for a refresh: the
/// token, the grant with its user, the rotation, the sign-in's provider for the upstream re-check).
#[actix_web::test]
async fn db_5_a_refresh_and_a_code_redemption_each_take_one_pooled_connection() {
    let app = common::oauth::spawn().await;
    let checkouts = || app.state.metrics.db_wait.get_sample_count();
    let code = common::oauth::code(&app, &[]).await;
    // The sign-in's writes moved the write epoch, so the client row is read once more (a cache, not the grant):
    // an unknown code warms it, and is itself one hop.
    let unknown = [("grant_type", "authorization_code"), ("code", "nope"), ("redirect_uri", common::oauth::RP)];
    let r = common::oauth::token(&app, ("app", common::oauth::SECRET), &unknown).await;
    assert_eq!(common::oauth::json_error(r).await, (400, "invalid_grant".to_string()));
    let before = checkouts();
    let tokens = common::oauth::exchange(&app, &code).await;
    assert_eq!(checkouts() - before, 1, "a code redemption is one hop");
    let rt = tokens["refresh_token"].as_str().expect("offline_access: a refresh token").to_string();
    let before = checkouts();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
    let r = common::oauth::token(&app, ("app", common::oauth::SECRET), &form).await;
    assert_eq!(r.status(), 200);
    let refreshed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(checkouts() - before, 1, "a refresh is one hop");
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"], "rotated");
    // Its successor works, and the spent token presented again is refused (the rules ran in that hop).
    let next = refreshed["refresh_token"].as_str().unwrap();
    let again = common::oauth::token(&app, ("app", common::oauth::SECRET), &form).await;
    assert_eq!(common::oauth::json_error(again).await, (400, "invalid_grant".to_string()));
    let form = [("grant_type", "refresh_token"), ("refresh_token", next)];
    assert_eq!(common::oauth::token(&app, ("app", common::oauth::SECRET), &form).await.status(), 200);
}

/// [DB-5] A refresh token or code that does not exist is refused from a plain read: it never waits for SQLite's
/// write lock (which every sign-in, logout and revocation needs), so junk at /token cannot queue writers.
#[actix_web::test]
async fn db_5_unknown_tokens_do_not_take_the_sqlite_write_lock() {
    if common::backend_is_postgres() {
        return;
    }
    let app = app_with(|s| s.database.busy_timeout_ms = 2000).await;
    assert_eq!(refresh(&app).await.0, 400, "warm: the client row is cached");
    let lock = HeldLock::take(&url_of(&app), "refresh_tokens");
    let (status, body, took) = refresh(&app).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(took < Duration::from_millis(1000), "not queued behind the write lock ({took:?})");
    let asked = Instant::now();
    let unknown = [("grant_type", "authorization_code"), ("code", "nope"), ("redirect_uri", common::oauth::RP)];
    let r = common::oauth::token(&app, ("app", common::oauth::SECRET), &unknown).await;
    assert_eq!(common::oauth::json_error(r).await, (400, "invalid_grant".to_string()));
    assert!(asked.elapsed() < Duration::from_millis(1000), "not queued behind the write lock");
    drop(lock);
}

/// The fixture cleans up after itself: a test database goes when its last handle does (PostgreSQL: dropped with
/// its connections ended, even one still open; SQLite: its folder removed), and not before.
#[test]
fn test_databases_are_dropped_with_their_last_handle() {
    let db = common::test_db();
    let (url, other) = (db.url.clone(), db.share());
    assert!(database_exists(&url), "the database is there while it has a handle");
    // A connection left open (a pool the test did not close) does not keep it.
    let _open = common::backend_is_postgres().then(|| diesel::PgConnection::establish(&url).unwrap());
    drop(db);
    assert!(database_exists(&url), "another handle keeps it");
    drop(other);
    assert!(!database_exists(&url), "the last handle dropped it");
}

#[derive(diesel::QueryableByName)]
struct One {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    _one: i32,
}

fn database_exists(url: &str) -> bool {
    if !common::backend_is_postgres() {
        return std::path::Path::new(url.trim_start_matches("sqlite://")).parent().unwrap().exists();
    }
    let mut c = diesel::PgConnection::establish(&std::env::var("BK_TEST_PG_URL").unwrap()).unwrap();
    let name = url.rsplit('/').next().unwrap();
    let q = format!("SELECT 1 AS _one FROM pg_database WHERE datname = '{name}'");
    !diesel::sql_query(q).load::<One>(&mut c).unwrap().is_empty()
}
