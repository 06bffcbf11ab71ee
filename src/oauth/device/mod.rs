//! The device authorization grant (RFC 8628) at the downstream OP: `POST /device_authorization`
//! ([`authorization`]) and the token request `grant_type=urn:ietf:params:oauth:grant-type:device_code`
//! ([`poll`]). The page where the person enters the user code is `web::device`; the rules are
//! `bridgekeeper_core::device`. All of it answers only while `[device] enabled`.

mod authorization;
pub mod poll;

use actix_web::{HttpResponse, web};

use super::OAuthError;
use crate::settings::Settings;

pub use bridgekeeper_core::device::GRANT_TYPE;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/device_authorization")
            .route(web::post().to(authorization::endpoint))
            .default_service(web::to(super::token::post_only)),
    );
}

/// [DV-1] Discovery lists the endpoint and the grant type only while the grant is enabled (RFC 8628 §4).
pub fn advertise(s: &Settings, doc: &mut serde_json::Value) {
    if !s.device.enabled {
        return;
    }
    let Some(m) = doc.as_object_mut() else { return };
    m.insert("device_authorization_endpoint".into(), format!("{}/device_authorization", s.issuer_base()).into());
    if let Some(g) = m.get_mut("grant_types_supported").and_then(|g| g.as_array_mut()) {
        g.push(GRANT_TYPE.into());
    }
}

/// The verification URI a person is sent to.
pub fn verification_uri(s: &Settings) -> String {
    format!("{}/device", s.issuer_base())
}

/// [DV-1] A 404 in the RFC's JSON shape while the grant is disabled.
fn disabled() -> HttpResponse {
    HttpResponse::NotFound()
        .json(OAuthError::invalid_request("the device authorization grant is not enabled").json_body())
}
