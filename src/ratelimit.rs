//! Abuse limits (governor), per instance (a restart clears them), loopback not exempt:
//! - a ceiling on all requests per source address (with a burst), and a tighter budget per address for the
//!   endpoints that create state for anonymous callers (`POST /register`, `GET /login/{provider}`, `/authorize`);
//! - failure budgets (failed client authentication, forged or failed logins) keyed by the source address and
//!   by (source address, client id): the guesser is throttled, never the victim — a request with valid
//!   credentials is never refused because of failures from other addresses (RFC 6749 §10.10; [RL-1]);
//! - failures on one client id from all addresses together only raise an alarm (`credential_stuffing_suspected`,
//!   at most one per client id per `ALARM_QUIET_SECS` and `ALARMS_PER_MINUTE` in all), never a lockout.
//!
//! - password sign-ins' per-account failure budgets and turns (`passwords`, [LD-7]; held by `AppState`, not by
//!   `Limits`, so that no reload starts them afresh).
//!
//! - [RL-6] with `rate_limits.shared` (PostgreSQL), the failure budgets are also counted by every instance
//!   together (`shared`): a failure pays one upsert, whose count decides cluster-wide; admission stays in memory.
//!
//! The source address is the one `client_addr` believes (trusted proxies). A reload that changes `[rate_limits]`
//! carries the counts over ([HR-7a], `Limits::after`).

mod budget;
mod passwords;
pub mod shared;
use budget::{Budget, NotUntil};
pub use passwords::{Account, PasswordBudgets, Turn, account_name, key as account_key};
pub use shared::SharedKeys;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

use crate::settings::RateLimitSettings;

/// A client id is alarmed about at most once in this many seconds.
pub const ALARM_QUIET_SECS: u64 = 300;
/// At most this many alarms a minute in all (attackers can invent client ids).
pub const ALARMS_PER_MINUTE: u32 = 10;

pub struct Limits {
    enabled: bool,
    requests: Budget<IpAddr>,
    anonymous: Budget<IpAddr>,
    address_failures: Budget<IpAddr>,
    pair_failures: Budget<(IpAddr, String)>,
    client_failures: Budget<String>,
    alarms: Arc<DefaultDirectRateLimiter>,
    /// Client ids alarmed about recently.
    alarmed: moka::sync::Cache<String, ()>,
    /// Keys over their failure budget, and until when they wait.
    blocked: moka::sync::Cache<String, Instant>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Limits(enabled={})", self.enabled)
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(nz(n)).allow_burst(nz(n))
}

/// What a failure led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Counted,
    /// Failures on this client id from all addresses are over `stuffing_alarm_per_minute`: audit it.
    StuffingSuspected(String),
}

/// The quotas of the settings, one per budget.
struct Quotas {
    requests: Quota,
    anonymous: Quota,
    address_failures: Quota,
    pair_failures: Quota,
    client_failures: Quota,
}

fn quotas(s: &RateLimitSettings) -> Quotas {
    Quotas {
        requests: Quota::per_second(nz(s.requests_per_second)).allow_burst(nz(s.request_burst)),
        anonymous: Quota::per_minute(nz(s.anonymous_state_per_minute)).allow_burst(nz(s.anonymous_state_burst)),
        address_failures: per_minute(s.address_failures_per_minute),
        pair_failures: per_minute(s.failures_per_minute),
        client_failures: per_minute(s.stuffing_alarm_per_minute),
    }
}

