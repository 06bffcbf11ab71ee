//! Storage conformance: migrations from empty and every repository's round trip, on the backend under test
//! (SQLite by default, PostgreSQL with BK_TEST_BACKEND=postgres).

mod common;

use std::time::Duration;

use bridgekeeper::store::{self, Db, codes, grants, refresh};
use common::rows::{client, code, grant, rt, seeded, user};

#[test]
fn users_and_identities_round_trip() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    let u = store::users::find(&mut c, "u1").unwrap().unwrap();
    assert_eq!(u, user("u1", "ada@example.com"));
    assert_eq!(u.groups(), vec!["dev"]);
    assert_eq!(store::users::find_by_verified_email(&mut c, "ada@example.com").unwrap().len(), 1);
    let ident = store::identities::Identity {
        id: "i1".into(),
        user_id: "u1".into(),
        provider: "acme".into(),
        issuer: "https://acme.example".into(),
        subject: "248289761001".into(),
        email: Some("ada@example.com".into()),
        email_verified: true,
        claims_json: "{}".into(),
        upstream_refresh_token: None,
        created_at: 2,
        last_used_at: 2,
        email_trusted: true,
    };
    store::identities::insert(&mut c, &ident).unwrap();
    let dup = store::identities::Identity { id: "i2".into(), ..ident.clone() };
    assert!(matches!(store::identities::insert(&mut c, &dup), Err(store::StoreError::Conflict)));
    assert_eq!(store::identities::find(&mut c, "acme", "248289761001").unwrap(), Some(ident));
    assert_eq!(store::identities::list_for_user(&mut c, "u1").unwrap().len(), 1);
    assert!(store::identities::delete(&mut c, "u1", "i1").unwrap());
    assert!(db.write_blocking(|w| store::users::set_disabled(w, "u1", true, 9)).unwrap());
    assert!(store::users::find(&mut c, "u1").unwrap().unwrap().disabled);
    assert_eq!(store::users::list(&mut c, 10, 0).unwrap().len(), 1);
}

#[test]
fn clients_round_trip_and_upsert() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    assert_eq!(store::clients::find(&mut c, "c1").unwrap(), Some(client("c1")));
    assert!(matches!(
        db.write_blocking(|w| store::clients::insert(w, &client("c1"))),
        Err(store::StoreError::Conflict)
    ));
    let mut changed = client("c1");
    changed.redirect_uris.push("https://app.example/cb2".into());
    changed.source = "config".into();
    db.write_blocking(|w| store::clients::upsert(w, &changed)).unwrap();
    db.write_blocking(|w| store::clients::upsert(w, &client("c2"))).unwrap();
    assert_eq!(store::clients::find(&mut c, "c1").unwrap().unwrap().redirect_uris.len(), 2);
    assert_eq!(store::clients::list(&mut c).unwrap().len(), 2);
    assert!(db.write_blocking(|w| store::clients::set_secret_hash(w, "c2", "h", 3)).unwrap());
    assert!(db.write_blocking(|w| store::clients::delete(w, "c2")).unwrap());
    assert!(!db.write_blocking(|w| store::clients::delete(w, "c2")).unwrap());
}

#[test]
fn consents_sessions_and_audit_round_trip() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    let consent = store::consents::Consent {
        user_id: "u1".into(),
        client_id: "c1".into(),
        scope: "openid".into(),
        granted_at: 1,
    };
    store::consents::save(&mut c, &consent).unwrap();
    let wider = store::consents::Consent { scope: "openid email".into(), ..consent.clone() };
    store::consents::save(&mut c, &wider).unwrap();
    assert_eq!(store::consents::find(&mut c, "u1", "c1").unwrap(), Some(wider));
    assert_eq!(store::consents::list_for_user(&mut c, "u1").unwrap().len(), 1);
    assert!(store::consents::delete(&mut c, "u1", "c1").unwrap());

    let s = store::sessions::Session {
        id_hash: "h1".into(),
        user_id: "u1".into(),
        provider: "dev".into(),
        auth_time: 5,
        created_at: 5,
        expires_at: 100,
        revoked_at: None,
    };
    store::sessions::insert(&mut c, &s).unwrap();
    assert_eq!(store::sessions::find_active(&mut c, "h1", 50).unwrap(), Some(s));
    assert_eq!(store::sessions::find_active(&mut c, "h1", 100).unwrap(), None, "expired");
    assert!(db.write_blocking(|w| store::sessions::revoke(w, "h1", 60)).unwrap());
    assert_eq!(store::sessions::find_active(&mut c, "h1", 61).unwrap(), None, "revoked");

    let e = store::audit::AuditEvent::new(7, store::audit::AuditKind::Login).user("u1").client("c1").provider("dev");
    store::audit::record(&mut c, &e).unwrap();
    assert_eq!(store::audit::list(&mut c, 10).unwrap(), vec![e]);
}

