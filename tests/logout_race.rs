//! [BL-8] Two ends of one session racing: the one whose conditional update loses ends nothing and queues nothing.
//! PostgreSQL only: there a second writer reads the session live, waits on the first's row lock, and finds it
//! ended once the first commits; SQLite serialises writers before they read, so the race cannot arise there.

mod common;

use std::time::{Duration, Instant};

use bridgekeeper::store::{self, Db};
use bridgekeeper_core::upstream_logout::LogoutSubject;
use diesel::RunQueryDsl;

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn seed(db: &Db) {
    db.write_blocking(|w| {
        let user = store::users::User {
            id: "u1".into(),
            email: None,
            email_verified: false,
            name: None,
            preferred_username: None,
            picture: None,
            groups_json: "[]".into(),
            disabled: false,
            created_at: 1,
            updated_at: 1,
        };
        store::users::insert(w, &user)?;
        let s = store::sessions::Session {
            id_hash: "h1".into(),
            user_id: "u1".into(),
            provider: "acme".into(),
            auth_time: 1,
            created_at: 1,
            expires_at: 10_000,
            revoked_at: None,
        };
        store::sessions::insert(w, &s)?;
        store::sessions::set_upstream(w, "h1", "idp-sub", Some("idp-sid"), None)
    })
    .unwrap();
}

/// Ends session `h1` in an open transaction, runs `second` on another connection until it waits on that row
/// lock, commits, and returns what `second` returned.
fn race<T: Send + 'static>(db: &Db, second: impl FnOnce(&Db) -> T + Send + 'static) -> T {
    let mut first = db.conn().unwrap();
    diesel::sql_query("BEGIN").execute(&mut *first).unwrap();
    diesel::sql_query("UPDATE sessions SET revoked_at = 5 WHERE id_hash = 'h1'").execute(&mut *first).unwrap();
    let other = db.clone();
    let handle = std::thread::spawn(move || second(&other));
    let mut watch = db.conn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: N = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut *watch)
        .unwrap();
        if waiting.n > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the second writer never waited on the row lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    diesel::sql_query("COMMIT").execute(&mut *first).unwrap();
    handle.join().unwrap()
}

fn postgres_db() -> Option<(common::TestDb, Db)> {
    if !common::backend_is_postgres() {
        eprintln!("skipped: the race needs PostgreSQL's row locks (SQLite serialises writers)");
        return None;
    }
    let t = common::test_db();
    let db = Db::open(&t.url, 4, Duration::from_secs(10)).unwrap();
    db.migrate().unwrap();
    seed(&db);
    Some((t, db))
}

#[test]
fn bl_8_an_upstream_logout_racing_another_end_ends_and_tells_nothing_twice() {
    let Some((_t, db)) = postgres_db() else { return };
    let told = LogoutSubject { sid: Some("idp-sid".into()), sub: None, jti: "j1".into(), keep_until: 9_999 };
    let ended = race(&db, move |db| {
        db.write_blocking(|w| bridgekeeper::accounts::backchannel::end_upstream_sessions(w, "acme", &told, 6))
    });
    assert_eq!(ended.unwrap(), Some(0), "the session was ended by the other path first");
    let events = store::audit::list(&mut db.conn().unwrap(), 10).unwrap();
    assert!(events.iter().all(|e| e.event != "upstream_logout"), "{events:?}");
}

#[test]
fn bl_8_revoking_all_of_a_users_sessions_returns_only_those_it_ended() {
    let Some((_t, db)) = postgres_db() else { return };
    let ended = race(&db, |db| db.write_blocking(|w| store::sessions::revoke_all_for_user(w, "u1", 6)));
    assert_eq!(ended.unwrap(), Vec::<String>::new(), "the other path ended it: nothing to queue here");
}
