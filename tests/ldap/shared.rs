//! [RL-6] [LD-7] The per-account password budgets with `rate_limits.shared`: two brokers on one PostgreSQL count an
//! account's failures together (without `shared`, each counts alone), and a success at one clears the count at
//! every instance. The rules of [LD-7] are unchanged; only the count is the cluster's.

use crate::common::slapd::Slapd;
use crate::ldap_world::*;

const ADA_DN: &str = "uid=ada,ou=people,dc=example,dc=org";

/// Two brokers on one database in front of `slapd`, with `extra` in the provider's `[ldap]` table.
async fn two(slapd: &Slapd, extra: &str, shared: bool) -> (World, World) {
    let db = crate::common::test_db();
    let other = db.share();
    let tweak = move |s: &mut bridgekeeper::settings::Settings| {
        s.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.rate_limits.shared = shared;
    };
    let a = world_toml_on(db, &provider_toml(&slapd.url, extra), tweak).await;
    let b = world_toml_on(other, &provider_toml(&slapd.url, extra), tweak).await;
    b.app.clock.advance(a.app.clock.now() - b.app.clock.now());
    (a, b)
}

/// Six wrong passwords for Ada, from six addresses, alternating between the instances: their answers.
async fn spread_guesses(a: &World, b: &World) -> Vec<u16> {
    let mut seen = Vec::new();
    for i in 0..6 {
        let w = if i % 2 == 0 { a } else { b };
        seen.push(post_login(&w.app.view(), "ada", "guess", Some(&format!("198.51.100.{i}"))).await.status().as_u16());
    }
    seen
}

#[tokio::test]
async fn rl_6_ld_7_two_instances_count_an_accounts_failures_together() {
    if !crate::common::backend_is_postgres() {
        return; // SQLite refuses `shared`.
    }
    let slapd = Slapd::start_with_lockout(6).await;
    let (a, b) = two(&slapd, "", true).await;
    assert_eq!(spread_guesses(&a, &b).await, [401, 401, 401, 401, 401, 429], "one budget of 5 for both");
    assert_eq!(slapd.binds_of(ADA_DN), 5, "the directory saw the budget, not twice it");
    assert!(!slapd.is_locked("ada").await);
    // Spent everywhere: her right password at either instance is refused without a bind; Bob signs in.
    for w in [&a, &b] {
        assert_eq!(post_login(&w.app.view(), "ada", "ada-pw", Some("203.0.113.9")).await.status(), 429);
    }
    assert_eq!(slapd.binds_of(ADA_DN), 5);
    let bob = b.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", Some("198.51.100.1")).await).await;
}

#[tokio::test]
async fn rl_6_ld_7_without_shared_each_instance_counts_alone() {
    let slapd = Slapd::start().await;
    let (a, b) = two(&slapd, "", false).await;
    assert_eq!(spread_guesses(&a, &b).await, [401; 6], "3 of each instance's own 5");
    assert_eq!(slapd.binds_of(ADA_DN), 6);
}

/// A success at one instance clears the account's count at every instance ([LD-7]: as the directory's).
#[tokio::test]
async fn rl_6_ld_7_a_success_at_one_instance_clears_the_count_everywhere() {
    if !crate::common::backend_is_postgres() {
        return;
    }
    let slapd = Slapd::start().await;
    let (a, b) = two(&slapd, "max_failures = 2\nfailure_window_secs = 60", true).await;
    let post = |w: &World, pw: &str, ip: &str| {
        let v = w.app.view();
        let (pw, ip) = (pw.to_string(), ip.to_string());
        async move { (post_login(&v, "ada", &pw, Some(&ip)).await, v) }
    };
    assert_eq!(post(&a, "guess", "198.51.100.1").await.0.status(), 401);
    let (r, ada) = post(&b, "ada-pw", "198.51.100.2").await;
    id_claims(&ada, r).await;
    assert_eq!(post(&a, "guess", "198.51.100.3").await.0.status(), 401);
    assert_eq!(post(&b, "guess", "198.51.100.4").await.0.status(), 401, "the count started again at the success");
    // 2 failures since the success, one at each instance: spent for both (B alone counted 1).
    assert_eq!(post(&b, "ada-pw", "198.51.100.5").await.0.status(), 429);
    a.app.clock.advance(60);
    b.app.clock.advance(60);
    let (r, ada) = post(&b, "ada-pw", "198.51.100.5").await;
    id_claims(&ada, r).await;
}

/// A database failure while charging the account fails closed: no password goes to the directory (no try the
/// cluster did not count), the page says the sign-in is unavailable (503, never a 500).
#[tokio::test]
async fn rl_6_ld_7_a_database_failure_while_charging_sends_no_password() {
    if !crate::common::backend_is_postgres() {
        return;
    }
    use diesel::RunQueryDsl;
    let slapd = Slapd::start().await;
    let (a, _b) = two(&slapd, "", true).await;
    diesel::sql_query("DROP TABLE failure_counts").execute(&mut *a.app.state.db.conn().unwrap()).unwrap();
    let r = post_login(&a.app.view(), "ada", "ada-pw", Some("198.51.100.1")).await;
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("Sign-in unavailable"));
    assert_eq!(slapd.binds_of(ADA_DN), 0, "the password was not sent");
}
