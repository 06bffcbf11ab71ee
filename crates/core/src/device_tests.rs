use super::*;

fn pending(last_poll_at: Option<i64>) -> DeviceState<'static> {
    DeviceState { client_id: "tv", status: Status::Pending, expires_at: 1_600, interval_secs: 5, last_poll_at }
}

#[test]
fn dv_3_user_codes_use_the_alphabet_without_bias() {
    let bytes: Vec<u8> = (0..=255u8).collect();
    assert_eq!(user_code_from_random(&bytes).unwrap(), "BCDFGHJK");
    let mut skewed = vec![255u8; 8];
    skewed.extend([19u8, 20, 39, 40, 0, 1, 2, 3]);
    assert_eq!(user_code_from_random(&skewed).unwrap(), "ZBZBBCDF");
    // Every letter equally likely: each comes from exactly 12 of the 256 byte values, and the 16 others (240 and
    // up) are skipped, not folded onto the first letters.
    let mut counts = std::collections::BTreeMap::new();
    for b in 0..=255u8 {
        match user_code_from_random(&[b; 8]) {
            Some(code) => {
                assert!(b < 240, "{b} must be skipped");
                *counts.entry(code.chars().next().unwrap()).or_insert(0) += 1;
            }
            None => assert!(b >= 240, "{b} is usable"),
        }
    }
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|c| *c == 12), "{counts:?}");
}

#[test]
fn dv_3_typed_codes_ignore_case_dashes_and_spaces() {
    for typed in ["BCDF-GHJK", "bcdf-ghjk", " bcdf ghjk ", "BCDFGHJK", "b-c-d-f-g-h-j-k", "bcdf\tghjk"] {
        assert_eq!(normalize(typed).as_deref(), Some("BCDFGHJK"), "{typed:?}");
    }
    for wrong in ["", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ0", "BCDF_GHJK", "ВCDF-GHJK", &"B".repeat(65)] {
        assert_eq!(normalize(wrong), None, "{wrong:?}");
    }
    assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
}

#[test]
fn dv_1_scope_is_checked_as_at_authorize() {
    let cat: BTreeMap<String, String> =
        ["openid", "profile", "admin"].iter().map(|s| (s.to_string(), String::new())).collect();
    let allowed = vec!["openid".to_string(), "profile".to_string(), "admin".to_string()];
    assert_eq!(scope(Some("profile openid nope"), &allowed, &cat).unwrap(), vec!["openid", "profile"]);
    assert_eq!(scope(Some("admin"), &allowed, &cat).unwrap_err().code, ErrorCode::InvalidScope, "reserved");
    assert_eq!(scope(None, &allowed, &cat).unwrap_err().code, ErrorCode::InvalidScope);
}

#[test]
fn dv_2_poll_decisions_follow_rfc_8628() {
    assert_eq!(poll(Some(&pending(None)), "tv", 1_000), Poll::Pending);
    assert_eq!(poll(Some(&pending(Some(995))), "tv", 1_000), Poll::Pending, "exactly the interval is fine");
    assert_eq!(poll(Some(&pending(Some(996))), "tv", 1_000), Poll::SlowDown { interval_secs: 10 });
    assert_eq!(poll(Some(&pending(None)), "other", 1_000), Poll::Invalid, "bound to its client");
    assert_eq!(poll(None, "tv", 1_000), Poll::Invalid);
    assert_eq!(poll(Some(&pending(None)), "tv", 1_600), Poll::Expired);
    let with = |status| DeviceState { status, ..pending(Some(999)) };
    assert_eq!(poll(Some(&with(Status::Approved)), "tv", 1_000), Poll::Issue, "approved is issued at any pace");
    assert_eq!(poll(Some(&with(Status::Denied)), "tv", 1_000), Poll::Denied);
    assert_eq!(poll(Some(&with(Status::Redeemed)), "tv", 1_000), Poll::Invalid, "redeemed once");
    assert_eq!(poll(Some(&with(Status::Redeemed)), "tv", 2_000), Poll::Invalid);
    assert_eq!(poll(Some(&with(Status::Approved)), "tv", 1_600), Poll::Expired);
    let codes: Vec<&str> =
        [Poll::Pending, Poll::SlowDown { interval_secs: 10 }, Poll::Expired, Poll::Denied, Poll::Invalid]
            .iter()
            .map(|p| p.error().unwrap().code.as_str())
            .collect();
    assert_eq!(codes, ["authorization_pending", "slow_down", "expired_token", "access_denied", "invalid_grant"]);
    assert!(Poll::Issue.error().is_none());
    assert!(Poll::Pending.error().unwrap().status() == 400);
}

#[test]
fn dv_4_the_guess_budget_counts_session_and_address() {
    let b = GuessBudget { per_session: 5, per_address: 20 };
    assert!(may_guess(4, 19, b));
    assert!(!may_guess(5, 0, b));
    assert!(!may_guess(1, 20, b), "a full address stops sessions that guessed wrong");
    assert!(may_guess(0, 20, b), "not a session that has not");
}

#[test]
fn dv_6_live_codes_are_capped_per_client_and_address() {
    assert!(may_start(9, 1, 10, 2));
    assert!(!may_start(10, 1, 10, 2), "a full client refuses networks that hold codes");
    assert!(may_start(10, 0, 10, 2), "not a network that holds none");
    assert!(!may_start(0, 2, 10, 2));
}

#[test]
fn statuses_round_trip() {
    for s in [Status::Pending, Status::Approved, Status::Denied, Status::Redeemed] {
        assert_eq!(Status::parse(s.as_str()), Some(s));
    }
    assert_eq!(Status::parse("nope"), None);
}
