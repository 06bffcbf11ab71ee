//! [DB-5] The one-statement writes of the hot paths on PostgreSQL (data-modifying CTEs in autocommit), and what
//! SQLite does instead, on the backend under test.

mod common;

use bridgekeeper::store::{codes, grants, refresh};
use common::rows::{client, code, grant, rt, seeded, user};

/// On PostgreSQL a plain refresh spends and stores the successor in one statement: of racing rotations of one token
/// exactly one inserts its successor, the others read the winner's spend (reuse); a revoked token rotates into
/// nothing. SQLite has no such statement (the hop's transaction does it there).
#[test]
fn db_5_the_one_statement_rotation_has_exactly_one_winner_and_stores_its_successor() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    grants::insert(&mut c, &grant("g1")).unwrap();
    refresh::insert(&mut c, &rt("r1")).unwrap();
    if db.is_sqlite() {
        assert!(refresh::rotate_alone(&mut c, "r1", &rt("next"), 20).unwrap().is_none());
        return;
    }
    drop(c);
    let bound = |hash: &str| refresh::RefreshToken { dpop_jkt: Some("jkt".into()), ..rt(hash) };
    let outcomes =
        racing(&db, |i, c| refresh::rotate_alone(c, "r1", &bound(&format!("next{i}")), 20).unwrap().unwrap());
    let mut c = db.conn().unwrap();
    let won: Vec<usize> = (0..8).filter(|&i| outcomes[i] == refresh::Rotation::Rotated).collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, refresh::Rotation::Rotated | refresh::Rotation::Lost(_))));
    for i in 0..8 {
        let stored = refresh::find(&mut c, &format!("next{i}")).unwrap();
        assert_eq!(stored.is_some(), won == [i], "only the winner's successor is stored");
    }
    assert_eq!(refresh::find(&mut c, "r1").unwrap().unwrap().used_at, Some(20));
    let winner = format!("next{}", won[0]);
    assert_eq!(refresh::find(&mut c, &winner).unwrap(), Some(bound(&winner)), "the successor as given");
    assert!(db.write_blocking(|w| refresh::revoke(w, &winner, 25)).unwrap());
    assert_eq!(refresh::rotate_alone(&mut c, &winner, &rt("after"), 30).unwrap(), Some(refresh::Rotation::Dead));
    assert!(refresh::find(&mut c, "after").unwrap().is_none());
}

