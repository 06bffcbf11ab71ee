//! Bridgekeeper: a federated identity broker. Upstream it is an OAuth 2.0 / OpenID Connect client of external
//! providers; downstream it is an authorization server and OpenID Provider for its own apps.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]

pub mod accounts;
pub mod admin;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod crypto;
pub mod health;
pub mod i18n;
pub mod logout;
pub mod metrics;
pub mod oauth;
pub mod ratelimit;
pub mod reload;
/// Scope rules live in the protocol core.
pub use bridgekeeper_core::scopes;
pub mod respond;
pub mod secret;
pub mod server;
pub mod settings;
pub mod state;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod tokens;
pub mod upstream;
pub mod web;
