//! The token endpoint's protocol (RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 7636; RFC 9700 §4.14): a typed
//! [`TokenRequest`] parsed once, the grant rules as small functions ([`rules`]), and [`exchange`], which runs one
//! grant against the server's ports and returns a [`TokenOutcome`] or an [`OAuthError`](crate::error::OAuthError).
//! No HTTP and no SQL here: storage, signing, upstream re-checks and time come in through [`ports`].

mod exchange;
#[cfg(test)]
mod exchange_tests;
pub mod ports;
mod request;
#[cfg(test)]
mod resource_tests;
pub mod rules;
#[cfg(test)]
mod rules_tests;
pub mod token_exchange;
#[cfg(test)]
mod token_exchange_tests;

pub use exchange::{TokenClient, exchange};
pub use request::{GrantType, TokenRequest};

/// The token endpoint's success body (RFC 6749 §5.1). Its `Debug` never shows a token value.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenOutcome {
    pub access_token: String,
    pub token_type: std::borrow::Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 8693 §2.2.1, for token exchange only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl std::fmt::Debug for TokenOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenOutcome")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}
