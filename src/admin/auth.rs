//! Who may call the admin API: an access token issued by this broker through client_credentials, carrying the
//! `admin` scope, for a client that still exists, is enabled and still holds `admin`; a DPoP-bound one only with
//! the `DPoP` scheme and a proof of its key ([DP-5]).

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

/// An access token as presented: the token and whether it came with the RFC 9449 `DPoP` scheme.
#[derive(Debug, Clone)]
pub struct Presented {
    pub token: String,
    pub dpop_scheme: bool,
}

/// The token of an `Authorization: Bearer …` (or, with DPoP on, `DPoP …`) header (scheme case-insensitive);
/// `Err` when malformed.
fn presented(req: &HttpRequest, dpop_on: bool) -> Result<Option<Presented>, ApiError> {
    let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) else { return Ok(None) };
    let h = h.to_str().map_err(|_| ApiError::invalid_token())?;
    let (scheme, token) = h.trim().split_once(' ').ok_or_else(ApiError::invalid_token)?;
    let dpop_scheme = dpop_on && scheme.eq_ignore_ascii_case("dpop");
    if !(dpop_scheme || scheme.eq_ignore_ascii_case("bearer")) || token.trim().is_empty() {
        return Err(ApiError::invalid_token());
    }
    Ok(Some(Presented { token: token.trim().to_string(), dpop_scheme }))
}

/// [DP-5] The route this request matched, with its parameters: a proof's `htu` must be the configured issuer + this
/// (as at `/token` and `/userinfo`), never the path as it reached the server (a proxy may have rewritten it, and
/// an encoded spelling of the same route is the same resource). `None` (no route matched) refuses every proof.
fn route_path(req: &HttpRequest) -> Option<String> {
    let pattern = req.match_pattern()?;
    let mut segments = Vec::new();
    for seg in pattern.split('/') {
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => segments.push(req.match_info().get(name.split(':').next()?)?.to_string()),
            None => segments.push(seg.to_string()),
        }
    }
    let mut url = url::Url::parse("http://route.invalid/").ok()?;
    url.set_path(&segments.join("/"));
    Some(url.path().to_string())
}

/// Checks the token; the decisions in one place. [DP-5] A DPoP-bound token needs the `DPoP` scheme and a proof
/// of its key for this very request (`req`'s method and path, `ath`, never replayed).
pub async fn authorize(state: &AppState, req: &HttpRequest, token: Option<Presented>) -> Result<Admin, ApiError> {
    let p = token.ok_or_else(ApiError::unauthenticated)?;
    let Some((claims, user)) = crate::oauth::bearer::check(state, &p.token).await? else {
        return Err(ApiError::invalid_token());
    };
    // [RI-7] The admin API is the broker's own resource: a token for an API (or a delegated one) is not for it.
    if !bridgekeeper_core::resource::for_the_broker(&claims.aud, &state.settings().issuer) {
        return Err(ApiError::invalid_token());
    }
    let bound = claims.dpop_jkt();
    let path = route_path(req).unwrap_or_default();
    if let Err(e) = crate::oauth::dpop::check_presentation(state, req, &path, p.dpop_scheme, &p.token, bound).await {
        let nonce = crate::oauth::dpop::current_nonce(state);
        return Err(ApiError::dpop_refused(&e, &state.settings().dpop.algs.join(" "), Some(nonce)));
    }
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
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::invalid_token)?;
            let token = presented(&req, state.settings().dpop.enabled)?;
            authorize(&state, &req, token).await
        })
    }
}
