//! Nothing an anonymous request creates lives forever (security.md [ST-2]; issue 12 item 3): the sweeper deletes
//! expired rows in bounded batches on the backend under test, safely from several instances at once, keeps what
//! still matters (live grants' sessions, rotated tokens of live families, recent code tombstones), and is
//! available as `bridgekeeper gc [--dry-run]`.

mod common;
use common::clients::ClientBuilder;

use std::time::Duration;

use bridgekeeper::store::gc::{Policy, sweep};
use bridgekeeper::store::{self, Db, DbConn};
use common::TestApp;
use common::fake_idp::FakeIdp;
use common::oauth::*;
use diesel::RunQueryDsl;

const NOW: i64 = 1_000_000;

fn policy(batch: i64) -> Policy {
    Policy {
        batch,
        code_keep_secs: 600,
        revoked_keep_secs: 600,
        audit_retention_secs: 90 * 86_400,
        outbox_keep_secs: 3000,
    }
}

fn user(id: &str) -> store::users::User {
    store::users::User {
        id: id.into(),
        email: None,
        email_verified: false,
        name: None,
        preferred_username: None,
        picture: None,
        groups_json: "[]".into(),
        disabled: false,
        created_at: 1,
        updated_at: 1,
    }
}

fn grant(id: &str, session: &str, expires_at: i64, revoked_at: Option<i64>) -> store::grants::Grant {
    store::grants::Grant {
        id: id.into(),
        client_id: "c1".into(),
        user_id: Some("u1".into()),
        session_hash: Some(session.into()),
        scope: "openid offline_access".into(),
        auth_time: Some(1),
        created_at: 1,
        expires_at,
        revoked_at,
    }
}

fn rt(hash: &str, grant_id: &str, expires_at: i64, used_at: Option<i64>) -> store::refresh::RefreshToken {
    store::refresh::RefreshToken {
        token_hash: hash.into(),
        grant_id: grant_id.into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        scope: "openid".into(),
        created_at: 1,
        expires_at,
        used_at,
        revoked_at: None,
        dpop_jkt: None,
    }
}

fn session(hash: &str, expires_at: i64, revoked_at: Option<i64>) -> store::sessions::Session {
    store::sessions::Session {
        id_hash: hash.into(),
        user_id: "u1".into(),
        provider: "dev".into(),
        auth_time: 1,
        created_at: 1,
        expires_at,
        revoked_at,
    }
}

fn code(hash: &str, expires_at: i64) -> store::codes::AuthCode {
    store::codes::AuthCode {
        code_hash: hash.into(),
        grant_id: "g-live".into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        session_hash: None,
        redirect_uri: None,
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        auth_time: 1,
        created_at: 1,
        expires_at,
        used_at: Some(1),
        dpop_jkt: None,
    }
}

fn pending(id: &str, expires_at: i64) -> store::auth_requests::PendingRequest {
    store::auth_requests::PendingRequest {
        id: id.into(),
        client_id: "c1".into(),
        params_json: "{}".into(),
        created_at: 1,
        expires_at,
        login_session_hash: None,
        browser_hash: None,
    }
}

fn login(state: &str, expires_at: i64) -> store::upstream_logins::UpstreamLogin {
    store::upstream_logins::UpstreamLogin {
        state_hash: state.into(),
        provider: "dev".into(),
        browser_hash: "b".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        auth_request_id: None,
        link_user_id: None,
        created_at: 1,
        expires_at,
        used_at: None,
        provider_generation: None,
    }
}

