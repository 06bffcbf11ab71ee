//! [RL-6] A per-minute failure budget counted by several instances together: each failure is added to the fixed
//! window (of `window` seconds) it falls in, and the failures of the last `window` seconds are estimated from this
//! window's count and the previous one's, weighted by the part of it still inside (the sliding-window estimate).
//! As the instances' own budgets, it allows `limit` failures and is over at the one after.

/// `Some(seconds to wait)` when the estimate, with this failure, is over `limit`: until it is back within
/// (no further failure assumed); `None` while within. `elapsed` is how far into the current window this failure
/// is (0 ≤ `elapsed` < `window`).
pub fn over_budget(limit: u32, window: i64, previous: i64, current: i64, elapsed: i64) -> Option<u64> {
    let (limit, window) = (i64::from(limit), window.max(1));
    let elapsed = elapsed.clamp(0, window - 1);
    let weighted = |e: i64| previous.saturating_mul(window - e).saturating_add(current.saturating_mul(window));
    if weighted(elapsed) <= limit.saturating_mul(window) {
        return None;
    }
    let wait = if current <= limit && previous > 0 {
        // Within this window: once the previous window's weight has fallen enough.
        let room = (limit - current).saturating_mul(window);
        window - elapsed - room / previous
    } else {
        // This window alone is over: into the next one, until its weight has fallen enough.
        let over = (current - limit).saturating_mul(window);
        window - elapsed + over.saturating_add(current - 1) / current.max(1)
    };
    Some(u64::try_from(wait.max(1)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rl_6_the_budget_allows_limit_failures_and_is_over_at_the_next() {
        assert_eq!(over_budget(3, 60, 0, 3, 10), None, "exactly the budget");
        let wait = over_budget(3, 60, 0, 4, 10).unwrap();
        // 4 failures in this window: the next one's estimate 4 × (60 − e) / 60 ≤ 3 from e = 15 on.
        assert_eq!(wait, 50 + 15);
    }

    #[test]
    fn rl_6_the_previous_window_counts_by_the_part_still_inside() {
        // 4 failures at the end of the previous window, 1 now, 15 s in: 4 × 45/60 + 1 = 4 > 3.
        let wait = over_budget(3, 60, 4, 1, 15).unwrap();
        // Within by 4 × (60 − e)/60 + 1 ≤ 3, e ≥ 30: 15 s from now.
        assert_eq!(wait, 15);
        assert_eq!(over_budget(3, 60, 4, 1, 30), None, "half of the previous window is 2: within");
        assert_eq!(over_budget(3, 60, 4, 0, 0), Some(15), "a previous window over alone waits too");
    }

    #[test]
    fn rl_6_waits_are_at_least_a_second_and_never_overflow() {
        assert!(over_budget(1, 60, 2, 1, 59).unwrap() >= 1);
        assert!(over_budget(0, 60, i64::MAX, i64::MAX, 0).unwrap() >= 1);
        assert_eq!(over_budget(5, 0, 0, 1, 0), None, "a zero window is taken as one second");
    }
}
