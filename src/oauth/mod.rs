//! The downstream authorization server and OpenID Provider.

pub mod error;
pub mod redirect;

pub use error::{ErrorCode, OAuthError};
