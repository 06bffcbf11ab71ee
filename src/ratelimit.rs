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
//! The source address is the one `client_addr` believes (trusted proxies).

mod passwords;
pub use passwords::{Account, PasswordBudgets, Turn, account_name};

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use crate::settings::RateLimitSettings;

/// A client id is alarmed about at most once in this many seconds.
pub const ALARM_QUIET_SECS: u64 = 300;
/// At most this many alarms a minute in all (attackers can invent client ids).
pub const ALARMS_PER_MINUTE: u32 = 10;

pub struct Limits {
    enabled: bool,
    requests: DefaultKeyedRateLimiter<IpAddr>,
    anonymous: DefaultKeyedRateLimiter<IpAddr>,
    address_failures: DefaultKeyedRateLimiter<IpAddr>,
    pair_failures: DefaultKeyedRateLimiter<(IpAddr, String)>,
    client_failures: DefaultKeyedRateLimiter<String>,
    alarms: DefaultDirectRateLimiter,
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

impl Limits {
    pub fn new(s: &RateLimitSettings) -> Self {
        Limits {
            enabled: s.enabled,
            requests: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(nz(s.requests_per_second)).allow_burst(nz(s.request_burst)),
            ),
            anonymous: DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(nz(s.anonymous_state_per_minute)).allow_burst(nz(s.anonymous_state_burst)),
            ),
            address_failures: DefaultKeyedRateLimiter::keyed(per_minute(s.address_failures_per_minute)),
            pair_failures: DefaultKeyedRateLimiter::keyed(per_minute(s.failures_per_minute)),
            client_failures: DefaultKeyedRateLimiter::keyed(per_minute(s.stuffing_alarm_per_minute)),
            alarms: DefaultDirectRateLimiter::direct(per_minute(ALARMS_PER_MINUTE)),
            alarmed: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(ALARM_QUIET_SECS))
                .build(),
            blocked: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(120)).build(),
        }
    }

    /// Every request: `Err(seconds to wait)` when the address is over the request ceiling.
    pub fn admit_request(&self, ip: IpAddr) -> Result<(), u64> {
        let ip = budget_key(ip);
        if !self.enabled {
            return Ok(());
        }
        self.requests.check_key(&ip).map_err(wait_secs)
    }

    /// A request to an endpoint that creates state for anonymous callers: `Err(seconds to wait)` when the
    /// address is over its budget for those.
    pub fn admit_anonymous(&self, ip: IpAddr) -> Result<(), u64> {
        let ip = budget_key(ip);
        if !self.enabled {
            return Ok(());
        }
        self.anonymous.check_key(&ip).map_err(wait_secs)
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
        if let Err(n) = self.address_failures.check_key(&ip) {
            over.push((format!("ip:{ip}"), n));
        }
        // Failures without a client id (logins) share the pair (address, "") and so its tighter budget.
        let pair = client.unwrap_or("");
        if let Err(n) = self.pair_failures.check_key(&(ip, pair.to_string())) {
            over.push((pair_key(ip, pair), n));
        }
        for (key, not_until) in over {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.blocked.insert(key, Instant::now() + wait);
        }
        match client {
            Some(c) if self.client_failures.check_key(&c.to_string()).is_err() => self.alarm(c),
            _ => Failure::Counted,
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
        self.requests.retain_recent();
        self.anonymous.retain_recent();
        self.address_failures.retain_recent();
        self.pair_failures.retain_recent();
        self.client_failures.retain_recent();
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
    vec![format!("ip:{ip}"), pair_key(ip, usable(client).unwrap_or(""))]
}

fn wait_secs(nu: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
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
}
