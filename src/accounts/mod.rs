//! Accounts: local users, downstream clients as an aggregate, sessions, consents.

pub mod clients;
pub mod session;
pub mod users;