/// Expired and live rows of every kind; returns what a sweep at NOW must leave.
fn seed(c: &mut store::Write<'_>) {
    store::users::insert(c, &user("u1")).unwrap();
    let client = store::clients::Client {
        client_id: "c1".into(),
        name: "c1".into(),
        grant_types: vec!["client_credentials".into()],
        source: "cli".into(),
        ..Default::default()
    };
    store::clients::insert(c, &client).unwrap();
    for i in 0..7 {
        store::auth_requests::insert(c, &pending(&format!("req-old-{i}"), NOW - 1)).unwrap();
        store::upstream_logins::insert(c, &login(&format!("login-old-{i}"), NOW - 1)).unwrap();
        store::revoked::insert(c, &format!("jti-old-{i}"), NOW - 1).unwrap();
        let mut e = store::audit::AuditEvent::new(NOW - 91 * 86_400, store::audit::AuditKind::Login);
        e.id = format!("audit-old-{i}");
        store::audit::record(c, &e).unwrap();
    }
    store::auth_requests::insert(c, &pending("req-live", NOW + 60)).unwrap();
    store::upstream_logins::insert(c, &login("login-live", NOW + 60)).unwrap();
    store::revoked::insert(c, "jti-live", NOW + 60).unwrap();
    store::audit::record(c, &store::audit::AuditEvent::new(NOW - 89 * 86_400, store::audit::AuditKind::Login)).unwrap();
    store::codes::insert(c, &code("code-old", NOW - 601)).unwrap();
    store::codes::insert(c, &code("code-tombstone", NOW - 10)).unwrap();
    // A family past its absolute lifetime (5 rotated tokens), a revoked one, and a live one with a rotated token.
    store::sessions::insert(c, &session("s-dead", NOW - 1, None)).unwrap();
    store::grants::insert(c, &grant("g-dead", "s-dead", NOW - 1, None)).unwrap();
    for i in 0..5 {
        store::refresh::insert(c, &rt(&format!("rt-dead-{i}"), "g-dead", NOW - 1, Some(1))).unwrap();
    }
    store::sessions::insert(c, &session("s-revoked", NOW + 999, Some(NOW - 5000))).unwrap();
    store::grants::insert(c, &grant("g-revoked", "s-revoked", NOW + 999, Some(NOW - 5000))).unwrap();
    store::refresh::insert(c, &rt("rt-revoked", "g-revoked", NOW + 999, None)).unwrap();
    // The live offline grant's session expired: the session row stays (it names the upstream to re-check).
    store::sessions::insert(c, &session("s-of-live-grant", NOW - 1, None)).unwrap();
    store::grants::insert(c, &grant("g-live", "s-of-live-grant", NOW + 999, None)).unwrap();
    store::refresh::insert(c, &rt("rt-live-rotated", "g-live", NOW + 999, Some(2))).unwrap();
    store::refresh::insert(c, &rt("rt-live", "g-live", NOW + 999, None)).unwrap();
    store::sessions::insert(c, &session("s-live", NOW + 999, None)).unwrap();
    // [UL-3] Upstream logout-token jtis go once their token could not pass the iat window any more.
    for i in 0..3 {
        store::logout_jtis::remember(c, &format!("jti-old-{i}"), "acme", NOW - 1).unwrap();
    }
    store::logout_jtis::remember(c, "jti-live", "acme", NOW + 999).unwrap();
    // [PAR-2] Pushed requests and [PJ-4] client-assertion jtis go once expired.
    for (i, exp) in [(0, NOW - 1), (1, NOW - 30), (2, NOW + 30)] {
        let p = store::pushed::PushedRequest {
            uri_hash: format!("par-{i}"),
            client_id: "c1".into(),
            params_json: "{}".into(),
            created_at: exp - 60,
            expires_at: exp,
            browser_hash: None,
        };
        store::pushed::insert(c, &p).unwrap();
        assert!(store::assertion_jtis::remember(c, &format!("aj-{i}"), "c1", exp).unwrap());
        // [DP-2] DPoP proof jtis likewise.
        assert!(store::dpop_jtis::remember(c, &format!("dp-{i}"), exp).unwrap());
        // [SA-7] SAML assertion IDs, the same way.
        assert!(store::saml_assertions::remember(c, &format!("sa-{i}"), "saml", exp).unwrap());
        // [DV-1] [DV-4] Device codes and wrong user codes, the same way.
        let dc = store::device_codes::DeviceCode {
            device_code_hash: format!("dc-{i}"),
            user_code_hash: format!("uc-{i}"),
            client_id: "c1".into(),
            scope: "openid".into(),
            requester_hash: "ip".into(),
            status: "pending".into(),
            interval_secs: 5,
            last_poll_at: None,
            user_id: None,
            grant_id: None,
            created_at: 1,
            // Kept for code_keep_secs (600) past expiry, like a code's tombstone.
            expires_at: exp - 600,
        };
        store::device_codes::insert(c, &dc).unwrap();
        store::device_codes::charge_guess(c, &["g".to_string()], NOW, exp).unwrap();
    }
    // [RL-6] Shared failure windows: the one before the previous goes, the previous stays (the current window
    // reads it); an account's count goes once its window of quiet passed.
    let windows = store::failure_counts::WINDOW_SECS;
    store::failure_counts::charge_windows(c, ["ip-k", "pair-k"], NOW - 3 * windows, NOW - 170).unwrap();
    let counted = store::failure_counts::charge_windows(c, ["ip-k", "pair-k"], NOW - windows, NOW - 50).unwrap();
    assert_eq!(counted, [(1, 0), (1, 0)], "a window is counted on its own, its previous one read");
    store::failure_counts::charge_account(c, "acct-old", NOW - 1000, 900, 5).unwrap();
    store::failure_counts::charge_account(c, "acct-live", NOW - 100, 900, 5).unwrap();
    // [UL-5] Sign-outs sent on to an upstream that never came back.
    for i in 0..2 {
        store::upstream_logouts::insert(c, &format!("ul-old-{i}"), "acme", None, &[], NOW - 700, 600).unwrap();
    }
    store::upstream_logouts::insert(c, "ul-live", "acme", Some("https://rp.example/bye"), &[], NOW, 600).unwrap();
    // [ST-2] Logout tokens no worker gave up on (delivery off everywhere) go once past their window.
    let outgoing = |id: &str, created_at| store::outbox::Outgoing {
        id: id.into(),
        client_id: "app".into(),
        uri: "https://app.example/bc".into(),
        sub: "u".into(),
        sid: None,
        created_at,
        attempts: 0,
        next_attempt_at: created_at,
        claimed_until: 0,
        last_error: None,
    };
    let rows: Vec<_> = (0..3).map(|i| outgoing(&format!("out-old-{i}"), NOW - 3001)).collect();
    store::outbox::insert(c, &rows).unwrap();
    store::outbox::insert(c, &[outgoing("out-live", NOW - 2999)]).unwrap();
}

