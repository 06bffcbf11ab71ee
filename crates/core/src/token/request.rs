//! [TK-4] The grant types this server knows, and the token request parsed once per grant.

use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;
use crate::{pkce, resource};

/// The `grant_type` values this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8693.
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 4] =
        [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials, GrantType::TokenExchange];

    /// The wire name (RFC 6749 §4.1.3, §6, §4.4.2).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::TokenExchange => super::token_exchange::GRANT_TYPE,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// [TK-4] `grant_type` is required; a value this server does not implement is `unsupported_grant_type`.
    pub fn from_params(params: &Params) -> Result<Self, OAuthError> {
        let g = params.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        Self::parse(g).ok_or_else(|| OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type"))
    }

    /// May a public client (no secret) use it? Only the grants that act for a person (RFC 6749 §4.4: client
    /// credentials are for confidential clients; token exchange [TX-4] too).
    pub fn allows_public_client(self) -> bool {
        !matches!(self, GrantType::ClientCredentials | GrantType::TokenExchange)
    }

    /// The parameters its request may repeat before [`TokenRequest::parse`] reads them: `resource` for the grants
    /// of RFC 8707, which `parse` answers with `invalid_target` when repeated ([RI-4]); none for token exchange
    /// (a repeated `resource` stays a repeated parameter there).
    pub fn repeatable_params(self) -> &'static [&'static str] {
        match self {
            GrantType::TokenExchange => &[],
            _ => &["resource"],
        }
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One token request, by grant, with exactly the parameters that grant reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        /// [RI-4] RFC 8707 `resource`: the one audience of the access token.
        resource: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
        resource: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
        resource: Option<String>,
    },
    TokenExchange(super::token_exchange::ExchangeRequest),
}

impl TokenRequest {
    /// Reads the grant's parameters (after the client is authenticated, so that a request from an unknown client
    /// hears `invalid_client` first).
    pub fn parse(grant: GrantType, params: &Params) -> Result<Self, OAuthError> {
        let owned = |k: &str| params.get(k).map(str::to_string);
        match grant {
            GrantType::AuthorizationCode => {
                let code = owned("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
                let code_verifier = owned("code_verifier");
                // [PK-3] A verifier that cannot be one never reaches the code.
                if code_verifier.as_deref().is_some_and(|v| !pkce::valid_pkce_value(v)) {
                    return Err(OAuthError::invalid_grant("code_verifier is malformed"));
                }
                let resource = resource::token_param(params)?;
                Ok(TokenRequest::AuthorizationCode {
                    code,
                    redirect_uri: owned("redirect_uri"),
                    code_verifier,
                    resource,
                })
            }
            GrantType::RefreshToken => {
                let refresh_token =
                    owned("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
                let resource = resource::token_param(params)?;
                Ok(TokenRequest::RefreshToken { refresh_token, scope: owned("scope"), resource })
            }
            GrantType::ClientCredentials => {
                Ok(TokenRequest::ClientCredentials { scope: owned("scope"), resource: resource::token_param(params)? })
            }
            GrantType::TokenExchange => super::token_exchange::parse(params).map(TokenRequest::TokenExchange),
        }
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::TokenExchange(_) => GrantType::TokenExchange,
        }
    }
}
