//! The admin API under `/admin/api/…` (JSON): clients, providers, users, consents, audit events, signing keys.
//! Callers present a bearer access token this broker issued through client_credentials with the `admin` scope.
//! The OpenAPI 3 document, generated from these handlers, is served at `/admin/api/openapi.json`.

pub mod auth;
pub mod clients;
pub mod error;
pub mod misc;
pub mod openapi;
pub mod users;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use error::ApiError;

/// Paging of every listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl Paging {
    /// (limit, offset) after range checks.
    pub fn checked(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::bad_request("limit must be between 1 and 200"));
        }
        if offset < 0 {
            return Err(ApiError::bad_request("offset must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// 200 JSON that must not be cached.
pub fn no_store<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found("no such admin API endpoint"))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/api")
            .app_data(web::JsonConfig::default().limit(64 * 1024).error_handler(error::extractor_error))
            .app_data(web::QueryConfig::default().error_handler(error::extractor_error))
            .app_data(web::PathConfig::default().error_handler(error::extractor_error))
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(clients::configure)
            .configure(users::configure)
            .configure(misc::configure)
            .default_service(web::to(not_found)),
    );
}
