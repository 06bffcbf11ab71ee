//! The downstream authorization server and OpenID Provider.

pub mod authorize;
pub mod backchannel;
pub mod bearer;
pub mod client_auth;
pub mod client_jwks;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod error;
mod exchange_ports;
pub mod frontchannel;
mod grant_hop;
pub mod grants;
pub mod introspect;
pub mod issue;
pub mod logout;
pub mod par;
pub mod register;
pub mod token;
pub mod upstream_logout;
pub mod userinfo;

pub use bridgekeeper_core::{params, redirect};
pub use error::{ErrorCode, OAuthError, OAuthJson};

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    discovery::configure(cfg);
    authorize::configure(cfg);
    token::configure(cfg);
    device::configure(cfg);
    par::configure(cfg);
    userinfo::configure(cfg);
    introspect::configure(cfg);
    logout::configure(cfg);
    register::configure(cfg);
    backchannel::configure(cfg);
    upstream_logout::configure(cfg);
}
