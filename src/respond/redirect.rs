//! Redirect responses, never cached.

use actix_web::HttpResponse;
use actix_web::http::header;

/// 302 to a location the caller has validated.
pub fn found(location: &str) -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, location)).finish()
}

/// 303: the redirect after a form post (RFC 9700 §4.12).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}
