//! Token introspection (RFC 7662) and revocation (RFC 7009). Both authenticate the client and only ever
//! act on the caller's own tokens; anything else is `{"active": false}` / a silent 200.

use actix_web::{HttpRequest, HttpResponse, web};

use super::token::{form_params, no_store_json, post_only};
use super::{OAuthError, OAuthJson, bearer, client_auth};
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::{audit, grants, refresh, revoked};
use crate::tokens::claims::verify_access_token;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/introspect").route(web::post().to(introspect)).default_service(web::to(post_only)))
        .service(web::resource("/revoke").route(web::post().to(revoke)).default_service(web::to(post_only)));
}

async fn introspect(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, OAuthJson> {
    let params = form_params(&req, &body)?;
    let client = client_auth::authenticate_limited(&state, &req, &params, false).await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = || no_store_json(&serde_json::json!({"active": false}));
    let now = state.clock.now();
    if token.matches('.').count() == 2 {
        return Ok(match bearer::check(&state, token).await? {
            Some((c, _)) if c.client_id == client.client_id || is_audience(&state, &client.client_id, &c.aud) => {
                let mut body = serde_json::json!({
                    "active": true, "scope": c.scope, "client_id": c.client_id, "sub": c.sub, "exp": c.exp, "iat": c.iat,
                    "iss": c.iss, "aud": c.aud, "jti": c.jti,
                    "token_type": if c.dpop_jkt().is_some() { "DPoP" } else { "Bearer" },
                });
                // [DP-5] RFC 9449 §6.2: a DPoP-bound token's key.
                if let Some(jkt) = c.dpop_jkt() {
                    body["cnf"] = serde_json::json!({ "jkt": jkt });
                }
                // [TX-8] A delegated token says who acts (RFC 8693 §4.1).
                if let Some(act) = c.act {
                    body["act"] = act;
                }
                no_store_json(&body)
            }
            _ => inactive(),
        });
    }
    let hash = crate::secret::hash_token(token);
    let found = state
        .db
        .run(move |c| {
            let Some(t) = refresh::find(c, &hash)? else { return Ok(None) };
            let live = t.used_at.is_none()
                && t.revoked_at.is_none()
                && t.expires_at > now
                && grants::is_active(c, &t.grant_id, now)?;
            Ok(live.then_some(t))
        })
        .await?;
    Ok(match found {
        Some(t) if t.client_id == client.client_id => {
            let mut body = serde_json::json!({
                "active": true, "scope": t.scope, "client_id": t.client_id, "sub": t.user_id, "exp": t.expires_at,
                "iat": t.created_at, "iss": state.settings().issuer, "token_type": "refresh_token",
            });
            // [DP-5] A public client's refresh token bound to its DPoP key.
            if let Some(jkt) = t.dpop_jkt {
                body["cnf"] = serde_json::json!({ "jkt": jkt });
            }
            no_store_json(&body)
        }
        _ => inactive(),
    })
}

/// [TX-8] Is `client_id` the API a delegated token with audience `aud` was issued for (its delegation rule's
/// client id or `known_as`)?
fn is_audience(state: &AppState, client_id: &str, aud: &str) -> bool {
    state
        .settings()
        .token_exchange
        .delegation
        .iter()
        .any(|r| r.client == client_id && (r.client == aud || r.known_as.iter().any(|k| k == aud)))
}

async fn revoke(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, OAuthJson> {
    let params = form_params(&req, &body)?;
    let client = client_auth::authenticate_limited(&state, &req, &params, true).await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?.to_string();
    let now = state.clock.now();
    let ok = || no_store_json(&serde_json::json!({}));
    // token_type_hint is only a hint: try both kinds.
    let hash = crate::secret::hash_token(&token);
    let cid = client.client_id.clone();
    let revoked_refresh = state
        .db
        .write(move |c| match refresh::find(c, &hash)? {
            Some(t) if t.client_id == cid => {
                grants::revoke(c, &t.grant_id, now)?;
                audit::record(c, &audit::AuditEvent::new(now, AuditKind::TokenRevoked).user(&t.user_id).client(&cid))?;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await?;
    if revoked_refresh {
        return Ok(ok());
    }
    let ring = state.keys();
    if let Some(c) = verify_access_token(&ring, &state.settings().issuer, &token, i64::MIN)
        && c.client_id == client.client_id
    {
        state.db.write(move |conn| revoked::insert(conn, &c.jti, c.exp)).await?;
    }
    Ok(ok())
}
