//! The HTML error page a person sees: a readable message, the right status, a request id, no internals.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    /// For 429: seconds until a retry may succeed.
    pub retry_after: Option<u64>,
    /// [LC-3] The catalogue messages `{key}-title` and `{key}-message` that show this page in the person's
    /// language (`title` and `message` are the English fallback).
    pub key: Option<&'static str>,
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        PageError { status, title: title.into(), message: message.into(), retry_after: None, key: None }
    }

    pub fn bad_request(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    /// Names the catalogue messages of this page ([LC-3]).
    pub fn keyed(mut self, key: &'static str) -> Self {
        self.key = Some(key);
        self
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service cannot reach its database right now. Please try again in a moment.",
        )
        .keyed("page-db-down")
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The body is rendered by the `render_error_pages` middleware, which has the templates and request id.
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(wait) = self.retry_after {
            resp.insert_header(("Retry-After", wait.max(1).to_string()));
        }
        resp.extensions_mut().insert(self.clone());
        resp.content_type("text/html; charset=utf-8").body(format!(
            "<!doctype html><title>{}</title><h1>{}</h1><p>{}</p>",
            crate::respond::escape(&self.title),
            crate::respond::escape(&self.title),
            crate::respond::escape(&self.message)
        ))
    }
}
