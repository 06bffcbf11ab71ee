//! Accounts: local users, downstream clients as an aggregate, sessions, consents.

pub mod clients;
