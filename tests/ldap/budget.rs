//! [LD-7] [LD-7b] The failure budgets against the answers the broker does not see (a request reset mid-bind, a
//! bind answered after the timeout), the directory's own count, and one address queueing on one account; a relay
//! (`relay.rs`) holds the directory's answers to Ada's binds until the test releases them.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::slapd::{PEOPLE, Slapd};
use crate::ldap_relay::Relay;
use crate::ldap_world::*;

const ADA_DN: &str = "uid=ada,ou=people,dc=example,dc=org";

fn from_many_addresses(s: &mut bridgekeeper::settings::Settings) {
    s.trusted_proxies = vec!["127.0.0.1/32".into()];
}

/// Sends a filled-in form on a raw socket with the browser's cookies (so that the test can reset it).
async fn raw_post(jar: &Jar, form: reqwest::RequestBuilder) -> tokio::net::TcpStream {
    let req = form.build().unwrap();
    let url = req.url().clone();
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut head = format!("POST {target} HTTP/1.1\r\nhost: {}:{}\r\n", url.host_str().unwrap(), url.port().unwrap());
    for (k, v) in req.headers() {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    if let Some(c) = jar.cookies(&url) {
        head.push_str(&format!("cookie: {}\r\n", c.to_str().unwrap()));
    }
    let body = req.body().unwrap().as_bytes().unwrap().to_vec();
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let mut sock = tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await.unwrap();
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&body).await.unwrap();
    sock
}

enum Seen {
    Bind,
    Answer(Vec<u8>),
}

#[tokio::test]
async fn ld_7_a_request_reset_during_the_bind_is_still_charged() {
    let slapd = Slapd::start_with_lockout(6).await;
    let relay = Relay::start(slapd.port, ADA_DN).await;
    let w = world_with(&relay.url, "", from_many_addresses).await;
    for i in 0..12 {
        let jar = Arc::new(Jar::default());
        let v = w.app.view_with_jar(jar.clone());
        let form = login_form(&v, "ada", "guess", Some(&format!("198.51.100.{i}"))).await;
        let mut sock = raw_post(&jar, form).await;
        let binds = relay.binds();
        let mut answer = Vec::new();
        let seen = tokio::select! {
            _ = relay.wait_binds(binds + 1) => Seen::Bind,
            _ = sock.read_to_end(&mut answer) => Seen::Answer(answer),
        };
        match seen {
            // The directory has the bind, the broker not its answer: the browser resets the connection.
            Seen::Bind => {
                // A zero linger sends RST at once (the deprecation is about blocking on a non-zero linger).
                #[allow(deprecated)]
                sock.set_linger(Some(Duration::ZERO)).unwrap();
                drop(sock);
                relay.release(1);
            }
            Seen::Answer(a) => {
                let a = String::from_utf8_lossy(&a);
                assert!(a.starts_with("HTTP/1.1 429"), "post {i}: {a}");
            }
        }
    }
    // Every bind the directory saw was answered and counted by now (the next post waited for its turn); one more
    // attempt waits for the last one's turn, so all the counting is done.
    assert_eq!(post_login(&w.app.view(), "ada", "guess", Some("203.0.113.1")).await.status(), 429);
    assert!(slapd.binds_of(ADA_DN) <= 5, "{} binds", slapd.binds_of(ADA_DN));
    assert!(slapd.failures_of("ada").await <= 5);
    assert!(!slapd.is_locked("ada").await, "the directory never locked Ada");
}

#[tokio::test]
async fn ld_7_a_bind_answered_after_the_timeout_is_still_charged() {
    let slapd = Slapd::start_with_lockout(6).await;
    let relay = Relay::start(slapd.port, ADA_DN).await;
    // timeout_secs = 1: each held bind times out at the broker, though the directory processed it.
    let w = world_with(&relay.url, "", from_many_addresses).await;
    for i in 0..12 {
        let binds = relay.binds();
        let r = post_login(&w.app.view(), "ada", "guess", Some(&format!("198.51.100.{i}"))).await;
        assert!(r.status() == 503 || r.status() == 429, "post {i}: {}", r.status());
        if relay.binds() > binds {
            assert_eq!(r.status(), 503);
            relay.release(1);
        }
    }
    assert!(slapd.binds_of(ADA_DN) <= 5, "{} binds", slapd.binds_of(ADA_DN));
    assert!(slapd.failures_of("ada").await <= 5);
    assert!(!slapd.is_locked("ada").await);
}

#[tokio::test]
async fn ld_7_a_guesser_who_waits_out_the_window_never_drives_the_directory_into_its_lockout() {
    // ppolicy keeps failures until a successful bind (pwdFailureCountInterval 0) and locks at 6.
    let slapd = Slapd::start_with_lockout(6).await;
    let w = world_with(&slapd.url, "", from_many_addresses).await;
    for i in 0..5 {
        assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", Some(&format!("198.51.100.{i}"))).await)
            .await;
    }
    // The broker's window passes (its count starts again); the directory still counts 5.
    w.app.clock.advance(900);
    let r = post_login(&w.app.view(), "ada", "guess", Some("198.51.100.9")).await;
    assert_eq!(r.status(), 429, "refused on the directory's own count, without a bind");
    assert_eq!(slapd.binds_of(ADA_DN), 5);
    assert!(slapd.failures_of("ada").await <= 5);
    assert!(!slapd.is_locked("ada").await);
    // Bob, whom the directory counts nothing for, is not held back.
    let bob = w.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", Some("198.51.100.1")).await).await;
}

