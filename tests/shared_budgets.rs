//! [RL-6] Failure budgets shared by the instances through PostgreSQL (`rate_limits.shared`): failures spread over
//! two brokers on one database exhaust one budget (without `shared` they are two), a valid credential from another
//! address still passes ([RL-1]), the sweeper removes old windows, a database failure while charging fails closed,
//! `shared` needs a restart, and SQLite refuses it. Instances are two `AppState`s on one database.

mod common;
use common::clients::ClientBuilder;

use common::TestApp;
use common::broker::Broker;
use common::oauth::*;
use diesel::RunQueryDsl;

async fn pair(shared: bool) -> (TestApp, TestApp) {
    let db = common::test_db();
    let other = db.share();
    let tweak = move |s: &mut bridgekeeper::settings::Settings| {
        s.rate_limits.failures_per_minute = 3;
        s.rate_limits.address_failures_per_minute = 3;
        s.rate_limits.requests_per_second = 10_000;
        s.rate_limits.request_burst = 10_000;
        s.rate_limits.shared = shared;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid"])
                .grants(&["client_credentials"])
                .build(),
        ];
    };
    let a = TestApp::spawn_on(db, tweak).await;
    let b = TestApp::spawn_on(other, tweak).await;
    // One clock for both (the windows are the instances' time).
    b.clock.advance(a.clock.now() - b.clock.now());
    (a, b)
}

/// A client whose requests come from `ip` (any 127.0.0.0/8 address is this machine's loopback).
fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn cc(app: &TestApp, http: &reqwest::Client, secret: &str) -> u16 {
    let r =
        http.post(app.url("/token")).basic_auth("app", Some(enc(secret))).form(&[("grant_type", "client_credentials")]);
    r.send().await.unwrap().status().as_u16()
}

fn rows(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = app.state.db.conn().unwrap();
    diesel::sql_query("SELECT COUNT(*) AS n FROM failure_counts").get_result::<N>(&mut *c).unwrap().n
}

/// Four wrong secrets from one address, alternating between the instances (two each, within each one's budget
/// of 3): what the guesser's right secret gets at B afterwards.
async fn spread_failures(a: &TestApp, b: &TestApp) -> u16 {
    let guesser = from([127, 0, 0, 2]);
    for app in [a, b, a, b] {
        assert_eq!(cc(app, &guesser, "wrong").await, 401, "a failure is answered as one");
    }
    cc(b, &guesser, SECRET).await
}

#[actix_web::test]
async fn rl_6_failures_spread_over_two_instances_exhaust_one_shared_budget() {
    if !common::backend_is_postgres() {
        return; // SQLite refuses `shared` (rl_6_sqlite_refuses_shared_naming_the_key).
    }
    let (a, b) = pair(true).await;
    assert_eq!(spread_failures(&a, &b).await, 429, "4 failures over both instances: over the one budget of 3");
    let guesser = from([127, 0, 0, 2]);
    // The known limit: A learns of the spent budget at the guesser's next failure there (admission reads memory).
    assert_eq!(cc(&a, &guesser, "wrong").await, 401, "one more try at the instance that has not seen the wait");
    assert_eq!(cc(&a, &guesser, SECRET).await, 429, "then the guesser waits there too");
    // [RL-1] The guesser is throttled, never the victim.
    let victim = from([127, 0, 0, 1]);
    assert_eq!(cc(&a, &victim, SECRET).await, 200, "a valid credential from another address passes at A");
    assert_eq!(cc(&b, &victim, SECRET).await, 200, "and at B");
    assert!(rows(&a) >= 2, "the windows are in the database");
}

#[actix_web::test]
async fn rl_6_without_shared_two_instances_are_two_budgets() {
    let (a, b) = pair(false).await;
    assert_eq!(spread_failures(&a, &b).await, 200, "each instance saw 2 of its own 3: per instance, k × the budget");
    assert_eq!(rows(&a), 0, "nothing is written");
}

#[actix_web::test]
async fn rl_6_the_sweeper_removes_old_windows() {
    if !common::backend_is_postgres() {
        return;
    }
    let (a, b) = pair(true).await;
    spread_failures(&a, &b).await;
    let before = rows(&a);
    assert!(before >= 2);
    a.clock.advance(60);
    assert_eq!(rows(&a), before, "a window is kept while the next one reads it");
    let swept = bridgekeeper::sweeper::sweep_once(&a.state).await.unwrap();
    assert_eq!(swept.iter().find(|(t, _)| *t == "failure_counts").unwrap().1, 0, "not yet");
    a.clock.advance(61);
    let swept = bridgekeeper::sweeper::sweep_once(&a.state).await.unwrap();
    assert_eq!(swept.iter().find(|(t, _)| *t == "failure_counts").unwrap().1, before as u64);
    assert_eq!(rows(&a), 0);
}