impl Limits {
    pub fn new(s: &RateLimitSettings) -> Self {
        let q = quotas(s);
        Limits {
            enabled: s.enabled,
            requests: Budget::new(q.requests),
            anonymous: Budget::new(q.anonymous),
            address_failures: Budget::new(q.address_failures),
            pair_failures: Budget::new(q.pair_failures),
            client_failures: Budget::new(q.client_failures),
            alarms: Arc::new(DefaultDirectRateLimiter::direct(per_minute(ALARMS_PER_MINUTE))),
            alarmed: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(ALARM_QUIET_SECS))
                .build(),
            blocked: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(120)).build(),
        }
    }

    /// [HR-7a] The limits after a reload to `s`, carried over from these: a budget whose quota is unchanged keeps
    /// its counts (the key spaces never change at a reload: the address resolver is restart-only); a changed one
    /// starts new counts and keeps charging the one it replaced until that one has refilled; who waits keeps
    /// waiting, and the alarms their quiet time. A reload is never a fresh budget for whoever used one up.
    pub fn after(&self, s: &RateLimitSettings) -> Self {
        let q = quotas(s);
        Limits {
            enabled: s.enabled,
            requests: self.requests.after(q.requests),
            anonymous: self.anonymous.after(q.anonymous),
            address_failures: self.address_failures.after(q.address_failures),
            pair_failures: self.pair_failures.after(q.pair_failures),
            client_failures: self.client_failures.after(q.client_failures),
            alarms: self.alarms.clone(),
            alarmed: self.alarmed.clone(),
            blocked: self.blocked.clone(),
        }
    }

    /// Every request: `Err(seconds to wait)` when the address is over the request ceiling.
    pub fn admit_request(&self, ip: IpAddr) -> Result<(), u64> {
        let ip = budget_key(ip);
        if !self.enabled {
            return Ok(());
        }
        self.requests.check(&ip).map_err(wait_secs)
    }

    /// A request to an endpoint that creates state for anonymous callers: `Err(seconds to wait)` when the
    /// address is over its budget for those.
    pub fn admit_anonymous(&self, ip: IpAddr) -> Result<(), u64> {
        let ip = budget_key(ip);
        if !self.enabled {
            return Ok(());
        }
        self.anonymous.check(&ip).map_err(wait_secs)
    }

    /// Before an authentication or login: `Err(seconds to wait)` when the address, or this client id from this
    /// address, has used up its failure budget. Failures elsewhere never count here.
    pub fn admit(&self, ip: IpAddr, client: Option<&str>) -> Result<(), u64> {
        let ip = budget_key(ip);
        if !self.enabled {
            return Ok(());
        }
        let now = Instant::now();
        for key in block_keys(ip, client) {
            match self.blocked.get(&key) {
                Some(until) if until > now => return Err(secs(until - now)),
                Some(_) => self.blocked.invalidate(&key),
                None => {}
            }
        }
        Ok(())
    }

    /// After a failure: charges the address and (address, client id); a key over budget waits until it has
    /// room again. The client id alone is only counted, for the alarm.
    pub fn failed(&self, ip: IpAddr, client: Option<&str>) -> Failure {
        let ip = budget_key(ip);
        if !self.enabled {
            return Failure::Counted;
        }
        let client = usable(client);
        let mut over = Vec::new();
        if let Err(n) = self.address_failures.check(&ip) {
            over.push((format!("ip:{ip}"), n));
        }
        // Failures without a client id (logins) share the pair (address, "") and so its tighter budget.
        let pair = client.unwrap_or("");
        if let Err(n) = self.pair_failures.check(&(ip, pair.to_string())) {
            over.push((pair_key(ip, pair), n));
        }
        for (key, not_until) in over {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.blocked.insert(key, Instant::now() + wait);
        }
        match client {
            Some(c) if self.client_failures.check(&c.to_string()).is_err() => self.alarm(c),
            _ => Failure::Counted,
        }
    }

    /// [RL-6] The keys a failure from `ip` (with `client`) is charged to, as `admit` looks them up: the address's
    /// and the (address, client id or "")'s; `None` while the limits are off.
    pub(crate) fn failure_keys(&self, ip: IpAddr, client: Option<&str>) -> Option<[String; 2]> {
        let ip = budget_key(ip);
        self.enabled.then(|| [format!("ip:{ip}"), pair_key(ip, usable(client).unwrap_or(""))])
    }

    /// [RL-6] `key` waits at least `wait` from now (a longer wait already in force stays).
    pub(crate) fn block_for(&self, key: &str, wait: Duration) {
        let until = Instant::now() + wait;
        if self.blocked.get(key).is_none_or(|t| t < until) {
            self.blocked.insert(key.to_string(), until);
        }
    }

    fn alarm(&self, client: &str) -> Failure {
        if self.alarmed.contains_key(client) || self.alarms.check().is_err() {
            return Failure::Counted;
        }
        self.alarmed.insert(client.to_string(), ());
        Failure::StuffingSuspected(client.to_string())
    }

    /// Drops limiter state of keys not seen recently (bounded memory).
    pub fn tidy(&self) {
        self.requests.tidy();
        self.anonymous.tidy();
        self.address_failures.tidy();
        self.pair_failures.tidy();
        self.client_failures.tidy();
    }
}

