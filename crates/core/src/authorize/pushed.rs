//! Pushed Authorization Requests (RFC 9126): what `POST /par` may carry, the shape of the `request_uri` it hands
//! out, and how `/authorize` reads a request that refers to one. The pushed request itself is validated by
//! [`super::request::validate`], exactly as a request sent to `/authorize` would be.

use crate::error::OAuthError;
use crate::params::Params;

/// RFC 9126 §2.2: the URN namespace of the `request_uri` values the broker hands out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// [PAR-3] A pushed request lives at most this long (RFC 9126 §2.2 suggests 5 to 600 s; FAPI 2.0 ≤ 600; we keep
/// it short, the browser is sent there at once).
pub const MAX_TTL_SECS: i64 = 60;
/// The random reference is this long at most (ours are 43 base64url characters).
const MAX_REFERENCE_LEN: usize = 128;

/// The `request_uri` for a random reference.
pub fn request_uri(reference: &str) -> String {
    format!("{REQUEST_URI_PREFIX}{reference}")
}

/// The random reference inside a `request_uri` of ours, if it is one (prefix, then 1..=128 base64url characters).
pub fn reference(uri: &str) -> Option<&str> {
    let r = uri.strip_prefix(REQUEST_URI_PREFIX)?;
    let ok = !r.is_empty()
        && r.len() <= MAX_REFERENCE_LEN
        && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(r)
}

/// [PAR-1] The body of a push (RFC 9126 §2.1): no `request_uri` (a pushed request cannot point at another), and a
/// `client_id`, if sent, that names the client that authenticated.
pub fn check_push(params: &Params, authenticated_client: &str) -> Result<(), OAuthError> {
    if params.has("request_uri") {
        return Err(OAuthError::invalid_request("request_uri must not be pushed"));
    }
    if params.is_duplicated("client_id") {
        return Err(OAuthError::invalid_request("client_id is repeated"));
    }
    match params.get("client_id") {
        Some(id) if id != authenticated_client => {
            Err(OAuthError::invalid_request("client_id differs from the authenticated client"))
        }
        _ => Ok(()),
    }
}

/// Why a `request_uri` at `/authorize` cannot be answered: a page, never a redirect (nothing in the query is
/// trusted, and without the stored request there is no registered URI to go to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestUriProblem {
    /// `client_id` missing or repeated, or `request_uri` repeated.
    Malformed,
    /// Not one of ours, unknown, used, expired or pushed by another client (one answer for all).
    Invalid,
}

/// [PAR-4] `/authorize` with a `request_uri` (RFC 9126 §4): only `client_id` and `request_uri` are read, every other
/// parameter is ignored (the pushed request is the whole request). Returns (client id, reference).
pub fn at_authorize(params: &Params) -> Result<(&str, &str), RequestUriProblem> {
    if params.is_duplicated("client_id") || params.is_duplicated("request_uri") {
        return Err(RequestUriProblem::Malformed);
    }
    let client_id = params.get("client_id").ok_or(RequestUriProblem::Malformed)?;
    let uri = params.get("request_uri").ok_or(RequestUriProblem::Malformed)?;
    let r = reference(uri).ok_or(RequestUriProblem::Invalid)?;
    Ok((client_id, r))
}

/// [PAR-5] A plain (unpushed) authorization request is refused when PAR is required for everyone or for this
/// client (`require_pushed_authorization_requests`, RFC 9126 §5 and §6).
pub fn plain_request_allowed(required_globally: bool, required_for_client: bool) -> Result<(), OAuthError> {
    if required_globally || required_for_client {
        return Err(OAuthError::invalid_request("this client must use a pushed authorization request (PAR)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn par_1_a_push_cannot_carry_a_request_uri_or_another_client_id() {
        let e = check_push(&Params::parse("request_uri=urn:x&client_id=a"), "a").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(check_push(&Params::parse("client_id=b"), "a").is_err());
        assert!(check_push(&Params::parse("client_id=a&client_id=a"), "a").is_err());
        assert!(check_push(&Params::parse("client_id=a&scope=openid"), "a").is_ok());
        assert!(check_push(&Params::parse("scope=openid"), "a").is_ok());
    }

    #[test]
    fn par_2_request_uris_are_ours_and_bounded() {
        let uri = request_uri("abc_DEF-123");
        assert_eq!(uri, "urn:ietf:params:oauth:request_uri:abc_DEF-123");
        assert_eq!(reference(&uri), Some("abc_DEF-123"));
        assert_eq!(reference("urn:ietf:params:oauth:request_uri:"), None);
        assert_eq!(reference("https://evil.example/req"), None);
        assert_eq!(reference("urn:ietf:params:oauth:request_uri:a/b"), None);
        assert_eq!(reference(&request_uri(&"a".repeat(129))), None);
    }

    #[test]
    fn par_4_authorize_reads_only_client_id_and_request_uri() {
        let p =
            Params::parse("client_id=a&request_uri=urn:ietf:params:oauth:request_uri:xyz&redirect_uri=https://evil");
        assert_eq!(at_authorize(&p), Ok(("a", "xyz")));
        let p = Params::parse("request_uri=urn:ietf:params:oauth:request_uri:xyz");
        assert_eq!(at_authorize(&p), Err(RequestUriProblem::Malformed));
        let p = Params::parse("client_id=a&request_uri=urn:a&request_uri=urn:b");
        assert_eq!(at_authorize(&p), Err(RequestUriProblem::Malformed));
        let p = Params::parse("client_id=a&request_uri=https://x");
        assert_eq!(at_authorize(&p), Err(RequestUriProblem::Invalid));
    }

    #[test]
    fn par_5_plain_requests_refused_when_par_is_required() {
        assert!(plain_request_allowed(false, false).is_ok());
        assert_eq!(plain_request_allowed(true, false).unwrap_err().code, ErrorCode::InvalidRequest);
        assert!(plain_request_allowed(false, true).is_err());
    }
}
