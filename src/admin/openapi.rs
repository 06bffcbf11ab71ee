//! The OpenAPI 3 document of the admin API, generated from the handlers' annotations (utoipa).

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{clients, error, misc, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bridgekeeper admin API",
        description = "Manage clients, users, consents, providers, audit events and signing keys. Authenticate with \
            a bearer access token from this broker's token endpoint (grant_type=client_credentials) for a client \
            that holds the `admin` scope."
    ),
    paths(
        clients::list, clients::create, clients::show, clients::update, clients::delete, clients::rotate,
        clients::approve,
        users::list, users::show, users::disable, users::enable, users::revoke, users::unlink,
        misc::providers, misc::list_consents, misc::delete_consent, misc::audit_events, misc::keys,
        misc::rotate_keys, misc::reload,
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "clients", description = "Downstream apps"),
        (name = "users", description = "Local accounts and their linked identities"),
        (name = "consents", description = "Remembered consents"),
        (name = "providers", description = "Loaded upstream providers (read-only)"),
        (name = "audit", description = "Audit events"),
        (name = "keys", description = "Token signing keys"),
        (name = "reload", description = "Re-read and validate this instance's configuration files"),
    )
)]
pub struct AdminApi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token with the admin scope (client_credentials)"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as JSON text.
pub fn json() -> String {
    AdminApi::openapi().to_json().unwrap_or_else(|_| "{}".into())
}

/// `GET /admin/api/openapi.json` (public: it describes, it does not grant).
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").insert_header(("Cache-Control", "no-cache")).body(json())
}