#[tokio::test]
async fn ld_7b_one_address_queueing_on_one_account_cannot_take_every_connection() {
    let slapd = Slapd::start().await;
    let relay = Relay::start(slapd.port, ADA_DN).await;
    let w = world_with(&relay.url, "max_connections = 4", from_many_addresses).await;
    let mut forms = Vec::new();
    for _ in 0..12 {
        forms.push(login_form(&w.app.view(), "ada", "ada-pw", Some("198.51.100.1")).await);
    }
    let (answered_tx, mut answered) = tokio::sync::watch::channel(0usize);
    let answered_tx = Arc::new(answered_tx);
    let posts: Vec<_> = forms
        .into_iter()
        .map(|f| {
            let tx = answered_tx.clone();
            tokio::spawn(async move {
                let r = f.send().await.unwrap();
                tx.send_modify(|n| *n += 1);
                r.status().as_u16()
            })
        })
        .collect();
    // The first holds Ada's bind; every other post has either been answered or searched (holding a connection).
    relay.wait_binds(1).await;
    loop {
        if *answered.borrow_and_update() + relay.searches() >= 12 {
            break;
        }
        tokio::select! {
            _ = answered.changed() => {}
            _ = relay.wait_searches(relay.searches() + 1) => {}
        }
    }
    let searched = relay.searches();
    assert!(searched <= 2, "one address's posts hold at most its cap of connections: {searched}");
    // Someone else, from another address, still gets a connection.
    let bob = w.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", Some("198.51.100.2")).await).await;
    relay.release(100);
    let statuses: Vec<u16> = futures_util::future::join_all(posts).await.into_iter().map(Result::unwrap).collect();
    assert!(statuses.contains(&303), "{statuses:?}");
}

#[tokio::test]
async fn ld_7b_a_429_after_the_search_is_charged_to_the_address() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "user_filter = \"(|(uid={username})(mail={username}))\"", |s| {
        from_many_addresses(s);
        s.rate_limits.address_failures_per_minute = 10;
    })
    .await;
    for i in 0..5 {
        assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", Some(&format!("198.51.100.{i}"))).await)
            .await;
    }
    let searches = slapd.searches();
    // Ada's budget is spent; her other name reaches the same entry after a search, then 429.
    for _ in 0..30 {
        assert_eq!(post_login(&w.app.view(), "ada@example.org", "guess", Some("203.0.113.7")).await.status(), 429);
    }
    assert!(slapd.searches() - searches <= 1, "{} searches", slapd.searches() - searches);
    // The address spent its own budget on those refusals.
    assert_eq!(post_login(&w.app.view(), "bob", "bob-pw", Some("203.0.113.7")).await.status(), 429);
    let bob = w.app.view();
    id_claims(&bob, post_login(&bob, "bob", "bob-pw", Some("203.0.113.8")).await).await;
}

#[tokio::test]
async fn ld_7a_an_entry_without_its_subject_attribute_is_never_bound() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "subject_attribute = \"employeeNumber\"", |_| {}).await;
    let r = post_login(&w.app.view(), "ada", "ada-pw", None).await;
    assert_eq!(r.status(), 503, "the provider's configuration, not the person's password");
    assert_eq!(slapd.binds_of(ADA_DN), 0, "never bound");
    assert!(identities(&w.app).await.is_empty());
}

#[tokio::test]
async fn ld_4_a_password_holding_nul_is_refused_without_a_bind() {
    let slapd = Slapd::start().await;
    let w = world(&slapd).await;
    assert_wrong_credentials(post_login(&w.app.view(), "ada", "ada-pw\0tail", None).await).await;
    assert_eq!((slapd.searches(), slapd.person_binds()), (0, 0), "the directory was not asked");
    assert!(PEOPLE.ends_with("dc=org"));
}

#[tokio::test]
async fn ld_7_wrong_passwords_on_one_name_from_many_addresses_raise_the_stuffing_alarm() {
    let slapd = Slapd::start().await;
    let w = world_with(&slapd.url, "max_failures = 100", |s| {
        from_many_addresses(s);
        s.rate_limits.stuffing_alarm_per_minute = 3;
    })
    .await;
    for i in 0..5 {
        assert_wrong_credentials(post_login(&w.app.view(), "ada", "guess", Some(&format!("198.51.100.{i}"))).await)
            .await;
    }
    let mut conn = w.app.state.db.conn().unwrap();
    let filter = bridgekeeper::store::audit::Filter {
        event: Some("credential_stuffing_suspected".into()),
        ..Default::default()
    };
    // The event is stored on a task of its own: the next request's answer comes after it.
    let (events, total) = bridgekeeper::store::audit::page(&mut conn, &filter, 10, 0).unwrap();
    assert_eq!(total, 1, "{events:?}");
    let key = bridgekeeper::secret::hash_token(&bridgekeeper::ratelimit::account_name("ada"));
    assert!(events[0].detail.contains(&key), "{events:?}");
    assert!(!events[0].detail.contains("ada\""), "the typed name is not stored");
}