fn count(c: &mut DbConn, table: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(c).unwrap();
    n.n
}

fn removed(rows: &[(&str, u64)], table: &str) -> u64 {
    rows.iter().find(|(t, _)| *t == table).map(|(_, n)| *n).unwrap()
}

const EXPECTED: [(&str, u64); 20] = [
    ("auth_codes", 1),
    ("auth_requests", 7),
    ("upstream_logins", 7),
    ("pending_links", 0),
    ("upstream_logouts", 2),
    ("refresh_tokens", 6),
    ("grants", 2),
    ("sessions", 2),
    ("revoked_jtis", 7),
    // Covered by token_exchange::tx_1_unlink_and_disable_delete_the_vault_rows_and_the_sweeper_removes_unused_ones.
    ("upstream_tokens", 0),
    ("upstream_logout_jtis", 3),
    ("pushed_requests", 2),
    ("client_assertion_jtis", 2),
    ("dpop_proof_jtis", 2),
    ("saml_assertions", 2),
    ("device_codes", 2),
    ("device_guesses", 2),
    ("failure_counts", 3),
    ("logout_outbox", 3),
    ("audit_events", 7),
];

#[test]
fn gc_1_expired_rows_are_swept_in_batches_keeping_what_still_matters() {
    let t = common::test_db();
    let db = Db::open(&t.url, 4, Duration::from_secs(5)).unwrap();
    db.migrate().unwrap();
    db.write_blocking(|w| {
        seed(w);
        Ok(())
    })
    .unwrap();
    let mut c = db.conn().unwrap();
    let dry = sweep(&mut c, NOW, &policy(2), true).unwrap();
    assert_eq!(dry, EXPECTED.to_vec(), "--dry-run counts the same rows");
    assert_eq!(count(&mut c, "auth_requests"), 8, "a dry run removes nothing");
    let rows = sweep(&mut c, NOW, &policy(2), false).unwrap();
    assert_eq!(rows, EXPECTED.to_vec(), "batches of 2 remove everything due");
    for (table, left) in [
        ("auth_codes", 1),
        ("auth_requests", 1),
        ("upstream_logins", 1),
        ("refresh_tokens", 2),
        ("grants", 1),
        ("sessions", 2),
        ("revoked_jtis", 1),
        ("pushed_requests", 1),
        ("client_assertion_jtis", 1),
        ("dpop_proof_jtis", 1),
        ("saml_assertions", 1),
        ("device_codes", 1),
        ("device_guesses", 1),
        ("failure_counts", 3),
        ("logout_outbox", 1),
        ("audit_events", 1),
    ] {
        assert_eq!(count(&mut c, table), left, "{table}");
    }
    assert!(store::sessions::find_any(&mut c, "s-of-live-grant").unwrap().is_some());
    assert!(store::refresh::find(&mut c, "rt-live-rotated").unwrap().is_some(), "reuse detection keeps working");
    assert!(sweep(&mut c, NOW, &policy(2), false).unwrap().iter().all(|(_, n)| *n == 0), "idempotent");
}

#[test]
fn gc_1_several_instances_sweeping_at_once_remove_each_row_once() {
    let t = common::test_db();
    let db = Db::open(&t.url, 8, Duration::from_secs(10)).unwrap();
    db.migrate().unwrap();
    db.write_blocking(|w| {
        seed(w);
        Ok(())
    })
    .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || sweep(&mut db.conn().unwrap(), NOW, &policy(1), false).unwrap())
        })
        .collect();
    let results: Vec<Vec<(&str, u64)>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (table, expected) in EXPECTED {
        let total: u64 = results.iter().map(|r| removed(r, table)).sum();
        assert_eq!(total, expected, "{table}: every due row removed exactly once across the instances");
    }
}

