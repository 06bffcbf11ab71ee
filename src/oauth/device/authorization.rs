//! [DV-1] [DV-6] `POST /device_authorization` (RFC 8628 §3.1, §3.2): the client authenticates as at `/token`
//! (a public client by its `client_id`), the scope is checked as at `/authorize`, and the answer carries a
//! device code (256-bit, stored hashed) and a user code (stored as the hash of its normalised form).

use actix_web::{HttpRequest, HttpResponse, web};
use bridgekeeper_core::device::{self, Status};

use super::super::{ErrorCode, OAuthError, OAuthJson, client_auth, token};
use crate::secret::{hash_token, random_token};
use crate::state::AppState;
use crate::store::device_codes::{self, DeviceCode};

/// Tries at a user code no stored code holds before giving up (a collision needs ~2^17 stored codes to be likely).
const USER_CODE_TRIES: usize = 4;

pub(super) async fn endpoint(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if !state.settings().device.enabled {
        return super::disabled();
    }
    match start(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => super::super::error::json_response(&e.0),
    }
}

/// [DV-6] The network a request comes from, for the cap on live codes: IPv4 by /24, IPv6 by /48 (one site's
/// allocation: a /64 is what a single VPS has thousands of).
fn network(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let [a, b, c, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}::/48")
        }
    }
}

#[derive(serde::Serialize)]
struct Answer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: i64,
    interval: i64,
}

async fn start(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, OAuthJson> {
    let params = token::form_params(req, body)?;
    let client = client_auth::authenticate_limited(state, req, &params, true).await?;
    if let Some(d) = params.first_duplicate() {
        return Err(OAuthError::invalid_request(format!("parameter {d} is repeated")).into());
    }
    if !client.allows_grant(device::GRANT_TYPE) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the device grant").into());
    }
    // [DV-7] The device grant's tokens are held by whoever holds the device, and a device client cannot keep a
    // secret: such a client may not also exchange tokens (RFC 8693), which would act for the person upstream on
    // the strength of a consent page that never named that (a first-party client's exchange needs no line).
    if client.allows_grant(bridgekeeper_core::token::token_exchange::GRANT_TYPE) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a client that exchanges tokens may not use the device grant",
        )
        .into());
    }
    let ip = crate::ratelimit::client_ip(req);
    // [RL-4] A public client authenticates nothing: what it creates is anonymous state, held to that budget.
    if client.is_public() {
        state.limits().admit_anonymous(ip).map_err(|w| {
            state.metrics.rate_limited.with_label_values(&["anonymous_state"]).inc();
            OAuthError::too_many(w)
        })?;
    }
    let s = state.settings();
    let scope = device::scope(params.get("scope"), &client.allowed_scopes, &s.scopes)?.join(" ");
    let now = state.clock.now();
    let requester = hash_token(&network(ip));
    let device_code = random_token();
    let row = DeviceCode {
        device_code_hash: hash_token(&device_code),
        user_code_hash: String::new(),
        client_id: client.client_id.clone(),
        scope,
        requester_hash: requester,
        status: Status::Pending.as_str().into(),
        interval_secs: s.device.interval_secs,
        last_poll_at: None,
        user_id: None,
        grant_id: None,
        created_at: now,
        expires_at: now + s.device.code_ttl_secs,
    };
    let user_code = store_with_fresh_user_code(state, row.clone()).await?;
    // [DV-6] Counted after the row is stored (itself included), so that requests arriving at once cannot all
    // squeeze under the cap; one over it is removed again.
    let (cid, r, h) = (row.client_id.clone(), row.requester_hash.clone(), row.device_code_hash.clone());
    let (all, here) = state.db.run(move |c| device_codes::live_for_client(c, &cid, &r, now)).await?;
    let (max_client, max_here) = (s.device.max_live_codes_per_client, s.device.max_live_codes_per_address);
    if !device::may_start(all - 1, here - 1, max_client, max_here) {
        state.db.run(move |c| device_codes::delete(c, &h)).await?;
        return Err(OAuthError::too_many(s.device.interval_secs.max(1) as u64 * 6).into());
    }
    let shown = device::display(&user_code);
    let uri = super::verification_uri(&s);
    let complete = format!("{uri}?user_code={shown}");
    tracing::info!(target: "audit", event = "device_authorization", client = %client.client_id);
    Ok(token::no_store_json(&Answer {
        device_code,
        user_code: shown,
        verification_uri: uri,
        verification_uri_complete: complete,
        expires_in: s.device.code_ttl_secs,
        interval: s.device.interval_secs,
    }))
}

/// [DV-8] Stores the code under a user code no stored code holds (the database's unique index decides; a taken
/// one is retried with another, [`USER_CODE_TRIES`] in all); returns the user code (normalised). Every try taken,
/// or the random source failing, is `temporarily_unavailable` (503), never a 500.
async fn store_with_fresh_user_code(state: &AppState, mut row: DeviceCode) -> Result<String, OAuthError> {
    let mut codes = Vec::with_capacity(USER_CODE_TRIES);
    for _ in 0..USER_CODE_TRIES {
        let mut bytes = [0u8; 16];
        if let Some(code) = aws_lc_rs::rand::fill(&mut bytes).ok().and_then(|()| device::user_code_from_random(&bytes))
        {
            codes.push(code);
        }
    }
    let stored = state.db.run(move |c| device_codes::insert_with_fresh_user_code(c, &mut row, codes)).await?;
    stored.ok_or_else(|| OAuthError::new(ErrorCode::TemporarilyUnavailable, "no user code could be made; try again"))
}
