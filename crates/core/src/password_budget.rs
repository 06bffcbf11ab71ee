//! Password guessing at a directory ([LD-7], [LD-7a]): the failure budget of one account and the form a typed
//! name is counted under. The budget must stay below the directory's own lockout threshold (Active Directory's
//! lockout threshold, OpenLDAP ppolicy's `pwdMaxFailure`), so that a guesser can never drive the directory into
//! locking its owner out: the broker refuses first, without a bind.

use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::CodePointSetData;
use icu_properties::props::DefaultIgnorableCodePoint;

/// [LD-7a] The form under which a typed name is counted when the directory found no single entry for it (and
/// before the directory is asked at all): NFKC, lower-cased (then NFKC again, as lower-casing can denormalise),
/// default-ignorable code points (zero-width spaces and joiners, soft hyphens, variation selectors, bidi marks)
/// dropped, and white space trimmed and collapsed to one space — what LDAP's `caseIgnoreMatch` string preparation
/// (RFC 4518: map, NFKC, case fold, insignificant spaces) treats as equal, so that `ＡＤＡ`, `a\u{200B}da` and
/// ` Ada ` share one budget.
pub fn account_name(typed: &str) -> String {
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    let folded: String = nfkc.normalize(typed).chars().flat_map(char::to_lowercase).collect();
    let kept: String = nfkc.normalize(&folded).chars().filter(|c| !ignorable.contains(*c)).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The longest failure window (a day); a broker keeps an idle account's count at least this long.
pub const MAX_WINDOW_SECS: u64 = 86_400;

/// [LD-7] At most `max_failures` wrong passwords for one account, counted until `window_secs` have passed
/// without a failure (then the count starts again), as Active Directory counts (`badPwdCount` resets after its
/// observation window of quiet) — a budget that, with `window_secs` at least the directory's window and
/// `max_failures` below its threshold, also stays below OpenLDAP ppolicy's sliding count
/// (`pwdFailureCountInterval`). A sign-in with the right password clears it, as directories do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_failures: u32,
    pub window_secs: i64,
}

/// The failures of one account since its count last started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    count: u32,
    /// When the last failure was charged (Unix seconds).
    last: i64,
}

impl Failures {
    /// The failures counted now (0 once `window_secs` passed without one).
    pub fn count(&self, b: Budget, now: i64) -> u32 {
        if now.saturating_sub(self.last) >= b.window_secs { 0 } else { self.count }
    }

    /// [LD-7] May the directory be asked for this account's password now? `Err(seconds)` until the window of
    /// quiet has passed once the budget is spent.
    pub fn admit(&self, b: Budget, now: i64) -> Result<(), i64> {
        if self.count(b, now) < b.max_failures {
            Ok(())
        } else {
            Err((self.last.saturating_add(b.window_secs).saturating_sub(now)).max(1))
        }
    }

    /// A wrong password for this account.
    pub fn charge(&mut self, b: Budget, now: i64) {
        self.count = self.count(b, now).saturating_add(1);
        self.last = now;
    }

    /// The right password: the count starts again.
    pub fn clear(&mut self) {
        *self = Failures::default();
    }

    /// [RL-6] The account's failures as every instance counted them together, after this one charged one:
    /// `count` with this charge (over `max_failures` when the budget was spent already and the charge refused)
    /// and the last failure counted. Returns them, and whether this charge was within the budget.
    pub fn shared(b: Budget, count: i64, last: i64) -> (Failures, bool) {
        let within = count <= i64::from(b.max_failures);
        let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX).min(b.max_failures);
        (Failures { count, last }, within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Budget = Budget { max_failures: 5, window_secs: 900 };

    #[test]
    fn ld_7a_variants_of_a_name_are_one_account_name() {
        let ada = account_name("ada");
        for v in ["ADA", " Ada ", "ＡＤＡ", "a\u{200B}da", "ad\u{00AD}a", "a\u{200D}d\u{FE0F}a", "\u{FEFF}ada\u{2060}"]
        {
            assert_eq!(account_name(v), ada, "{v:?}");
        }
        assert_eq!(account_name("Ada  Lovelace"), account_name("ada lovelace"));
        assert_eq!(account_name("ｊｏｈｎ\u{3000}ｓｍｉｔｈ"), "john smith", "ideographic space is white space");
        assert_ne!(account_name("ada"), account_name("adb"));
        assert_ne!(account_name("a da"), account_name("ada"));
    }

    #[test]
    fn ld_7_the_budget_is_spent_after_max_failures_and_returns_after_a_quiet_window() {
        let mut f = Failures::default();
        let t = 1_000_000;
        for i in 0..5 {
            assert!(f.admit(B, t + i).is_ok());
            f.charge(B, t + i);
        }
        assert_eq!(f.admit(B, t + 5), Err(899));
        // A failure cannot be charged while spent (the caller refuses first); the window counts from the last one.
        assert!(f.admit(B, t + 4 + 899).is_err());
        assert!(f.admit(B, t + 4 + 900).is_ok());
        f.charge(B, t + 4 + 900);
        assert_eq!(f.count(B, t + 4 + 900), 1, "a fresh count");
    }

    #[test]
    fn ld_7_failures_spread_out_within_the_window_still_add_up() {
        // AD's counter resets only after its window of quiet: a guess every 14 minutes must not get a fresh budget.
        let mut f = Failures::default();
        for i in 0..5 {
            let now = i * 840;
            assert!(f.admit(B, now).is_ok());
            f.charge(B, now);
        }
        assert!(f.admit(B, 5 * 840).is_err());
    }

    #[test]
    fn rl_6_a_shared_count_over_the_budget_refuses_the_charge_and_keeps_the_last_counted_failure() {
        let (f, within) = Failures::shared(B, 5, 100);
        assert!(within, "the fifth failure is within");
        assert_eq!(f.admit(B, 101), Err(899));
        let (f, within) = Failures::shared(B, 7, 100);
        assert!(!within, "spent elsewhere: refused");
        assert_eq!((f.count(B, 101), f.admit(B, 1000)), (5, Ok(())), "counted as spent, waiting from the last one");
        let (f, within) = Failures::shared(B, 1, 100);
        assert!(within && f.admit(B, 101).is_ok());
    }

    #[test]
    fn ld_7_the_right_password_clears_the_count() {
        let mut f = Failures::default();
        for _ in 0..4 {
            f.charge(B, 10);
        }
        f.clear();
        assert_eq!(f.count(B, 11), 0);
    }
}