#[test]
fn codes_redeem_once_and_replay_is_reported() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    codes::insert(&mut c, &code("k1")).unwrap();
    assert_eq!(codes::redeem(&mut c, "k1", "other", 19).unwrap(), codes::Redemption::Unknown, "bound to its client");
    assert!(matches!(codes::redeem(&mut c, "k1", "c1", 20).unwrap(), codes::Redemption::Fresh(_)));
    assert!(matches!(codes::redeem(&mut c, "k1", "c1", 21).unwrap(), codes::Redemption::Replayed(_)));
    assert_eq!(codes::redeem(&mut c, "nope", "c1", 21).unwrap(), codes::Redemption::Unknown);
}

#[test]
fn concurrent_redemptions_of_one_code_have_exactly_one_winner() {
    let (db, _t) = seeded();
    codes::insert(&mut db.conn().unwrap(), &code("race")).unwrap();
    let winners: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                s.spawn(move || {
                    let mut c = db.conn().unwrap();
                    matches!(codes::redeem(&mut c, "race", "c1", 20).unwrap(), codes::Redemption::Fresh(_)) as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(winners, 1);
}

#[test]
fn refresh_tokens_rotate_once_and_revoking_the_grant_ends_the_family() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    grants::insert(&mut c, &grant("g1")).unwrap();
    assert_eq!(grants::find(&mut c, "g1").unwrap(), Some(grant("g1")));
    refresh::insert(&mut c, &rt("r1")).unwrap();
    assert!(matches!(refresh::spend(&mut c, "r1", 20).unwrap(), refresh::Use::Rotated(_)));
    refresh::insert(&mut c, &rt("r2")).unwrap();
    assert!(matches!(refresh::spend(&mut c, "r1", 21).unwrap(), refresh::Use::Reused(_)));
    assert!(grants::is_active(&mut c, "g1", 30).unwrap());
    assert!(db.write_blocking(|w| store::grants::revoke(w, "g1", 30)).unwrap());
    assert!(!grants::is_active(&mut c, "g1", 31).unwrap());
    assert!(matches!(refresh::spend(&mut c, "r2", 31).unwrap(), refresh::Use::Dead(Some(_))));
    assert!(matches!(refresh::spend(&mut c, "zz", 31).unwrap(), refresh::Use::Dead(None)));
}

#[test]
fn grants_are_revoked_by_user_client_and_by_session_except_offline() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    grants::insert(&mut c, &grant("online")).unwrap();
    grants::insert(&mut c, &grants::Grant { scope: "openid offline_access".into(), ..grant("offline") }).unwrap();
    assert_eq!(db.write_blocking(|w| store::grants::revoke_online_for_session(w, "sess", 50)).unwrap(), 1);
    assert!(!grants::is_active(&mut c, "online", 51).unwrap());
    assert!(grants::is_active(&mut c, "offline", 51).unwrap());
    assert_eq!(db.write_blocking(|w| store::grants::revoke_for_user_client(w, "u1", "c1", 52)).unwrap(), 1);
    assert!(!grants::is_active(&mut c, "offline", 53).unwrap());
    assert!(!grants::is_active(&mut c, "offline", 20_000).unwrap());
}

