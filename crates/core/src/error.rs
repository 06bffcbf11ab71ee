//! OAuth/OIDC protocol errors as values. `Display` of [`ErrorCode`] is the RFC wire code; the server crate picks
//! the representation (JSON with `Cache-Control: no-store` for back-channel endpoints, a redirect for
//! `/authorize` once the redirect URI is trusted, a page for people).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    AccountSelectionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    InvalidRedirectUri,
    InvalidClientMetadata,
    /// RFC 8693 §2.2.2: unwilling or unable to issue a token for the target.
    InvalidTarget,
    /// [DP-1] RFC 9449 §5, §7.1: the DPoP proof is invalid.
    InvalidDpopProof,
    /// [DP-3] RFC 9449 §8, §9: the DPoP proof must carry the server's nonce (given in `DPoP-Nonce`).
    UseDpopNonce,
    /// [DV-2] RFC 8628 §3.5: the person has not answered yet; keep polling.
    AuthorizationPending,
    /// [DV-2] RFC 8628 §3.5: polled faster than the interval; the interval grows by 5 seconds.
    SlowDown,
    /// [DV-2] RFC 8628 §3.5: the device code has expired.
    ExpiredToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            UnsupportedResponseType => "unsupported_response_type",
            InvalidScope => "invalid_scope",
            AccessDenied => "access_denied",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            InteractionRequired => "interaction_required",
            AccountSelectionRequired => "account_selection_required",
            RequestNotSupported => "request_not_supported",
            RequestUriNotSupported => "request_uri_not_supported",
            InvalidToken => "invalid_token",
            InsufficientScope => "insufficient_scope",
            UnsupportedTokenType => "unsupported_token_type",
            InvalidRedirectUri => "invalid_redirect_uri",
            InvalidClientMetadata => "invalid_client_metadata",
            InvalidTarget => "invalid_target",
            InvalidDpopProof => "invalid_dpop_proof",
            UseDpopNonce => "use_dpop_nonce",
            AuthorizationPending => "authorization_pending",
            SlowDown => "slow_down",
            ExpiredToken => "expired_token",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// The client authenticated (or tried to) with HTTP Basic: a 401 must carry `WWW-Authenticate: Basic`.
    pub basic_auth: bool,
    /// Throttled: 429 with `Retry-After` (seconds).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError { code, description: sanitize(&description.into()), basic_auth: false, retry_after: None }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }

    /// Too many requests or failures from this address or client.
    pub fn too_many(wait_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::TemporarilyUnavailable, "too many requests; retry later");
        e.retry_after = Some(wait_secs.max(1));
        e
    }

    pub fn with_basic(mut self, basic: bool) -> Self {
        self.basic_auth = basic;
        self
    }

    pub fn status(&self) -> u16 {
        if self.retry_after.is_some() {
            return 429;
        }
        match self.code {
            ErrorCode::InvalidClient => 401,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::ServerError => 500,
            _ => 400,
        }
    }

    /// The RFC 6749 §5.2 JSON body.
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code.as_str(), "error_description": self.description})
    }
}

/// RFC 6749 allows only %x20-21 / %x23-5B / %x5D-7E in error_description.
pub fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c == '"' || c == '\\' || !(' '..='~').contains(&c) { '\'' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_carry_only_allowed_characters() {
        let e = OAuthError::invalid_request("bad \"x\"\\\n\u{e9}");
        assert!(e.description.chars().all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\'));
    }
}
