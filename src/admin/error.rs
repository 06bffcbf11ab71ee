//! The admin API's JSON errors: `{"error": code, "error_description": text}` with the right 4xx status, and
//! `WWW-Authenticate: Bearer …` on 401/403 (RFC 6750 §3). Internal failures are logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::accounts::clients::ClientError;
use crate::store::StoreError;

/// The body of every admin API error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code: invalid_request, invalid_token, insufficient_scope, not_found, conflict,
    /// temporarily_unavailable.
    pub error: String,
    /// What went wrong, for people.
    pub error_description: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    www_authenticate: Option<String>,
    /// [DP-3] A fresh `DPoP-Nonce` to send with a `use_dpop_nonce` refusal.
    dpop_nonce: Option<String>,
}

const REALM: &str = "realm=\"bridgekeeper-admin\"";

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            description: crate::oauth::error::sanitize(&description.into()),
            www_authenticate: None,
            dpop_nonce: None,
        }
    }

    pub fn bad_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    pub fn not_found(d: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", d)
    }

    pub fn conflict(d: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", d)
    }

    /// No credentials: 401 with a bare Bearer challenge.
    pub fn unauthenticated() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "a bearer access token is required");
        e.www_authenticate = Some(format!("Bearer {REALM}"));
        e
    }

    /// A token that is malformed, expired, revoked or not ours.
    pub fn invalid_token() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is invalid");
        e.www_authenticate = Some(format!("Bearer {REALM}, error=\"invalid_token\""));
        e
    }

    /// A live token without the `admin` scope.
    pub fn insufficient_scope() -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "insufficient_scope", "the access token lacks the admin scope");
        e.www_authenticate = Some(format!("Bearer {REALM}, error=\"insufficient_scope\", scope=\"admin\""));
        e
    }
}

impl ApiError {
    /// [DP-5] A token presented against its DPoP binding (RFC 9449 §7.1): 401 with a `DPoP` challenge naming the
    /// proof algorithms, and a fresh nonce for `use_dpop_nonce`. A storage failure stays a 503.
    pub fn dpop_refused(e: &crate::oauth::OAuthError, algs: &str, nonce: Option<String>) -> Self {
        use crate::oauth::ErrorCode;
        if e.code == ErrorCode::TemporarilyUnavailable {
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", e.description.clone());
        }
        let code = e.code.as_str();
        let mut r = Self::new(StatusCode::UNAUTHORIZED, code, e.description.clone());
        r.www_authenticate = Some(format!("DPoP {REALM}, algs=\"{algs}\", error=\"{code}\""));
        r.dpop_nonce = nonce.filter(|_| e.code == ErrorCode::UseDpopNonce);
        r
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Some(w) = &self.www_authenticate {
            r.insert_header(("WWW-Authenticate", w.clone()));
        }
        if let Some(n) = &self.dpop_nonce {
            r.insert_header((crate::oauth::dpop::NONCE_HEADER, n.clone()));
        }
        r.json(ErrorBody { error: self.code.into(), error_description: self.description.clone() })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict => ApiError::conflict("already exists"),
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the service is temporarily unavailable, try again",
                )
            }
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(d) | ClientError::InvalidRedirect(d) => ApiError::bad_request(d),
            ClientError::NotFound => ApiError::not_found("no such client"),
            ClientError::Conflict(d) => ApiError::conflict(d),
            ClientError::Store(s) => s.into(),
        }
    }
}

/// Turns actix's extractor failures (bad JSON, bad query, bad path) into our JSON 400.
pub fn extractor_error(err: impl std::fmt::Display, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::bad_request(err.to_string()).into()
}