fn all_counts(c: &mut DbConn) -> Vec<(&'static str, i64)> {
    [
        "users",
        "identities",
        "clients",
        "consents",
        "sessions",
        "grants",
        "auth_codes",
        "refresh_tokens",
        "revoked_jtis",
        "signing_keys",
        "audit_events",
        "auth_requests",
        "upstream_logins",
    ]
    .into_iter()
    .map(|t| (t, count(c, t)))
    .collect()
}

#[actix_web::test]
async fn gc_2_a_thousand_anonymous_authorize_and_login_requests_leave_the_database_no_bigger_after_a_sweep() {
    let idp = FakeIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), idp.oidc_toml("acme", "")).unwrap();
    let providers = dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |s| {
        s.providers_dir = providers;
        s.rate_limits.enabled = false;
        s.clients = vec![
            ClientBuilder::confidential("app", SECRET)
                .redirect(RP)
                .scopes(&["openid"])
                .grants(&["authorization_code"])
                .skip_consent()
                .build(),
        ];
    })
    .await;
    let before = all_counts(&mut app.state.db.conn().unwrap());
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut q = auth_query(&[("scope", "openid")]);
    q.push(("unknown".into(), "x".repeat(2000)));
    for _ in 0..1000 {
        let r = anonymous.post(app.url("/authorize")).form(&q).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        let r = anonymous.get(app.url("/login/acme")).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
    }
    let grown = all_counts(&mut app.state.db.conn().unwrap());
    assert!(grown.iter().zip(&before).any(|(g, b)| g.1 >= b.1 + 1000), "the requests did store rows: {grown:?}");
    app.clock.advance(86_400);
    let rows = bridgekeeper::sweeper::sweep_once(&app.state).await.unwrap();
    assert!(removed(&rows, "auth_requests") >= 1000 && removed(&rows, "upstream_logins") >= 1000, "{rows:?}");
    let after = all_counts(&mut app.state.db.conn().unwrap());
    for ((table, a), (_, b)) in after.iter().zip(&before) {
        assert!(a <= b, "{table}: {a} rows after the sweep, {b} before the requests");
    }
}

#[test]
fn gc_3_the_cli_prints_rows_removed_per_table_and_dry_run_removes_nothing() {
    let t = common::test_db();
    let db = Db::open(&t.url, 2, Duration::from_secs(5)).unwrap();
    db.migrate().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut c = db.conn().unwrap();
    for i in 0..3 {
        store::auth_requests::insert(&mut c, &pending(&format!("old-{i}"), now - 10)).unwrap();
    }
    store::auth_requests::insert(&mut c, &pending("live", now + 600)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bk.toml");
    let providers = dir.path().join("providers");
    std::fs::create_dir(&providers).unwrap();
    std::fs::write(
        &f,
        format!("database_url = \"{}\"\nencryption_keys = \"{}\"\n", t.url, common::TEST_ENCRYPTION_KEYS),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
            .env_remove("RUST_LOG")
            .args(["--config", f.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&["gc", "--dry-run"]);
    assert!(out.contains("auth_requests: 3 would be removed"), "{out}");
    assert_eq!(count(&mut c, "auth_requests"), 4);
    let out = run(&["gc"]);
    assert!(out.contains("auth_requests: 3 removed") && out.contains("sessions: 0 removed"), "{out}");
    assert_eq!(count(&mut c, "auth_requests"), 1);
    assert!(run(&["gc"]).contains("auth_requests: 0 removed"));
}

#[test]
fn gc_4_serve_sweeps_every_gc_interval_secs() {
    let t = common::test_db();
    let db = Db::open(&t.url, 2, Duration::from_secs(5)).unwrap();
    db.migrate().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut c = db.conn().unwrap();
    for i in 0..5 {
        store::auth_requests::insert(&mut c, &pending(&format!("old-{i}"), now - 10)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bk.toml");
    let providers = dir.path().join("providers");
    std::fs::create_dir(&providers).unwrap();
    std::fs::write(
        &f,
        format!(
            "bind = \"127.0.0.1:0\"\ndatabase_url = \"{}\"\nencryption_keys = \"{}\"\ngc_interval_secs = 1\n\
             templates_dir = \"{}/templates\"\nproviders_dir = \"{}\"\n",
            t.url,
            common::TEST_ENCRYPTION_KEYS,
            env!("CARGO_MANIFEST_DIR"),
            providers.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
        .env("RUST_LOG", "warn")
        .args(["--config", f.to_str().unwrap(), "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut left = count(&mut c, "auth_requests");
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = count(&mut c, "auth_requests");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(left, 0, "the sweeper started by serve removed the expired rows within 10 s");
}
