//! The device authorization grant (RFC 8628) as small functions: the user code's alphabet and normalisation
//! ([DV-3]), the scope of a device authorization request ([DV-1]), the poll decision ([DV-2]), the guess budget
//! of the verification page ([DV-4]) and the tokens for an approved code ([DV-5]). Tags are those of
//! docs/security.md; storage, time and randomness come in as values.

use std::collections::BTreeMap;

use crate::error::{ErrorCode, OAuthError};
use crate::token::TokenOutcome;
use crate::token::ports::{Grants, Minter, Ports, Subject};
use crate::token::{TokenClient, rules};

/// The `grant_type` of the token request (RFC 8628 §3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// [DV-3] The user code's characters (RFC 8628 §6.1): 20 consonants, no vowels (no words), no look-alikes of
/// digits (no `O`, `I`); upper case.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// [DV-3] Characters in a user code: 20^8 ≈ 2^34.6 codes.
pub const USER_CODE_LEN: usize = 8;

/// [DV-2] RFC 8628 §3.5: each `slow_down` adds this to the interval of that code.
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// [DV-3] What a person may type at most (anything longer is not a code, and is not looked at).
pub const MAX_INPUT_LEN: usize = 64;

/// [DV-3] A user code from random bytes, by rejection sampling (no bias: bytes of 240 and up are skipped, and
/// 240 = 12 × 20). `None` when the bytes ran out first (give more: 16 bytes fail with probability < 10⁻¹¹).
pub fn user_code_from_random(bytes: &[u8]) -> Option<String> {
    let limit = 256 - 256 % ALPHABET.len();
    let code: String = bytes
        .iter()
        .map(|b| usize::from(*b))
        .filter(|b| *b < limit)
        .filter_map(|b| ALPHABET.get(b % ALPHABET.len()).map(|c| char::from(*c)))
        .take(USER_CODE_LEN)
        .collect();
    (code.len() == USER_CODE_LEN).then_some(code)
}

/// [DV-3] How a code is shown and printed: `XXXX-XXXX`.
pub fn display(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => code.to_string(),
    }
}

/// [DV-3] What a person typed, as the code it names: case, dashes and white space do not matter; anything
/// else that is not of the alphabet, or a wrong length, is no code at all (`None`, and never looked up).
pub fn normalize(input: &str) -> Option<String> {
    if input.len() > MAX_INPUT_LEN {
        return None;
    }
    let code: String =
        input.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    let ours = code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
    ours.then_some(code)
}

/// [DV-1] The scope of a device authorization request, checked as at `/authorize` ([AZ-9] [AZ-18]): narrowed to
/// what the client may have and the catalogue knows, never a reserved scope; nothing left is `invalid_scope`.
pub fn scope(
    requested: Option<&str>,
    allowed: &[String],
    catalogue: &BTreeMap<String, String>,
) -> Result<Vec<String>, OAuthError> {
    let allowed: Vec<String> = allowed.iter().filter(|s| !crate::scopes::is_reserved(s)).cloned().collect();
    crate::scopes::narrow(requested, &allowed, catalogue).map_err(OAuthError::invalid_scope)
}

/// Where a device code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the person.
    Pending,
    /// The person allowed it: the next poll gets tokens.
    Approved,
    /// The person refused.
    Denied,
    /// Tokens were issued for it.
    Redeemed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Redeemed => "redeemed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Status::Pending, Status::Approved, Status::Denied, Status::Redeemed].into_iter().find(|x| x.as_str() == s)
    }
}

/// A device code as stored, as far as polling cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState<'a> {
    pub client_id: &'a str,
    pub status: Status,
    pub expires_at: i64,
    pub interval_secs: i64,
    pub last_poll_at: Option<i64>,
}

/// What a poll gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// `authorization_pending`; the poll is recorded at `now`.
    Pending,
    /// `slow_down`; the poll is recorded and the code's interval is now `interval_secs`.
    SlowDown { interval_secs: i64 },
    /// `expired_token`.
    Expired,
    /// `access_denied`.
    Denied,
    /// Approved: spend the code (once) and issue.
    Issue,
    /// `invalid_grant`: unknown, another client's, or redeemed before.
    Invalid,
}

