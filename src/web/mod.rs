//! Pages people see (tera templates): error page now; login chooser, consent and account pages build on it.

pub mod account;
pub mod confirm_link;
pub mod developer;
pub mod device;
mod device_consent;
pub mod login;
pub mod pages;

pub use crate::respond::{PageError, Templates, escape};

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    pages::configure(cfg);
    login::configure(cfg);
    account::configure(cfg);
    developer::configure(cfg);
    device::configure(cfg);
    confirm_link::configure(cfg);
}

/// The context every page starts from.
pub fn context(state: &crate::state::AppState) -> tera::Context {
    crate::respond::page_context(&state.settings())
}