/// Runs `f(i)` on 8 threads, each holding its own pooled connection before a barrier releases them together.
fn racing<T: Send>(
    db: &bridgekeeper::store::Db,
    f: impl Fn(usize, &mut bridgekeeper::store::Conn) -> T + Sync,
) -> Vec<T> {
    let start = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (db, start, f) = (db.clone(), &start, &f);
                s.spawn(move || {
                    let mut c = db.conn().unwrap();
                    start.wait();
                    f(i, &mut c)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn db_5_the_one_statement_code_spend_has_exactly_one_winner_and_stores_its_refresh_token() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    grants::insert(&mut c, &grant("g1")).unwrap();
    codes::insert(&mut c, &code("k1")).unwrap();
    if db.is_sqlite() {
        assert!(
            codes::spend_and_store(&mut c, "k1", 20, &rt("r0")).unwrap().is_none(),
            "SQLite: the caller's transaction"
        );
        assert!(refresh::find(&mut c, "r0").unwrap().is_none());
        return;
    }
    drop(c);
    let bound = |hash: &str| refresh::RefreshToken { dpop_jkt: Some("jkt".into()), ..rt(hash) };
    let outcomes = racing(&db, |i, c| codes::spend_and_store(c, "k1", 20, &bound(&format!("r{i}"))).unwrap().unwrap());
    let mut c = db.conn().unwrap();
    let won: Vec<usize> = (0..8).filter(|&i| outcomes[i]).collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    for i in 0..8 {
        let stored = refresh::find(&mut c, &format!("r{i}")).unwrap();
        assert_eq!(stored, (won == [i]).then(|| bound(&format!("r{i}"))), "only the winner's token, as given");
    }
    let spent = codes::find_with_grant(&mut c, "k1").unwrap().unwrap().0;
    assert_eq!(spent.used_at, Some(20));
    assert_eq!(
        codes::spend_and_store(&mut c, "k1", 30, &rt("late")).unwrap(),
        Some(false),
        "a spent code stores nothing"
    );
    assert!(refresh::find(&mut c, "late").unwrap().is_none());
}

#[test]
fn db_5_a_grant_and_its_code_are_stored_together_or_not_at_all() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    let resources = vec!["https://api.example".to_string()];
    codes::insert_with_grant(&mut c, &grant("g1"), &resources, &code("k1")).unwrap();
    let (stored, g, _) = codes::find_with_grant(&mut c, "k1").unwrap().unwrap();
    assert_eq!(stored, code("k1"));
    assert_eq!(g, Some((grant("g1"), resources.clone())), "the grant with its resources");
    // A code whose hash is taken fails, and its grant is not left behind.
    let again = codes::AuthCode { grant_id: "g2".into(), ..code("k1") };
    assert!(codes::insert_with_grant(&mut c, &grant("g2"), &[], &again).is_err());
    assert!(grants::find(&mut c, "g2").unwrap().is_none(), "no grant without its code");
    // A grant whose id is taken fails, and no code is stored for it.
    assert!(codes::insert_with_grant(&mut c, &grant("g1"), &[], &code("k2")).is_err());
    assert!(codes::find_with_grant(&mut c, "k2").unwrap().is_none(), "no code without its grant");
}

/// `/authorize`'s one read of the browser's session, its person and their consent for the client asking: the live
/// session only, the person's `disabled` flag, the consent for that client only.
#[test]
fn db_5_the_joined_session_read_is_the_three_reads() {
    use bridgekeeper::store::{consents, sessions, users};
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    let session = |id: &str, expires_at: i64| sessions::Session {
        id_hash: id.into(),
        user_id: "u1".into(),
        provider: "dev".into(),
        auth_time: 5,
        created_at: 5,
        expires_at,
        revoked_at: None,
    };
    sessions::insert(&mut c, &session("live", 100)).unwrap();
    sessions::insert(&mut c, &session("old", 50)).unwrap();
    sessions::insert(&mut c, &session("ended", 100)).unwrap();
    assert!(db.write_blocking(|w| sessions::revoke(w, "ended", 20)).unwrap());
    let read = |c: &mut bridgekeeper::store::Conn, id: &str, client: &str| {
        sessions::find_active_with_consent(c, id, client, 60).unwrap().map(|(s, off, scope)| (s.id_hash, off, scope))
    };
    assert_eq!(read(&mut c, "live", "c1"), Some(("live".into(), false, None)), "no consent remembered");
    let consent =
        consents::Consent { user_id: "u1".into(), client_id: "c1".into(), scope: "openid".into(), granted_at: 6 };
    consents::save(&mut c, &consent).unwrap();
    assert_eq!(read(&mut c, "live", "c1"), Some(("live".into(), false, Some("openid".into()))));
    assert_eq!(read(&mut c, "live", "c2"), Some(("live".into(), false, None)), "another client's consent is not it");
    assert_eq!(read(&mut c, "old", "c1"), None, "expired");
    assert_eq!(read(&mut c, "ended", "c1"), None, "revoked");
    assert_eq!(read(&mut c, "nope", "c1"), None, "unknown");
    assert!(db.write_blocking(|w| users::set_disabled(w, "u1", true, 30)).unwrap());
    assert_eq!(read(&mut c, "live", "c1").map(|r| r.1), Some(true), "the person's disabled flag");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(c: &mut diesel::PgConnection, sql: &str, hash: &str) -> i64 {
    use diesel::RunQueryDsl;
    diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(hash).get_result::<Count>(c).unwrap().n
}

/// [AC-1] [DB-5] A code spent by another redemption after this one read it unspent (while it signed): this one's
/// deferred spend (with its refresh token, one statement on PostgreSQL) finds it spent, stores nothing, revokes the
/// grant and answers `invalid_grant`. The test holds the code's row lock, lets the redemption reach its spend (seen
/// waiting in `pg_stat_activity`), spends the code itself and releases the lock. PostgreSQL only (SQLite's writer
/// waits at `BEGIN IMMEDIATE`, where nothing shows it).
#[actix_web::test]
async fn ac_1_a_code_spent_while_its_redemption_signs_revokes_the_grant() {
    use common::oauth::{RP, SECRET, code, json_error, spawn, token};
    use diesel::{Connection, RunQueryDsl};
    let app = spawn().await;
    if app.state.db.is_sqlite() {
        return;
    }
    let c = code(&app, &[]).await;
    let hash = bridgekeeper::secret::hash_token(&c);
    let mut other = diesel::PgConnection::establish(&app.db.url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut other).unwrap();
    diesel::sql_query("SELECT code_hash FROM auth_codes WHERE code_hash = $1 FOR UPDATE")
        .bind::<diesel::sql_types::Text, _>(&hash)
        .execute(&mut other)
        .unwrap();
    let h = hash.clone();
    let spender = std::thread::spawn(move || {
        let waiting = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                       AND wait_event_type = 'Lock' AND query LIKE '%auth_codes%' AND $1 <> ''";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // Inside a transaction the statistics views answer from one snapshot unless it is cleared.
        let fresh =
            |c: &mut diesel::PgConnection| diesel::sql_query("SELECT pg_stat_clear_snapshot()").execute(c).unwrap();
        while {
            fresh(&mut other);
            count(&mut other, waiting, &h) == 0
        } {
            assert!(std::time::Instant::now() < deadline, "the redemption never reached its spend");
            std::thread::yield_now();
        }
        diesel::sql_query("UPDATE auth_codes SET used_at = 1 WHERE code_hash = $1")
            .bind::<diesel::sql_types::Text, _>(&h)
            .execute(&mut other)
            .unwrap();
        diesel::sql_query("COMMIT").execute(&mut other).unwrap();
        other
    });
    let form = [("grant_type", "authorization_code"), ("code", c.as_str()), ("redirect_uri", RP)];
    let r = token(&app, ("app", SECRET), &form).await;
    let mut other = spender.join().unwrap();
    assert_eq!(json_error(r).await, (400, "invalid_grant".into()));
    let of_code = "(SELECT grant_id FROM auth_codes WHERE code_hash = $1)";
    let revoked = format!("SELECT COUNT(*) AS n FROM grants WHERE id = {of_code} AND revoked_at IS NOT NULL");
    assert_eq!(count(&mut other, &revoked, &hash), 1, "the grant is revoked");
    let tokens = format!("SELECT COUNT(*) AS n FROM refresh_tokens WHERE grant_id = {of_code}");
    assert_eq!(count(&mut other, &tokens, &hash), 0, "no refresh token stored");
}

/// Prepared statements of this connection whose text starts with `prefix` (PostgreSQL).
fn prepared_like(c: &mut bridgekeeper::store::Conn, prefix: &str) -> i64 {
    use diesel::RunQueryDsl;
    let conn: &mut bridgekeeper::store::DbConn = c;
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM pg_prepared_statements WHERE statement LIKE '{prefix}%'"))
        .get_result::<Count>(conn)
        .unwrap()
        .n
}

/// The one-statement writes stay prepared on their connection (diesel caches no `sql_query`, so without
/// `store::prepared` PostgreSQL would parse and plan each of them on every call): one cache entry each, however
/// often they run.
#[test]
fn db_5_the_one_statement_writes_stay_prepared() {
    let (db, _t) = seeded();
    if db.is_sqlite() {
        return;
    }
    let mut c = db.conn().unwrap();
    for i in 0..3 {
        let g = grant(&format!("g{i}"));
        codes::insert_with_grant(
            &mut c,
            &g,
            &[],
            &codes::AuthCode { grant_id: g.id.clone(), ..code(&format!("k{i}")) },
        )
        .unwrap();
        let first = rt(&format!("r{i}"));
        let first = refresh::RefreshToken { grant_id: g.id.clone(), ..first };
        assert_eq!(codes::spend_and_store(&mut c, &format!("k{i}"), 20, &first).unwrap(), Some(true));
        let next = refresh::RefreshToken { token_hash: format!("n{i}"), ..first.clone() };
        assert_eq!(
            refresh::rotate_alone(&mut c, &first.token_hash, &next, 21).unwrap(),
            Some(refresh::Rotation::Rotated)
        );
    }
    assert_eq!(prepared_like(&mut c, "WITH g AS ("), 1, "the grant and its code");
    assert_eq!(prepared_like(&mut c, "WITH spent AS (\n    UPDATE auth_codes"), 1, "the code's spend");
    assert_eq!(prepared_like(&mut c, "WITH spent AS (\n    UPDATE refresh_tokens"), 1, "the rotation");
}

/// Every column of the one-statement writes is stored as given, with each nullable column set to a value of its
/// own and no column of the grant equal to the code's column of the same name (a swapped bind, e.g.
/// `code_challenge` for `dpop_jkt` or the grant's `scope` for the code's, would drop PKCE, the key binding or a
/// narrowed scope silently).
#[test]
fn db_5_the_one_statement_writes_store_every_column_as_given() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    bridgekeeper::store::users::insert(&mut c, &user("u2", "bea@example.com")).unwrap();
    db.write_blocking(|w| bridgekeeper::store::clients::insert(w, &client("c2"))).unwrap();
    let g = grants::Grant {
        session_hash: Some("sess-g".into()),
        scope: "openid profile email".into(),
        auth_time: Some(6),
        revoked_at: Some(7),
        ..grant("g1")
    };
    let k = codes::AuthCode {
        client_id: "c2".into(),
        user_id: "u2".into(),
        session_hash: Some("sess-k".into()),
        scope: "openid".into(),
        code_challenge: Some("challenge".into()),
        auth_time: 8,
        created_at: 12,
        dpop_jkt: Some("jkt-code".into()),
        ..code("k1")
    };
    let resources = vec!["https://a.example".to_string(), "https://b.example".to_string()];
    codes::insert_with_grant(&mut c, &g, &resources, &k).unwrap();
    let (stored, with, _) = codes::find_with_grant(&mut c, "k1").unwrap().unwrap();
    assert_eq!((stored, with), (k, Some((g, resources))));
    let first =
        refresh::RefreshToken { scope: "openid offline_access".into(), dpop_jkt: Some("jkt-1".into()), ..rt("r1") };
    if !db.is_sqlite() {
        assert_eq!(codes::spend_and_store(&mut c, "k1", 20, &first).unwrap(), Some(true));
        assert_eq!(refresh::find(&mut c, "r1").unwrap(), Some(first.clone()));
        let next = refresh::RefreshToken {
            token_hash: "r2".into(),
            created_at: 21,
            expires_at: 2000,
            revoked_at: Some(99),
            used_at: Some(98),
            dpop_jkt: Some("jkt-2".into()),
            ..first
        };
        assert_eq!(refresh::rotate_alone(&mut c, "r1", &next, 21).unwrap(), Some(refresh::Rotation::Rotated));
        assert_eq!(refresh::find(&mut c, "r2").unwrap(), Some(next));
    }
}
