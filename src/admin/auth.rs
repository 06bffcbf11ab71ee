//! Who may call the admin API: a bearer access token issued by this broker through client_credentials, carrying
//! the `admin` scope, for a client that still exists, is enabled and still holds `admin`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::error::ApiError;
use crate::state::AppState;

/// The authenticated admin client.
#[derive(Debug, Clone)]
pub struct Admin {
    pub client_id: String,
}

impl Admin {
    /// How this admin appears in audit events.
    pub fn actor(&self) -> String {
        format!("admin-api:{}", self.client_id)
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive); `Err` when malformed.
fn bearer(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) else { return Ok(None) };
    let h = h.to_str().map_err(|_| ApiError::invalid_token())?;
    match h.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(ApiError::invalid_token()),
    }
}

/// Checks the token; the decisions in one place, unit-free of HTTP beyond reading the header.
pub async fn authorize(state: &AppState, token: Option<String>) -> Result<Admin, ApiError> {
    let token = token.ok_or_else(ApiError::unauthenticated)?;
    let Some((claims, user)) = crate::oauth::bearer::check(state, &token).await? else {
        return Err(ApiError::invalid_token());
    };
    // Only client_credentials tokens (no user, subject = the client) administer the broker.
    if user.is_some() || claims.gid.is_some() || claims.sub != claims.client_id {
        return Err(ApiError::insufficient_scope());
    }
    if !claims.scope.split(' ').any(|s| s == "admin") {
        return Err(ApiError::insufficient_scope());
    }
    let cid = claims.client_id.clone();
    let client = state.db.run(move |c| crate::store::clients::find(c, &cid)).await?;
    match client {
        Some(c) if !c.disabled && c.allowed_scopes.iter().any(|s| s == "admin") => Ok(Admin { client_id: c.client_id }),
        Some(_) => Err(ApiError::insufficient_scope()),
        None => Err(ApiError::invalid_token()),
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::invalid_token)?;
            authorize(&state, token?).await
        })
    }
}
