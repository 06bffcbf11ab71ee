use super::*;
use crate::authorize::request::{AuthorizationRequest, Prompt, ResponseMode};

fn req() -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_sent: None,
        state: None,
        scopes: vec!["email".into(), "openid".into()],
        nonce: None,
        code_challenge: None,
        prompt: Prompt::default(),
        max_age: None,
        hint_sub: None,
        login_hint: None,
        idp_hint: None,
        ui_locales: None,
        response_mode: ResponseMode::Query,
        pushed_uri_hash: None,
        dpop_jkt: None,
        resources: Vec::new(),
    }
}

const NOW: i64 = 10_000;
const CONSENTED: ConsentState<'static> =
    ConsentState { skip: false, remembered: Some("openid email"), just_given: false };

fn session(auth_time: i64) -> Option<SessionView<'static>> {
    Some(SessionView { user_id: "u1", auth_time })
}

#[test]
fn az_12_no_session_means_login_or_login_required() {
    assert_eq!(decide(&req(), None, CONSENTED, None, NOW), AuthorizeDecision::Login);
    let none = AuthorizationRequest { prompt: Prompt { none: true, ..Prompt::default() }, ..req() };
    let AuthorizeDecision::Error(e) = decide(&none, None, CONSENTED, None, NOW) else { panic!() };
    assert_eq!(e.code, ErrorCode::LoginRequired);
    assert_eq!(decide(&none, session(NOW - 100), CONSENTED, None, NOW), AuthorizeDecision::IssueCode);
}

#[test]
fn az_13_prompt_login_needs_a_login_after_the_request_began() {
    let login = AuthorizationRequest { prompt: Prompt { login: true, ..Prompt::default() }, ..req() };
    assert_eq!(decide(&login, session(NOW - 100), CONSENTED, None, NOW), AuthorizeDecision::Login);
    assert_eq!(decide(&login, session(NOW - 100), CONSENTED, Some(NOW - 50), NOW), AuthorizeDecision::Login);
    assert_eq!(decide(&login, session(NOW - 10), CONSENTED, Some(NOW - 12), NOW), AuthorizeDecision::IssueCode);
}

#[test]
fn az_14_max_age() {
    let m = |n| AuthorizationRequest { max_age: Some(n), ..req() };
    assert_eq!(decide(&m(60), session(NOW - 30), CONSENTED, None, NOW), AuthorizeDecision::IssueCode);
    assert_eq!(decide(&m(60), session(NOW - 90), CONSENTED, None, NOW), AuthorizeDecision::Login);
    assert_eq!(decide(&m(0), session(NOW), CONSENTED, None, NOW), AuthorizeDecision::Login);
    assert_eq!(decide(&m(0), session(NOW - 1), CONSENTED, Some(NOW - 3), NOW), AuthorizeDecision::IssueCode);
}

#[test]
fn az_15_hint_for_another_user_needs_login() {
    let hinted = AuthorizationRequest { hint_sub: Some("u2".into()), ..req() };
    assert_eq!(decide(&hinted, session(NOW), CONSENTED, None, NOW), AuthorizeDecision::Login);
    let mine = AuthorizationRequest { hint_sub: Some("u1".into()), ..req() };
    assert_eq!(decide(&mine, session(NOW), CONSENTED, None, NOW), AuthorizeDecision::IssueCode);
}

#[test]
fn consent_is_asked_unless_remembered_skipped_or_just_given() {
    let s = session(NOW);
    assert_eq!(decide(&req(), s, ConsentState::default(), None, NOW), AuthorizeDecision::Consent);
    let partial = ConsentState { remembered: Some("openid"), ..ConsentState::default() };
    assert_eq!(decide(&req(), s, partial, None, NOW), AuthorizeDecision::Consent);
    let skip = ConsentState { skip: true, ..ConsentState::default() };
    assert_eq!(decide(&req(), s, skip, None, NOW), AuthorizeDecision::IssueCode);
    let again = AuthorizationRequest { prompt: Prompt { consent: true, ..Prompt::default() }, ..req() };
    assert_eq!(decide(&again, s, CONSENTED, None, NOW), AuthorizeDecision::Consent);
    let given = ConsentState { just_given: true, ..ConsentState::default() };
    assert_eq!(decide(&again, s, given, None, NOW), AuthorizeDecision::IssueCode);
    let none = AuthorizationRequest { prompt: Prompt { none: true, ..Prompt::default() }, ..req() };
    let AuthorizeDecision::Error(e) = decide(&none, s, ConsentState::default(), None, NOW) else { panic!() };
    assert_eq!(e.code, ErrorCode::ConsentRequired);
}

#[test]
fn tb_4_consent_just_given_does_not_skip_a_fresh_login() {
    // /authorize?max_age=0 sent the person to sign in; allowing consent with the old session must not issue a code.
    let m0 = AuthorizationRequest { max_age: Some(0), ..req() };
    let given = ConsentState { just_given: true, ..ConsentState::default() };
    assert_eq!(decide(&m0, session(NOW - 500), given, Some(NOW - 20), NOW), AuthorizeDecision::Login);
    let login = AuthorizationRequest { prompt: Prompt { login: true, ..Prompt::default() }, ..req() };
    assert_eq!(decide(&login, session(NOW - 500), given, Some(NOW - 20), NOW), AuthorizeDecision::Login);
    let hinted = AuthorizationRequest { hint_sub: Some("u2".into()), ..req() };
    assert_eq!(decide(&hinted, session(NOW), given, Some(NOW - 20), NOW), AuthorizeDecision::Login);
}

#[test]
fn az_14_max_age_holds_when_the_code_is_issued() {
    // Signed in one second after the request began, resumed ten minutes later: max_age=60 has run out.
    let m = AuthorizationRequest { max_age: Some(60), ..req() };
    let started = NOW - 600;
    assert_eq!(decide(&m, session(started + 1), CONSENTED, Some(started), NOW), AuthorizeDecision::Login);
}