#[test]
fn signing_keys_rotate_and_stay_published() {
    use bridgekeeper::tokens::keyring::{KeyRing, ensure_keys, rotate};
    use bridgekeeper::tokens::keys::Alg;
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    let sealer = bridgekeeper::crypto::Sealer::from_spec(common::TEST_ENCRYPTION_KEYS).unwrap();
    assert!(ensure_keys(&mut c, Alg::Es256, 100, &sealer).unwrap());
    assert!(!ensure_keys(&mut c, Alg::Es256, 101, &sealer).unwrap());
    let before = KeyRing::load(&mut c, &sealer).unwrap();
    let old_kid = before.current.kid.clone();
    let new_kid = rotate(&mut c, Alg::Es256, 200, 3600, &sealer).unwrap();
    assert_ne!(old_kid, new_kid);
    let after = KeyRing::load(&mut c, &sealer).unwrap();
    assert_eq!(after.current.kid, new_kid);
    assert!(after.verifier(&old_kid).is_some(), "retired key still published");
    let jwks: serde_json::Value = serde_json::from_slice(&after.jwks_json).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3, "retired + current + next");
    let rows = store::keys::list(&mut c).unwrap();
    assert!(rows.iter().all(|k| k.private_der.starts_with("enc1:test:")), "private keys are sealed at rest");
    let states: Vec<String> = rows.into_iter().map(|k| k.state).collect();
    assert_eq!(states.iter().filter(|s| *s == "current").count(), 1);
    rotate(&mut c, Alg::Es256, 200 + 3601 + 1, 3600, &sealer).unwrap();
    let later = KeyRing::load(&mut c, &sealer).unwrap();
    assert!(later.verifier(&old_kid).is_none(), "retired key dropped once its tokens expired");
}

#[test]
fn encryption_key_rotation_reseals_signing_keys_and_old_keys_then_drop_out() {
    use bridgekeeper::crypto::Sealer;
    use bridgekeeper::tokens::keyring::{KeyRing, ensure_keys, reseal};
    use bridgekeeper::tokens::keys::Alg;
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    let old = Sealer::from_spec(common::TEST_ENCRYPTION_KEYS).unwrap();
    ensure_keys(&mut c, Alg::EdDsa, 1, &old).unwrap();
    let kid = KeyRing::load(&mut c, &old).unwrap().current.kid;
    let new_key = "k2:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let both = Sealer::from_spec(&format!("{new_key},{}", common::TEST_ENCRYPTION_KEYS)).unwrap();
    assert_eq!(reseal(&mut c, &both).unwrap(), 2, "current and next re-encrypted");
    assert_eq!(reseal(&mut c, &both).unwrap(), 0, "idempotent");
    let only_new = Sealer::from_spec(new_key).unwrap();
    assert_eq!(KeyRing::load(&mut c, &only_new).unwrap().current.kid, kid, "readable with the new key alone");
    assert!(KeyRing::load(&mut c, &old).is_err(), "the old key no longer opens them");
}

#[test]
fn dp_2_a_batch_of_dpop_marks_says_which_were_new_first_of_equals_wins() {
    let (db, _t) = seeded();
    let mut c = db.conn().unwrap();
    assert!(store::dpop_jtis::remember(&mut c, "seen", 100).unwrap());
    let marks: Vec<(String, i64)> = ["a", "seen", "b", "a", "c", "b"].iter().map(|k| (k.to_string(), 100)).collect();
    let fresh = store::dpop_jtis::remember_many(&mut c, &marks).unwrap();
    assert_eq!(fresh, [true, false, true, false, true, false]);
    assert_eq!(store::dpop_jtis::remember_many(&mut c, &marks).unwrap(), [false; 6], "all seen now");
    assert!(store::dpop_jtis::remember_many(&mut c, &[]).unwrap().is_empty());
    assert!(!store::dpop_jtis::remember(&mut c, "c", 100).unwrap(), "a batched mark is seen by a lone write");
}

