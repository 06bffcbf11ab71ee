//! The grant rules, each a small function of the facts it needs and `now`. Tags are those of docs/security.md.

use super::ports::{CodeRecord, GrantRecord, RefreshRecord};
use crate::error::OAuthError;
use crate::pkce;

/// [AC-3][AC-4][PK-4][PK-5] A freshly redeemed code is good for this request: not expired, the same
/// `redirect_uri` as the authorization request if one was sent there, and the PKCE verifier matching its challenge
/// (a verifier without a challenge is a downgrade).
pub fn check_code(
    code: &CodeRecord,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    if code.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    if let Some(sent) = &code.redirect_uri
        && redirect_uri != Some(sent.as_str())
    {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    pkce::check_verifier(code.code_challenge.as_deref(), verifier)
}

/// [AC-1][RT-6] May a grant still mint tokens at `now`? Not past its absolute end, and not revoked. For a code
/// redemption (`racing_revocation_tolerated`) only a revocation from before `now` refuses (logout); one at or after
/// it races this redemption (a concurrent replay) and does not change the answer: the tokens issued belong to the
/// revoked grant and are dead on arrival. For a refresh any revocation refuses.
pub fn grant_usable(grant: &GrantRecord, now: i64, racing_revocation_tolerated: bool) -> bool {
    let revoked = match grant.revoked_at {
        None => false,
        Some(r) => !racing_revocation_tolerated || r < now,
    };
    !revoked && grant.expires_at > now
}

/// [RT-3] The scope of a refresh: without `scope`, the family's scope; otherwise a non-empty subset of it, sorted
/// and without duplicates. Checked before the token is spent, so a bad request does not burn a good token.
pub fn refresh_scope(asked: Option<&str>, granted: &str) -> Result<String, OAuthError> {
    let Some(s) = asked else { return Ok(granted.to_string()) };
    let mut asked: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
    if asked.is_empty() || !crate::scopes::is_subset(&asked, granted) {
        return Err(OAuthError::invalid_scope("the scope exceeds what was granted"));
    }
    asked.sort_unstable();
    asked.dedup();
    Ok(asked.join(" "))
}

/// What a presented refresh token is, before anything is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    /// Unknown, or bound to another client [RT-1]: refused, nothing touched.
    Unknown,
    /// Revoked (logout, family revocation) [RT-5][RT-6].
    Revoked,
    /// Rotated before, at this time [RT-4].
    Spent {
        used_at: i64,
    },
    Expired,
    Usable,
}

/// [RT-1][RT-4] Classifies a looked-up refresh token for `client_id` at `now`.
pub fn refresh_state(found: Option<&RefreshRecord>, client_id: &str, now: i64) -> RefreshState {
    let Some(t) = found.filter(|t| t.client_id == client_id) else { return RefreshState::Unknown };
    if t.revoked_at.is_some() {
        return RefreshState::Revoked;
    }
    if let Some(used_at) = t.used_at {
        return RefreshState::Spent { used_at };
    }
    if t.expires_at <= now { RefreshState::Expired } else { RefreshState::Usable }
}

/// [RT-4] A rotated refresh token presented again: within `grace_secs` of its rotation it is taken for a racing
/// duplicate of the same client (refused, nothing revoked); later it betrays a copy and the family is revoked
/// (RFC 9700 §4.14.2). `grace_secs = 0` is strict. Either way round: a request that arrived more than the grace
/// before the spend (queued, or slowed by an upstream re-check) is no racing duplicate either.
pub fn reuse_revokes_family(used_at: i64, now: i64, grace_secs: i64) -> bool {
    (now - used_at).abs() >= grace_secs
}

/// [TK-4] client_credentials scopes: the client's allowed scopes minus the person-only ones (`openid`,
/// `offline_access`), narrowed to the request when `scope` is sent (unknown or disallowed scopes are dropped;
/// nothing left is `invalid_scope`).
pub fn client_credentials_scope(
    asked: Option<&str>,
    allowed: &[String],
    catalogue: &std::collections::BTreeMap<String, String>,
) -> Result<String, OAuthError> {
    let allowed: Vec<String> =
        allowed.iter().filter(|s| !matches!(s.as_str(), "openid" | "offline_access")).cloned().collect();
    let scopes = match asked {
        None => allowed,
        Some(s) => crate::scopes::narrow(Some(s), &allowed, catalogue).map_err(OAuthError::invalid_scope)?,
    };
    Ok(scopes.join(" "))
}
