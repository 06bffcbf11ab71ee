//! [TB-4] One decision for a validated request and the browser's session: issue a code, send the person to sign
//! in, ask for consent, or answer with an error. `/authorize`, `/authorize/resume` and `/consent` all call it, so
//! that no path issues a code without re-applying `prompt`, `max_age` and `id_token_hint` (OIDC Core §3.1.2.1).

use super::request::AuthorizationRequest;
use crate::error::{ErrorCode, OAuthError};
use crate::freshness::SKEW_SECS;

/// The signed-in person, as far as the decision needs to know (a disabled user is no session).
#[derive(Debug, Clone, Copy)]
pub struct SessionView<'a> {
    pub user_id: &'a str,
    pub auth_time: i64,
}

/// What the person has agreed to for this client.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentState<'a> {
    /// A first-party client that needs no consent.
    pub skip: bool,
    /// The scopes remembered from an earlier consent, space-separated.
    pub remembered: Option<&'a str>,
    /// The person has just allowed this very request on the consent page.
    pub just_given: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeDecision {
    IssueCode,
    Login,
    Consent,
    Error(OAuthError),
}

/// [AZ-12] [AZ-13] [AZ-14] [AZ-15] Does the person have to sign in (again)? `login_after` is when the pending
/// request began: a session started after it is the fresh login that was asked for.
pub fn needs_login(
    req: &AuthorizationRequest,
    session: Option<SessionView<'_>>,
    login_after: Option<i64>,
    now: i64,
) -> bool {
    let Some(s) = session else { return true };
    let fresh = login_after.is_some_and(|t| s.auth_time + SKEW_SECS >= t);
    let forced = req.prompt.login || req.prompt.select_account;
    let too_old = req.max_age.is_some_and(|m| m == 0 || now - s.auth_time > m);
    ((forced || too_old) && !fresh) || req.hint_sub.as_deref().is_some_and(|sub| sub != s.user_id)
}

/// Does the person have to consent? `prompt=consent` asks again unless they just did; first-party clients
/// (`skip_consent`) never ask.
pub fn needs_consent(req: &AuthorizationRequest, consent: ConsentState<'_>) -> bool {
    if consent.just_given || consent.skip {
        return false;
    }
    let covered = consent.remembered.is_some_and(|granted| {
        let granted: Vec<&str> = granted.split(' ').collect();
        req.scopes.iter().all(|s| granted.contains(&s.as_str()))
    });
    req.prompt.consent || !covered
}

/// [TB-4] The decision.
pub fn decide(
    req: &AuthorizationRequest,
    session: Option<SessionView<'_>>,
    consent: ConsentState<'_>,
    login_after: Option<i64>,
    now: i64,
) -> AuthorizeDecision {
    if needs_login(req, session, login_after, now) {
        if req.prompt.none {
            return AuthorizeDecision::Error(OAuthError::new(ErrorCode::LoginRequired, "the user must sign in"));
        }
        return AuthorizeDecision::Login;
    }
    if needs_consent(req, consent) {
        if req.prompt.none {
            return AuthorizeDecision::Error(OAuthError::new(ErrorCode::ConsentRequired, "the user must consent"));
        }
        return AuthorizeDecision::Consent;
    }
    AuthorizeDecision::IssueCode
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