/// [DV-2] RFC 8628 §3.5: the answer to a poll of `code` by `client_id` at `now`. A code is bound to the client
/// that asked for it (another client's code is as unknown); a redeemed one is `invalid_grant`; past its
/// expiry every code is `expired_token`; a refused one `access_denied`; an approved one is issued whatever the
/// pace; a pending one polled sooner than its interval after the last poll is `slow_down` (and its interval
/// grows by [`SLOW_DOWN_STEP_SECS`]), otherwise `authorization_pending`.
pub fn poll(code: Option<&DeviceState<'_>>, client_id: &str, now: i64) -> Poll {
    let Some(code) = code.filter(|c| c.client_id == client_id) else { return Poll::Invalid };
    if code.status == Status::Redeemed {
        return Poll::Invalid;
    }
    if now >= code.expires_at {
        return Poll::Expired;
    }
    match code.status {
        Status::Denied => Poll::Denied,
        Status::Approved => Poll::Issue,
        Status::Redeemed => Poll::Invalid,
        Status::Pending if code.last_poll_at.is_some_and(|t| now - t < code.interval_secs) => {
            Poll::SlowDown { interval_secs: code.interval_secs.saturating_add(SLOW_DOWN_STEP_SECS) }
        }
        Status::Pending => Poll::Pending,
    }
}

impl Poll {
    /// The token endpoint's error for this answer (`None` for [`Poll::Issue`]).
    pub fn error(self) -> Option<OAuthError> {
        Some(match self {
            Poll::Pending => OAuthError::new(ErrorCode::AuthorizationPending, "the person has not answered yet"),
            Poll::SlowDown { .. } => {
                OAuthError::new(ErrorCode::SlowDown, "polled faster than the interval; wait 5 seconds longer")
            }
            Poll::Expired => OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired"),
            Poll::Denied => OAuthError::new(ErrorCode::AccessDenied, "the person refused the request"),
            Poll::Invalid => OAuthError::invalid_grant("the device code is invalid"),
            Poll::Issue => return None,
        })
    }
}

/// [DV-4] The guess budget of the verification page: wrong codes entered in a window, per session and per
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessBudget {
    pub per_session: i64,
    pub per_address: i64,
}

/// [DV-4] May one more code be tried, with `session` and `address` wrong codes in the current window? Checked
/// before the code is looked up, so that a spent budget learns nothing more. A full address budget stops only
/// sessions that have guessed wrong themselves: a colleague behind the same address who has not (their first
/// try) is still looked up, so one person cannot lock a whole office or carrier NAT out.
pub fn may_guess(session: i64, address: i64, budget: GuessBudget) -> bool {
    session < budget.per_session && (address < budget.per_address || session == 0)
}

/// [DV-6] May a client start one more device authorization, with `for_client` live codes in all and
/// `from_network` of them from this network (IPv4 /24, IPv6 /48)? A network over its share is refused; a full
/// client refuses only networks that already hold codes of it, so that nobody can fill a client's cap and lock
/// every other device out.
pub fn may_start(for_client: i64, from_network: i64, max_per_client: i64, max_per_network: i64) -> bool {
    from_network < max_per_network && (for_client < max_per_client || from_network == 0)
}

/// An approved device code: the grant the person's consent made, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved<'a> {
    pub grant_id: &'a str,
    pub user_id: &'a str,
    pub scope: &'a str,
}

/// [DV-5] The tokens for a code just spent, as for an authorization code ([AC-1] [DP-4]): the grant must still
/// be usable and the person enabled; an ID token with the person's claims when `openid` was granted, a refresh
/// token when the client may refresh (bound to the DPoP key for a public client).
pub async fn issue<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    approved: &Approved<'_>,
) -> Result<TokenOutcome, OAuthError> {
    let now = ports.now();
    let (grant, subject) =
        ports.grants().grant_and_subject(approved.grant_id, approved.user_id, approved.scope, now).await?;
    let grant = grant.filter(|g| rules::grant_usable(g, now, false));
    let (Some(grant), Some(subject)) = (grant, subject.filter(|s| !s.disabled())) else {
        return Err(OAuthError::invalid_grant("the grant is no longer valid"));
    };
    let (outcome, row) = ports.minter().for_user(&grant, &subject, approved.scope, None, client.may_refresh)?;
    if let Some(mut row) = row {
        row.dpop_jkt = crate::dpop::refresh_binding(client.public, client.dpop_jkt).map(String::from);
        ports.grants().store_refresh(row).await?;
    }
    Ok(outcome)
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