/// [DP-2] Through the group commit: many requests racing with one proof, and with many proofs, from several
/// tasks at once: exactly one use of each proof passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dp_2_the_batched_replay_check_lets_exactly_one_use_of_a_proof_pass() {
    let (db, _t) = seeded();
    let batcher = store::replay_batch::Batcher::new(db.clone(), store::dpop_jtis::remember_many);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let b = batcher.clone();
        tasks.push(tokio::spawn(async move { (i % 20, b.remember(format!("proof-{}", i % 20), 100).await.unwrap()) }));
    }
    let mut wins = [0usize; 20];
    for t in tasks {
        let (k, new) = t.await.unwrap();
        wins[k] += usize::from(new);
    }
    assert_eq!(wins, [1; 20], "one winner per proof");
    let again = batcher.remember("proof-3".into(), 100).await.unwrap();
    assert!(!again, "a later lone use is a replay");
    assert!(batcher.remember("proof-new".into(), 100).await.unwrap(), "an idle batcher writes a lone mark at once");
}

/// [DP-2] Two batches that share marks, written at once in opposite orders (an attacker replaying proofs to two
/// instances): both finish, with one winner per mark (PostgreSQL used to deadlock: one batch aborted after
/// `deadlock_timeout`, every request in it answered 503).
#[test]
fn dp_2_batches_with_shared_marks_in_opposite_order_never_deadlock() {
    let (db, _t) = seeded();
    for round in 0..3 {
        let keys: Vec<(String, i64)> = (0..300).map(|i| (format!("r{round}-{i:04}"), 100)).collect();
        let reversed: Vec<(String, i64)> = keys.iter().rev().cloned().collect();
        let barrier = std::sync::Barrier::new(2);
        let run = |marks: &[(String, i64)]| {
            let mut c = db.conn().unwrap();
            barrier.wait();
            store::dpop_jtis::remember_many(&mut c, marks)
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| run(&keys));
            let b = s.spawn(|| run(&reversed));
            (a.join().unwrap(), b.join().unwrap())
        });
        let (a, b) = (a.expect("no deadlock"), b.expect("no deadlock"));
        let b: Vec<bool> = b.into_iter().rev().collect();
        assert!(a.iter().zip(&b).all(|(x, y)| x ^ y), "exactly one batch wins each mark");
    }
}

/// Polls `f` once, as a runtime would when the task first runs, then drops it.
fn poll_once<F: std::future::Future>(f: F) {
    let mut f = std::pin::pin!(f);
    let _ = f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// [DP-2] A drainer task dropped before it ever ran (its runtime shut down) gives its slot back: later marks are
/// still written (they used to wait forever once every slot was held by such a task).
#[test]
fn dp_2_an_unpolled_drainer_does_not_keep_its_slot() {
    let (db, _t) = seeded();
    let batcher = store::replay_batch::Batcher::new(db.clone(), store::dpop_jtis::remember_many);
    for i in 0..store::replay_batch::DRAINERS {
        let gone = runtime();
        let _in = gone.enter();
        poll_once(batcher.remember(format!("dropped-{i}"), 100));
        drop(_in);
        drop(gone);
    }
    let later = runtime().block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(30), batcher.remember("later".into(), 100)).await
    });
    assert!(later.expect("answered, not left waiting").unwrap(), "written as new");
}

/// [DP-2] A mark queued while every drainer runs on a runtime that then shuts down is answered "unavailable",
/// never left waiting.
#[test]
fn dp_2_a_mark_queued_behind_a_dropped_drainer_is_answered() {
    let (db, _t) = seeded();
    let batcher = store::replay_batch::Batcher::new(db.clone(), store::dpop_jtis::remember_many);
    let gone = runtime();
    {
        let _in = gone.enter();
        for i in 0..store::replay_batch::DRAINERS {
            poll_once(batcher.remember(format!("first-{i}"), 100));
        }
    }
    let other = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let b = batcher.clone();
    let (queued_tx, queued_rx) = std::sync::mpsc::channel();
    let waiting = other.spawn(async move {
        let mark = b.remember("queued".into(), 100);
        let mut mark = std::pin::pin!(mark);
        // Polled once here (so it is queued), then awaited.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(mark.as_mut().poll(cx))).await;
        queued_tx.send(()).unwrap();
        match first {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => mark.await,
        }
    });
    queued_rx.recv().unwrap();
    drop(gone);
    let answer = other
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(30), waiting).await })
        .expect("answered, not left waiting")
        .unwrap();
    assert!(matches!(answer, Err(store::StoreError::Unavailable(_))), "{answer:?}");
}

