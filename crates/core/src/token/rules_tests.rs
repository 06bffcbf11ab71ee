//! The grant rules without a database or HTTP, named after their tags.

use super::ports::{CodeRecord, GrantRecord, RefreshRecord};
use super::request::{GrantType, TokenRequest};
use super::rules::*;
use crate::error::ErrorCode;
use crate::params::Params;

const NOW: i64 = 1_000_000;
// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn code() -> CodeRecord {
    CodeRecord {
        grant_id: "g".into(),
        client_id: "app".into(),
        user_id: "u".into(),
        redirect_uri: Some("https://app.example/cb".into()),
        scope: "openid".into(),
        nonce: None,
        code_challenge: Some(CHALLENGE.into()),
        expires_at: NOW + 60,
        dpop_jkt: None,
    }
}

fn grant(revoked_at: Option<i64>) -> GrantRecord {
    GrantRecord {
        id: "g".into(),
        client_id: "app".into(),
        user_id: Some("u".into()),
        session: None,
        auth_time: None,
        created_at: 0,
        expires_at: NOW + 10,
        revoked_at,
        resources: Vec::new(),
    }
}

fn rt(client: &str, used_at: Option<i64>, revoked_at: Option<i64>, expires_at: i64) -> RefreshRecord {
    RefreshRecord {
        token_hash: "h".into(),
        grant_id: "g".into(),
        client_id: client.into(),
        user_id: "u".into(),
        scope: "offline_access openid profile".into(),
        created_at: 0,
        expires_at,
        used_at,
        revoked_at,
        dpop_jkt: None,
    }
}

fn code_err(r: Result<(), crate::error::OAuthError>) -> ErrorCode {
    r.err().map(|e| e.code).unwrap_or(ErrorCode::ServerError)
}

#[test]
fn ac_3_4_pk_4_5_a_code_needs_its_redirect_uri_its_verifier_and_time() {
    let cb = Some("https://app.example/cb");
    assert!(check_code(&code(), cb, Some(VERIFIER), NOW).is_ok());
    assert_eq!(code_err(check_code(&code(), cb, Some(VERIFIER), NOW + 60)), ErrorCode::InvalidGrant, "AC-4 expired");
    assert_eq!(code_err(check_code(&code(), None, Some(VERIFIER), NOW)), ErrorCode::InvalidGrant, "AC-3 missing");
    let other = Some("https://app.example/other");
    assert_eq!(code_err(check_code(&code(), other, Some(VERIFIER), NOW)), ErrorCode::InvalidGrant, "AC-3 other");
    assert_eq!(code_err(check_code(&code(), cb, None, NOW)), ErrorCode::InvalidGrant, "PK-4 missing verifier");
    let wrong = "x".repeat(43);
    assert_eq!(code_err(check_code(&code(), cb, Some(&wrong), NOW)), ErrorCode::InvalidGrant, "PK-4 wrong");
    let plain = CodeRecord { code_challenge: None, redirect_uri: None, ..code() };
    assert!(check_code(&plain, None, None, NOW).is_ok());
    assert_eq!(code_err(check_code(&plain, None, Some(VERIFIER), NOW)), ErrorCode::InvalidGrant, "PK-5 downgrade");
}

#[test]
fn ac_1_rt_6_a_revoked_or_ended_grant_mints_nothing_but_a_racing_replay_does_not_change_a_redemption() {
    assert!(grant_usable(&grant(None), NOW, true));
    assert!(grant_usable(&grant(Some(NOW)), NOW, true), "a replay racing this redemption");
    assert!(!grant_usable(&grant(Some(NOW - 1)), NOW, true), "revoked before (logout)");
    assert!(!grant_usable(&grant(Some(NOW)), NOW, false), "any revocation refuses a refresh");
    assert!(!grant_usable(&grant(Some(NOW + 5)), NOW, false));
    assert!(!grant_usable(&GrantRecord { expires_at: NOW, ..grant(None) }, NOW, true), "past its absolute end");
}

#[test]
fn rt_3_refresh_scope_only_narrows() {
    let granted = "offline_access openid profile";
    assert_eq!(refresh_scope(None, granted).ok().as_deref(), Some(granted));
    assert_eq!(refresh_scope(Some("profile openid openid"), granted).ok().as_deref(), Some("openid profile"));
    for bad in ["email", "profile email", "", "  "] {
        assert_eq!(refresh_scope(Some(bad), granted).err().map(|e| e.code), Some(ErrorCode::InvalidScope), "{bad:?}");
    }
}

