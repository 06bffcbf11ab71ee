//! The OAuth JSON responder. The errors themselves are values of the protocol core
//! ([`bridgekeeper_core::error`]); this is the one place that turns them into RFC 6749 §5.2 responses with
//! `Cache-Control: no-store` ([TK-2]), `WWW-Authenticate: Basic` for Basic-authenticated 401s ([CA-2]) and
//! `Retry-After` for throttled requests.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

pub use bridgekeeper_core::error::{ErrorCode, OAuthError, sanitize};

use crate::store::StoreError;

/// An [`OAuthError`] on its way out of a back-channel endpoint (token, introspection, revocation, userinfo).
#[derive(Debug)]
pub struct OAuthJson(pub OAuthError);

impl std::fmt::Display for OAuthJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<OAuthError> for OAuthJson {
    fn from(e: OAuthError) -> Self {
        OAuthJson(e)
    }
}

impl From<StoreError> for OAuthJson {
    fn from(e: StoreError) -> Self {
        OAuthJson(e.into())
    }
}

/// The HTTP status of an error value.
pub fn status_of(e: &OAuthError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The RFC 6749 §5.2 response for an error value.
pub fn json_response(e: &OAuthError) -> HttpResponse {
    let mut resp = HttpResponse::build(status_of(e));
    resp.insert_header(("Pragma", "no-cache"));
    if let Some(wait) = e.retry_after {
        resp.insert_header(("Retry-After", wait.to_string()));
    }
    if e.code == ErrorCode::InvalidClient && e.basic_auth {
        resp.insert_header(("WWW-Authenticate", "Basic realm=\"bridgekeeper\", charset=\"UTF-8\""));
    }
    resp.json(e.json_body())
}

impl ResponseError for OAuthJson {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        json_response(&self.0)
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        OAuthError::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable, try again")
    }
}
