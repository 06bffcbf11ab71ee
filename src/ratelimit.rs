//! Abuse limits (governor): a ceiling on all requests per source address, and a hard throttle on failures
//! (failed client authentication, forged or failed logins) per address and per client id. Loopback is not exempt.
//! Limits are per instance; a restart clears them.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::settings::RateLimitSettings;

pub struct Limits {
    enabled: bool,
    requests: DefaultKeyedRateLimiter<IpAddr>,
    failures: DefaultKeyedRateLimiter<String>,
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

impl Limits {
    pub fn new(s: &RateLimitSettings) -> Self {
        let per_minute = nz(s.failures_per_minute);
        Limits {
            enabled: s.enabled,
            requests: DefaultKeyedRateLimiter::keyed(Quota::per_second(nz(s.requests_per_second))),
            failures: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(per_minute)),
            blocked: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(120)).build(),
        }
    }

    /// Every request: `Err(seconds to wait)` when the address is over the request ceiling.
    pub fn admit_request(&self, ip: IpAddr) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        self.requests.check_key(&ip).map_err(|nu| secs(nu.wait_time_from(DefaultClock::default().now())))
    }

    /// Before an authentication or login: `Err(seconds to wait)` when the address or the client id has used up
    /// its failure budget.
    pub fn admit(&self, ip: IpAddr, client: Option<&str>) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let now = Instant::now();
        for key in keys(ip, client) {
            match self.blocked.get(&key) {
                Some(until) if until > now => return Err(secs(until - now)),
                Some(_) => self.blocked.invalidate(&key),
                None => {}
            }
        }
        Ok(())
    }

    /// After a failure: charges the address and the client id; a key over budget waits until it has room again.
    pub fn failed(&self, ip: IpAddr, client: Option<&str>) {
        if !self.enabled {
            return;
        }
        for key in keys(ip, client) {
            if let Err(not_until) = self.failures.check_key(&key) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                self.blocked.insert(key, Instant::now() + wait);
            }
        }
    }

    /// Drops limiter state of keys not seen recently (bounded memory).
    pub fn tidy(&self) {
        self.requests.retain_recent();
        self.failures.retain_recent();
    }
}

fn keys(ip: IpAddr, client: Option<&str>) -> Vec<String> {
    let mut k = vec![format!("ip:{ip}")];
    if let Some(c) = client.filter(|c| !c.is_empty() && c.len() <= 256) {
        k.push(format!("client:{c}"));
    }
    k
}

fn secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The address a request came from (the TCP peer; a proxy in front needs its own limits).
pub fn client_ip(req: &actix_web::HttpRequest) -> IpAddr {
    req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(failures: u32) -> Limits {
        Limits::new(&RateLimitSettings { enabled: true, failures_per_minute: failures, requests_per_second: 1000 })
    }

    #[test]
    fn failures_over_budget_block_the_address_and_the_client() {
        let l = limits(3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.admit(ip, Some("c1")).is_ok());
            l.failed(ip, Some("c1"));
        }
        assert!(l.admit(ip, Some("c1")).is_ok(), "exactly the budget");
        l.failed(ip, Some("c1"));
        assert!(l.admit(ip, None).unwrap_err() >= 1, "the address waits");
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(l.admit(other, Some("c1")).is_err(), "the client id waits from anywhere");
        assert!(l.admit(other, Some("c2")).is_ok(), "others do not");
    }

    #[test]
    fn disabled_limits_admit_everything() {
        let l = Limits::new(&RateLimitSettings { enabled: false, failures_per_minute: 1, requests_per_second: 1 });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..10 {
            l.failed(ip, None);
            assert!(l.admit(ip, None).is_ok() && l.admit_request(ip).is_ok());
        }
    }
}
