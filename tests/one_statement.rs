//! [DB-5] The one-statement writes of the hot paths on PostgreSQL (data-modifying CTEs in autocommit), and what
//! SQLite does instead, on the backend under test.

mod common;

use bridgekeeper::store::{codes, grants, refresh};
use common::rows::{code, grant, rt, seeded};

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
