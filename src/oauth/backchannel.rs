//! `POST /backchannel/{provider}`: an upstream tells the broker that a session of its own ended (OpenID Connect
//! Back-Channel Logout 1.0, the broker as RP). Only for providers with `backchannel_logout = true`. The token is
//! believed after `upstream::logout` verified it ([UL-2]); its `jti` is used once ([UL-3]); the broker sessions
//! that came from that upstream session end and their apps are told ([UL-4]). Answers (§2.8): 200 on success,
//! 400 with a JSON error otherwise, `Cache-Control: no-store`; never a redirect.

use actix_web::{HttpResponse, web};
use bridgekeeper_core::upstream_logout::Refusal;

use super::params::Params;
use super::{ErrorCode, OAuthError};
use crate::state::AppState;
use crate::upstream::logout::LogoutError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/backchannel/{provider}", web::post().to(receive));
}

fn answer(e: &OAuthError) -> HttpResponse {
    let mut r = super::error::json_response(e);
    r.headers_mut()
        .insert(actix_web::http::header::CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("no-store"));
    r
}

fn refused(r: Refusal) -> HttpResponse {
    answer(&OAuthError::invalid_request(r.to_string()))
}

async fn receive(state: web::Data<AppState>, provider: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let p = Params::parse(std::str::from_utf8(&body).unwrap_or(""));
    if p.first_duplicate().is_some() {
        return answer(&OAuthError::invalid_request("a parameter is repeated"));
    }
    let Some(token) = p.get("logout_token") else {
        return answer(&OAuthError::invalid_request("logout_token is required"));
    };
    let now = state.clock.now();
    let told = match state.upstreams().verify_logout_token(&provider, token, now).await {
        Ok(t) => t,
        Err(LogoutError::NotHere) => {
            return answer(&OAuthError::invalid_request("this provider does not accept back-channel logout"));
        }
        Err(LogoutError::Unavailable) => {
            return answer(&OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the provider's keys cannot be fetched",
            ));
        }
        Err(LogoutError::Refused(r)) => {
            tracing::warn!(target: "security", provider = %provider, reason = %r, "upstream logout token refused");
            return refused(r);
        }
    };
    let pid = provider.to_string();
    let ended = state.db.write(move |c| crate::accounts::backchannel::end_upstream_sessions(c, &pid, &told, now)).await;
    match ended {
        Ok(Some(n)) => {
            tracing::info!(target: "audit", event = "upstream_logout", provider = %provider, sessions = n);
            state.logout_wake.notify_one();
            HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).finish()
        }
        Ok(None) | Err(crate::store::StoreError::Conflict) => refused(Refusal::Replayed),
        Err(e) => answer(&e.into()),
    }
}
