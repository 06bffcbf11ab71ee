//! What the broker issues: signing keys and JWKS, JWT access tokens (RFC 9068), ID tokens, opaque tokens.

pub mod claims;
pub mod client_keys;
pub mod dpop_proof;
pub mod jws;
pub mod keyring;
pub mod keys;

pub use keyring::KeyRing;
