//! How fresh a sign-in must be ([AZ-13] `prompt=login`, [AZ-14] `max_age`), and whether an upstream's answer shows
//! that freshness ([TB-5]).

/// Allowance for an upstream's clock and its `auth_time`.
pub const SKEW_SECS: i64 = 5;

/// The freshness a downstream request asks for; `max_age=0` means `prompt=login` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    pub prompt_login: bool,
    pub max_age: Option<i64>,
}

impl Freshness {
    pub fn new(prompt_login: bool, max_age: Option<i64>) -> Self {
        Freshness { prompt_login: prompt_login || max_age == Some(0), max_age }
    }

    pub fn is_forced(&self) -> bool {
        self.prompt_login || self.max_age.is_some()
    }

    /// Is an upstream `auth_time` recent enough for a login that started at `started`?
    pub fn satisfied_by(&self, auth_time: i64, started: i64, now: i64) -> bool {
        (!self.prompt_login || auth_time + SKEW_SECS >= started)
            && self.max_age.is_none_or(|m| auth_time + m + SKEW_SECS >= now)
    }
}

/// What an upstream sign-in shows about freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFreshness {
    /// Fresh enough (or no freshness was asked).
    Fresh,
    /// The upstream reported an `auth_time` that is too old: it did not re-authenticate.
    Stale,
    /// Freshness was asked, the upstream reports no `auth_time` and the admin does not trust it to honour
    /// `prompt=login`: the broker must answer `login_required`, never pretend.
    Unverifiable,
}

/// [TB-5] Never claim a fresh login that was not verified: an `auth_time` reported by the upstream is checked; a
/// missing one is believed only for providers configured with `honours_prompt_login`.
pub fn upstream_verdict(
    asked: Freshness,
    reported_auth_time: Option<i64>,
    honours_prompt_login: bool,
    started: i64,
    now: i64,
) -> UpstreamFreshness {
    if !asked.is_forced() {
        return UpstreamFreshness::Fresh;
    }
    match reported_auth_time {
        Some(t) if asked.satisfied_by(t, started, now) => UpstreamFreshness::Fresh,
        Some(_) => UpstreamFreshness::Stale,
        None if honours_prompt_login => UpstreamFreshness::Fresh,
        None => UpstreamFreshness::Unverifiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_14_max_age_zero_means_prompt_login() {
        assert!(Freshness::new(false, Some(0)).prompt_login);
        assert!(!Freshness::new(false, Some(10)).prompt_login);
        assert!(!Freshness::default().is_forced());
    }

    #[test]
    fn az_13_14_upstream_auth_time_must_show_the_fresh_login() {
        let login = Freshness::new(true, None);
        assert!(login.satisfied_by(1000, 1000, 1010));
        assert!(login.satisfied_by(996, 1000, 1010), "within the skew");
        assert!(!login.satisfied_by(900, 1000, 1010));
        let max_age = Freshness::new(false, Some(60));
        assert!(max_age.satisfied_by(950, 1000, 1010));
        assert!(!max_age.satisfied_by(900, 1000, 1010));
    }

    #[test]
    fn tb_5_freshness_not_reported_is_believed_only_from_providers_trusted_to_honour_it() {
        let asked = Freshness::new(true, None);
        assert_eq!(upstream_verdict(asked, None, false, 1000, 1010), UpstreamFreshness::Unverifiable);
        assert_eq!(upstream_verdict(asked, None, true, 1000, 1010), UpstreamFreshness::Fresh);
        assert_eq!(upstream_verdict(asked, Some(900), true, 1000, 1010), UpstreamFreshness::Stale);
        assert_eq!(upstream_verdict(asked, Some(1001), false, 1000, 1010), UpstreamFreshness::Fresh);
        assert_eq!(upstream_verdict(Freshness::default(), None, false, 1000, 1010), UpstreamFreshness::Fresh);
    }
}