/// A database failure while charging (here: the table is gone) fails closed: the failure is answered as one (never
/// a 500), and the guesser's address waits a window here (never a free extra try the cluster did not count);
/// other addresses are served.
#[actix_web::test]
async fn rl_6_a_database_failure_while_charging_fails_closed() {
    if !common::backend_is_postgres() {
        return;
    }
    let (a, _b) = pair(true).await;
    diesel::sql_query("DROP TABLE failure_counts").execute(&mut *a.state.db.conn().unwrap()).unwrap();
    let guesser = from([127, 0, 0, 2]);
    assert_eq!(cc(&a, &guesser, "wrong").await, 401, "the failure's own answer, not a 500");
    assert_eq!(cc(&a, &guesser, "wrong").await, 429, "no second try while the charge could not be counted");
    assert_eq!(cc(&a, &guesser, SECRET).await, 429);
    assert_eq!(cc(&a, &from([127, 0, 0, 1]), SECRET).await, 200, "another address is served");
}

/// `shared` is restart-only ([HR-7]): a reload that turns it on is reported as needing a restart and kept as it
/// started (PostgreSQL: failures still write nothing); with SQLite the reload is refused, naming the key.
#[actix_web::test]
async fn rl_6_shared_needs_a_restart_and_a_reload_keeps_it() {
    let b = Broker::start(&[("dev.toml", "kind = \"dev\"\n".into())]).await;
    let forged = || async {
        b.app.http.get(b.app.url("/callback/dev?state=forged&code=x")).send().await.unwrap().status().as_u16()
    };
    assert_eq!(forged().await, 400);
    assert_eq!(rows(&b.app), 0, "not shared: nothing written");
    b.config("", "[rate_limits]\nshared = true\n");
    let (status, body) = b.reload().await;
    if common::backend_is_postgres() {
        assert_eq!((status, &body["needs_restart"]), (200, &serde_json::json!(["rate_limits.shared"])), "{body}");
        assert_eq!(forged().await, 400);
        assert_eq!(rows(&b.app), 0, "kept as it started: still per instance");
    } else {
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("rate_limits.shared"), "the key is named: {body}");
    }
    assert!(!b.app.state.settings().rate_limits.shared);
}

#[test]
fn rl_6_sqlite_refuses_shared_naming_the_key() {
    let env = |url: &str| {
        vec![
            ("BRIDGEKEEPER__DATABASE_URL".to_string(), url.to_string()),
            ("BRIDGEKEEPER__RATE_LIMITS__SHARED".to_string(), "true".to_string()),
        ]
    };
    let e = bridgekeeper::settings::Settings::load_with_env(None, &env("sqlite://bk.db")).unwrap_err();
    assert!(e.0.contains("rate_limits.shared") && e.0.contains("PostgreSQL"), "{}", e.0);
    let s = bridgekeeper::settings::Settings::load_with_env(None, &env("postgres://db.example/bk")).unwrap();
    assert!(s.rate_limits.shared);
    // check-config says the same, naming the key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
        .arg("check-config")
        .env("BRIDGEKEEPER__DATABASE_URL", "sqlite://bk.db")
        .env("BRIDGEKEEPER__RATE_LIMITS__SHARED", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("rate_limits.shared"), "{err}");
}

/// Timings of `n` calls of `f` (microseconds): (mean, p50, p99).
async fn timed<F, Fut>(n: usize, mut f: F) -> (f64, f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut t = Vec::with_capacity(n);
    for i in 0..n {
        let start = std::time::Instant::now();
        f(i).await;
        t.push(start.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (t.iter().sum::<f64>() / n as f64, t[n / 2], t[n * 99 / 100])
}

/// [RL-6] The cost of `shared`, measured (docs/performance.md): one failure charge (`AppState::failed`) and one
/// admission (`Limits::admit`) without and with `shared`, on the backend under test (run it on PostgreSQL):
/// `BK_TEST_BACKEND=postgres … cargo test --release --test shared_budgets -- --ignored --nocapture`.
#[actix_web::test]
#[ignore]
async fn rl_6_measure_the_cost_of_a_failure_charge() {
    if !common::backend_is_postgres() {
        return;
    }
    let n = 2000;
    for shared in [false, true] {
        let app = TestApp::spawn_with(move |s| {
            s.rate_limits.failures_per_minute = 1_000_000;
            s.rate_limits.address_failures_per_minute = 1_000_000;
            s.rate_limits.stuffing_alarm_per_minute = 1_000_000;
            s.rate_limits.shared = shared;
        })
        .await;
        let ip = |i: usize| std::net::IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]);
        // Warm the pool and the statement cache.
        for i in 0..50 {
            app.state.failed(ip(i), Some("app")).await;
        }
        let failed = timed(n, |i| {
            let state = app.state.clone();
            async move {
                state.failed(ip(i), Some("app")).await;
            }
        })
        .await;
        let admit = timed(n, |i| {
            let limits = app.state.limits();
            async move {
                assert!(limits.admit(ip(i), Some("app")).is_ok());
            }
        })
        .await;
        println!(
            "shared={shared}: failure charge mean {:.1} µs p50 {:.1} µs p99 {:.1} µs; admission mean {:.2} µs p50 {:.2} µs p99 {:.2} µs",
            failed.0, failed.1, failed.2, admit.0, admit.1, admit.2
        );
    }
}