/// [DP-2] Two instances (two batchers, one database) racing with the same proofs: one use of each passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dp_2_two_instances_batching_the_same_proof_let_exactly_one_use_pass() {
    let (db, t) = seeded();
    let other = Db::open(&t.url, 8, Duration::from_secs(5)).unwrap();
    let here = store::replay_batch::Batcher::new(db.clone(), store::dpop_jtis::remember_many);
    let there = store::replay_batch::Batcher::new(other, store::dpop_jtis::remember_many);
    let mut tasks = Vec::new();
    for i in 0..120 {
        let b = if i % 2 == 0 { here.clone() } else { there.clone() };
        tasks.push(tokio::spawn(async move { (i % 12, b.remember(format!("both-{}", i % 12), 100).await.unwrap()) }));
    }
    let mut wins = [0usize; 12];
    for t in tasks {
        let (k, new) = t.await.unwrap();
        wins[k] += usize::from(new);
    }
    assert_eq!(wins, [1; 12]);
}

fn failing_write(_: &mut store::DbConn, _: &[(String, i64)]) -> store::StoreResult<Vec<bool>> {
    Err(store::StoreError::Unavailable("injected".into()))
}

fn short_write(c: &mut store::DbConn, marks: &[(String, i64)]) -> store::StoreResult<Vec<bool>> {
    let mut fresh = store::dpop_jtis::remember_many(c, marks)?;
    fresh.pop();
    Ok(fresh)
}

/// [DP-2] A batch that fails, or is answered short, accepts none of its proofs (each request hears
/// "unavailable", which the endpoints answer 503 `temporarily_unavailable`).
#[actix_web::test]
async fn dp_2_a_failed_or_short_batch_accepts_none() {
    let (db, _t) = seeded();
    let failing = store::replay_batch::Batcher::new(db.clone(), failing_write);
    assert!(matches!(failing.remember("f".into(), 100).await, Err(store::StoreError::Unavailable(_))));
    let short = store::replay_batch::Batcher::new(db.clone(), short_write);
    assert!(matches!(short.remember("s".into(), 100).await, Err(store::StoreError::Corrupt(_))));
    let real = store::replay_batch::Batcher::new(db, store::dpop_jtis::remember_many);
    assert!(real.remember("f".into(), 100).await.unwrap(), "the failed batch recorded nothing");
}

/// [DB-6] A transaction that reads before it writes is a writer from its start (SQLite `BEGIN IMMEDIATE`): a
/// commit by another connection between its read and its write cannot fail it with `database is locked` (a
/// deferred SQLite transaction gets SQLITE_BUSY at once there, with no busy wait); the other writer waits for it
/// instead (here past its short busy timeout). On PostgreSQL both commit.
#[test]
fn db_6_a_transaction_that_reads_then_writes_survives_a_commit_in_between() {
    let (db, t) = seeded();
    let quick = store::PoolOptions { busy_timeout: Duration::from_millis(200), ..store::PoolOptions::default() };
    let other = Db::open_with(&t.url, &quick).unwrap();
    let mut c = db.conn().unwrap();
    let mut theirs = None;
    let ours = store::transaction(&mut c, |c| {
        assert!(store::users::find(c, "u1")?.is_some());
        theirs = Some(std::thread::scope(|s| {
            s.spawn(|| store::users::insert(&mut other.conn().unwrap(), &user("u2", "bo@example.com"))).join().unwrap()
        }));
        store::users::insert(c, &user("u3", "cy@example.com"))
    });
    ours.expect("the transaction that read first commits its write");
    let mut c = db.conn().unwrap();
    assert!(store::users::find(&mut c, "u3").unwrap().is_some());
    match theirs.unwrap() {
        Ok(()) => assert!(!db.is_sqlite(), "on SQLite the other writer waits for the open transaction"),
        Err(e) => assert!(db.is_sqlite() && e.to_string().contains("locked"), "{e}"),
    }
}
