//! Accounts: local users, downstream clients as an aggregate, sessions, consents.

pub mod backchannel;
pub mod clients;
pub mod linking;
pub mod providers;
pub mod registration;
pub mod server_secrets;
pub mod session;
pub mod upstream_tokens;
pub mod users;
pub mod vault;
