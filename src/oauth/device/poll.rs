//! [DV-2] [DV-5] The token request of the device grant (RFC 8628 §3.4, §3.5): authenticated as every token
//! request, answered by `bridgekeeper_core::device::poll` over the stored code; an approved code is spent in one
//! conditional update and its tokens are minted as for an authorization code (DPoP-bound when a proof came).

use actix_web::{HttpRequest, HttpResponse, web};
use bridgekeeper_core::device::{self, Approved, DeviceState, Poll};
use bridgekeeper_core::token::TokenClient;

use super::super::params::Params;
use super::super::{ErrorCode, OAuthError, OAuthJson, client_auth, grants::ServerPorts, token};
use crate::secret::hash_token;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::device_codes::{self, DeviceCode};

/// Is this token request one of the device grant (the token endpoint hands it here)?
pub fn is_device_grant(params: &Params) -> bool {
    params.get("grant_type") == Some(device::GRANT_TYPE)
}

/// The whole token request of the device grant, after the body was read.
pub async fn grant(state: &web::Data<AppState>, req: &HttpRequest, params: &Params) -> Result<HttpResponse, OAuthJson> {
    if !state.settings().device.enabled {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type").into());
    }
    let client = client_auth::authenticate_limited(state, req, params, true).await?;
    if let Some(d) = params.first_duplicate() {
        return Err(OAuthError::invalid_request(format!("parameter {d} is repeated")).into());
    }
    if !client.allows_grant(device::GRANT_TYPE) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type").into());
    }
    let code = params.get("device_code").ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    token::charge_anonymous_proof(state, req, &client)?;
    // [DP-1] [DP-4] As for every grant: a proof binds what is issued to its key.
    let proof = super::super::dpop::verify(state, req, "/token", None).await?;
    if proof.is_none() && client.dpop_bound() {
        return Err(bridgekeeper_core::dpop::invalid("this client must send a DPoP proof").into());
    }
    let outcome = answer(state, &client, code, proof.as_ref().map(|p| p.jkt.as_str())).await?;
    state.metrics.token_issued(device::GRANT_TYPE, &client.client_id, &client.source);
    Ok(token::no_store_json(&outcome))
}

fn view(row: &DeviceCode) -> Option<DeviceState<'_>> {
    Some(DeviceState {
        client_id: &row.client_id,
        status: row.status()?,
        expires_at: row.expires_at,
        interval_secs: row.interval_secs,
        last_poll_at: row.last_poll_at,
    })
}

/// [DV-2] One poll: recorded while pending (with the grown interval after `slow_down`), issued once approved.
async fn answer(
    state: &web::Data<AppState>,
    client: &Client,
    code: &str,
    dpop_jkt: Option<&str>,
) -> Result<bridgekeeper_core::token::TokenOutcome, OAuthError> {
    let (hash, now) = (hash_token(code), state.clock.now());
    let h = hash.clone();
    let row = state.db.run(move |c| device_codes::find(c, &h)).await?;
    let decision = device::poll(row.as_ref().and_then(view).as_ref(), &client.client_id, now);
    // [DV-9] Pending or too soon by what was read: the conditional update decides, so that of polls racing at
    // most one is on time.
    let decision = match (decision, &row) {
        (Poll::Pending | Poll::SlowDown { .. }, Some(r)) => {
            let h = hash.clone();
            let on_time =
                state.db.run(move |c| device_codes::record_poll(c, &h, now, device::SLOW_DOWN_STEP_SECS)).await?;
            let interval_secs = r.interval_secs.saturating_add(device::SLOW_DOWN_STEP_SECS);
            if on_time { Poll::Pending } else { Poll::SlowDown { interval_secs } }
        }
        (other, _) => other,
    };
    if let Some(e) = decision.error() {
        return Err(e);
    }
    let (Some(row), cid) = (row, client.client_id.clone()) else {
        return Err(OAuthError::invalid_grant("the device code is invalid"));
    };
    // One conditional update: of two polls racing (on any instance) one gets the tokens, the other is refused.
    if !state.db.run(move |c| device_codes::redeem(c, &hash, &cid)).await? {
        return Err(OAuthError::invalid_grant("the device code was already used"));
    }
    let (Some(grant_id), Some(user_id)) = (row.grant_id.as_deref(), row.user_id.as_deref()) else {
        return Err(OAuthError::invalid_grant("the device code is invalid"));
    };
    let approved = Approved { grant_id, user_id, scope: &row.scope };
    let view = TokenClient {
        client_id: &client.client_id,
        may_refresh: client.allows_grant("refresh_token"),
        allowed_scopes: &client.allowed_scopes,
        public: client.is_public(),
        dpop_jkt,
        rotate: client.profile().rotates_refresh_tokens(),
    };
    let ports = ServerPorts(state, state.upstreams(), state.settings(), dpop_jkt.map(String::from));
    device::issue(&ports, &view, &approved).await
}