#[test]
fn rt_1_4_a_refresh_token_is_bound_to_its_client_and_spent_once() {
    let live = rt("app", None, None, NOW + 1);
    assert_eq!(refresh_state(Some(&live), "app", NOW), RefreshState::Usable);
    assert_eq!(refresh_state(Some(&live), "other", NOW), RefreshState::Unknown, "RT-1 another client's token");
    assert_eq!(refresh_state(None, "app", NOW), RefreshState::Unknown);
    assert_eq!(refresh_state(Some(&rt("app", Some(5), None, NOW + 1)), "app", NOW), RefreshState::Spent { used_at: 5 });
    assert_eq!(refresh_state(Some(&rt("app", Some(5), Some(6), NOW + 1)), "app", NOW), RefreshState::Revoked);
    assert_eq!(refresh_state(Some(&rt("app", None, None, NOW)), "app", NOW), RefreshState::Expired);
}

#[test]
fn rt_4_reuse_revokes_the_family_after_the_grace_window_and_always_when_strict() {
    assert!(!reuse_revokes_family(NOW - 1, NOW, 2), "a racing duplicate");
    assert!(reuse_revokes_family(NOW - 2, NOW, 2));
    assert!(reuse_revokes_family(NOW, NOW, 0), "grace 0 is strict");
    assert!(reuse_revokes_family(NOW + 10, NOW, 2), "spent 10 s after this request arrived: not a racing duplicate");
    assert!(!reuse_revokes_family(NOW + 1, NOW, 2));
}

#[test]
fn tk_4_client_credentials_never_carry_person_scopes_and_narrow_to_the_request() {
    let allowed: Vec<String> = ["openid", "offline_access", "api", "admin"].map(String::from).into();
    let catalogue = [("api", ""), ("admin", ""), ("openid", "")].map(|(k, v)| (k.to_string(), v.to_string())).into();
    assert_eq!(client_credentials_scope(None, &allowed, &catalogue).ok().as_deref(), Some("api admin"));
    assert_eq!(client_credentials_scope(Some("api openid"), &allowed, &catalogue).ok().as_deref(), Some("api"));
    let err = client_credentials_scope(Some("openid"), &allowed, &catalogue).err().map(|e| e.code);
    assert_eq!(err, Some(ErrorCode::InvalidScope));
}

#[test]
fn tk_4_grant_types_are_parsed_once_and_unknown_ones_are_unsupported() {
    let p = |s: &str| Params::parse(s);
    assert_eq!(GrantType::from_params(&p("grant_type=refresh_token")).ok(), Some(GrantType::RefreshToken));
    let code = |s: &str| GrantType::from_params(&p(s)).err().map(|e| e.code);
    assert_eq!(code("grant_type=password"), Some(ErrorCode::UnsupportedGrantType));
    assert_eq!(code("grant_type=implicit"), Some(ErrorCode::UnsupportedGrantType));
    assert_eq!(code("scope=x"), Some(ErrorCode::InvalidRequest));
    assert!(!GrantType::ClientCredentials.allows_public_client());
    assert!(GrantType::ALL.iter().all(|g| GrantType::parse(g.as_str()) == Some(*g)));
}

#[test]
fn pk_3_tk_token_requests_carry_exactly_their_grants_parameters() {
    let parse = |g, s: &str| TokenRequest::parse(g, &Params::parse(s));
    let ok = parse(GrantType::AuthorizationCode, &format!("code=c&code_verifier={VERIFIER}&redirect_uri=x&scope=y"));
    assert_eq!(
        ok.ok(),
        Some(TokenRequest::AuthorizationCode {
            code: "c".into(),
            redirect_uri: Some("x".into()),
            code_verifier: Some(VERIFIER.into()),
            resource: None,
        })
    );
    let err = |g, s: &str| parse(g, s).err().map(|e| e.code);
    assert_eq!(err(GrantType::AuthorizationCode, "redirect_uri=x"), Some(ErrorCode::InvalidRequest));
    assert_eq!(err(GrantType::AuthorizationCode, "code=c&code_verifier=short"), Some(ErrorCode::InvalidGrant));
    assert_eq!(err(GrantType::RefreshToken, "scope=openid"), Some(ErrorCode::InvalidRequest));
    let cc = parse(GrantType::ClientCredentials, "scope=api").ok();
    assert_eq!(cc.map(|r| r.grant_type()), Some(GrantType::ClientCredentials));
}