fn usable(client: Option<&str>) -> Option<&str> {
    client.filter(|c| !c.is_empty() && c.len() <= 256)
}

/// [RL-5] The address a budget is kept for: IPv4 addresses as they are, IPv6 ones by their /64 (one subscriber's
/// prefix), so that rotating through a /64 does not multiply the budgets.
pub fn budget_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

fn pair_key(ip: IpAddr, client: &str) -> String {
    format!("ip+client:{ip} {client}")
}

fn block_keys(ip: IpAddr, client: Option<&str>) -> Vec<String> {
    // The same keys as `failure_keys`.
    vec![format!("ip:{ip}"), pair_key(ip, usable(client).unwrap_or(""))]
}

fn wait_secs(nu: NotUntil) -> u64 {
    secs(nu.wait_time_from(DefaultClock::default().now()))
}

fn secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The address a request came from, as `client_addr` believes it (trusted proxies).
pub fn client_ip(req: &actix_web::HttpRequest) -> IpAddr {
    crate::client_addr::of(req)
}

/// Endpoints that create state for anonymous callers, by method and path: `POST /register`,
/// `GET /login/{provider}`, `GET|POST /authorize`. `POST /par` is charged by its handler, and only for a public
/// client (one that pushes without credentials): an authenticated client is not anonymous ([PAR-1]).
pub fn creates_anonymous_state(method: &actix_web::http::Method, path: &str) -> bool {
    use actix_web::http::Method;
    match path {
        "/register" => method == Method::POST,
        "/authorize" => method == Method::GET || method == Method::POST,
        _ => method == Method::GET && path.strip_prefix("/login/").is_some_and(|p| !p.is_empty() && !p.contains('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rl_5_addresses_of_one_ipv6_64_share_a_budget() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(budget_key(a), budget_key(b));
        assert_ne!(budget_key(a), budget_key(other));
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(budget_key(v4), v4);
    }

    fn settings(failures: u32) -> RateLimitSettings {
        RateLimitSettings {
            enabled: true,
            failures_per_minute: failures,
            address_failures_per_minute: failures * 2,
            stuffing_alarm_per_minute: failures * 3,
            requests_per_second: 1000,
            request_burst: 1000,
            anonymous_state_per_minute: 1000,
            anonymous_state_burst: 1000,
            shared: false,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn failures_block_the_address_and_the_pair_never_the_client_elsewhere() {
        let l = Limits::new(&settings(3));
        let (a, b) = (ip("127.0.0.1"), ip("127.0.0.2"));
        for _ in 0..3 {
            assert!(l.admit(a, Some("c1")).is_ok());
            l.failed(a, Some("c1"));
        }
        assert!(l.admit(a, Some("c1")).is_ok(), "exactly the budget");
        l.failed(a, Some("c1"));
        assert!(l.admit(a, Some("c1")).unwrap_err() >= 1, "this client id from this address waits");
        assert!(l.admit(a, Some("c2")).is_ok(), "the address still has room for other clients");
        assert!(l.admit(b, Some("c1")).is_ok(), "the client id from elsewhere is not refused");
        for _ in 0..3 {
            l.failed(a, Some("c3"));
        }
        assert!(l.admit(a, None).is_err(), "the address as a whole is over its budget now");
        assert!(l.admit(b, None).is_ok());
    }

    #[test]
    fn failed_logins_have_the_tighter_budget_of_failures_per_minute() {
        let l = Limits::new(&settings(3));
        let a = ip("127.0.0.1");
        for _ in 0..4 {
            l.failed(a, None);
        }
        assert!(l.admit(a, None).is_err(), "4 failed logins > failures_per_minute, though < the address budget");
        assert!(l.admit(a, Some("c1")).is_ok(), "a client authenticating from there is not refused");
    }

    #[test]
    fn stuffing_on_one_client_id_alarms_once_and_blocks_nobody() {
        let l = Limits::new(&settings(3));
        let mut alarms = 0;
        for i in 0..40u8 {
            if let Failure::StuffingSuspected(c) = l.failed(IpAddr::from([10, 0, 0, i]), Some("victim")) {
                assert_eq!(c, "victim");
                alarms += 1;
            }
        }
        assert_eq!(alarms, 1, "one alarm per quiet period");
        assert!(l.admit(ip("10.9.9.9"), Some("victim")).is_ok(), "no lockout");
    }

    #[test]
    fn anonymous_state_routes_are_recognised() {
        use actix_web::http::Method;
        assert!(creates_anonymous_state(&Method::POST, "/register"));
        assert!(!creates_anonymous_state(&Method::GET, "/register/abc"));
        assert!(creates_anonymous_state(&Method::GET, "/authorize"));
        assert!(creates_anonymous_state(&Method::POST, "/authorize"));
        assert!(!creates_anonymous_state(&Method::POST, "/par"), "charged by the handler, public clients only");
        assert!(creates_anonymous_state(&Method::GET, "/login/dev"));
        assert!(!creates_anonymous_state(&Method::POST, "/login/dev"), "the dev form post is a login attempt");
        assert!(!creates_anonymous_state(&Method::GET, "/login"));
        assert!(!creates_anonymous_state(&Method::GET, "/token"));
    }

    /// [HR-7a] A reload is no fresh budget: an unchanged budget keeps its counts, a changed one still charges the
    /// one it replaced until that has refilled, and whoever waits keeps waiting.
    #[test]
    fn hr_7a_a_reload_is_no_fresh_budget() {
        let (a, b, c) = (ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3"));
        let l = Limits::new(&settings(3));
        for who in [a, b] {
            for _ in 0..3 {
                l.failed(who, None);
            }
        }
        let mut other = settings(3);
        other.request_burst = 999;
        let unchanged = l.after(&other);
        assert!(unchanged.admit(a, None).is_ok(), "exactly the budget");
        unchanged.failed(a, None);
        assert!(unchanged.admit(a, None).is_err(), "the failures before the reload still count");
        let loosened = l.after(&settings(30));
        loosened.failed(b, None);
        assert!(loosened.admit(b, None).is_err(), "the replaced budget is charged until it has refilled");
        assert!(loosened.admit(c, None).is_ok());
        for _ in 0..4 {
            loosened.failed(c, None);
        }
        assert!(loosened.admit(c, None).is_err(), "and a new address is held to it too");
        let fresh = Limits::new(&settings(1));
        fresh.failed(c, None);
        fresh.failed(c, None);
        assert!(fresh.admit(c, None).is_err());
        assert!(fresh.after(&settings(50)).admit(c, None).is_err(), "whoever waits keeps waiting");
    }

    #[test]
    fn disabled_limits_admit_everything() {
        let mut s = settings(1);
        s.enabled = false;
        let l = Limits::new(&s);
        for _ in 0..10 {
            l.failed(ip("127.0.0.1"), None);
            assert!(l.admit(ip("127.0.0.1"), None).is_ok() && l.admit_request(ip("127.0.0.1")).is_ok());
        }
    }

    fn wait_of(r: Result<(), NotUntil>) -> u64 {
        r.map_err(wait_secs).unwrap_err()
    }

    /// [HR-7a] A key out of cells in several limiters (the one in force and one it replaced) waits the longest of
    /// their waits, not the first one found.
    #[test]
    fn hr_7a_a_key_over_several_limiters_waits_the_longest() {
        let b = Budget::new(per_minute(1));
        assert!(b.check(&1u8).is_ok());
        let b = b.after(Quota::per_second(nz(1)));
        assert!(wait_of(b.check(&1u8)) > 30, "the replaced per-minute budget is out of cells");
        assert!(wait_of(b.check(&1u8)) > 30, "both are out of cells: the longer wait, not the first");
    }

    /// [HR-7a] A replaced limiter that has refilled is dropped at the sweeper's `tidy`, not only at the next reload.
    #[test]
    fn hr_7a_refilled_replaced_limiters_are_dropped_by_tidy() {
        let b = Budget::<u8>::new(per_minute(1)).after(per_minute(2));
        assert_eq!(b.replaced().len(), 1);
        b.tidy_at(Instant::now());
        assert_eq!(b.replaced().len(), 1, "not refilled yet");
        b.tidy_at(Instant::now() + Duration::from_secs(61));
        assert!(b.replaced().is_empty(), "refilled: dropped");
    }
}
