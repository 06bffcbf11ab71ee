//! Bridgekeeper's protocol core: the rules of OAuth 2.0 / OpenID Connect and of account linking as small
//! functions over plain values. No HTTP and no SQL live here (the crate depends on neither); the server crate
//! parses HTTP into these types, stores what they decide and maps decisions to responses.
//!
//! Every rule carries its tag from `docs/security.md` (`[AZ-2]`, `[TB-4]`…) in its doc comment: search for the
//! tag to find the rule, its unit test (named after the tag) and the black-box test.

pub mod apple;
pub mod authorize;
pub mod backchannel;
pub mod client_assertion;
pub mod client_id;
pub mod client_profile;
pub mod device;
pub mod dpop;
pub mod error;
pub mod freshness;
pub mod frontchannel;
pub mod linking;
pub mod locale;
pub mod params;
pub mod password_budget;
pub mod pkce;
pub mod redirect;
pub mod resource;
pub mod saml;
pub mod scopes;
pub mod shared_budget;
pub mod tenants;
pub mod token;
pub mod upstream_logout;

pub use error::{ErrorCode, OAuthError};
