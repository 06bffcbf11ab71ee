//! One delivery: a fresh Logout Token (§2.4) for an outbox row, POSTed as `logout_token=…` (§2.5).

use std::time::Duration;

use oauth2::reqwest;

use bridgekeeper_core::backchannel::{LOGOUT_TOKEN_TYP, Pending, delivered, logout_claims};

use crate::state::AppState;
use crate::store::outbox::Outgoing;

/// The HTTP client for logout tokens: a timeout on every call, redirects never followed (§2.5 and [BL-1]).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
}

impl Sender {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("bridgekeeper/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Sender { client })
    }

    /// Signs and sends the row's token; `Err` with a short reason (never the token) when the app did not take it.
    pub async fn send(&self, state: &AppState, row: &Outgoing) -> Result<(), String> {
        let token = sign(state, row)?;
        let response = self
            .client
            .post(&row.uri)
            .header("Cache-Control", "no-store")
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status().as_u16();
        if delivered(status) { Ok(()) } else { Err(format!("HTTP {status}")) }
    }
}

/// [BL-2] The Logout Token of a row, signed now with the ID-token key and `typ: logout+jwt`.
pub fn sign(state: &AppState, row: &Outgoing) -> Result<String, String> {
    let pending = Pending {
        issuer: &state.settings.issuer,
        client_id: &row.client_id,
        sub: &row.sub,
        sid: row.sid.as_deref(),
        jti: &row.id,
    };
    let claims = logout_claims(&pending, state.clock.now(), state.settings.backchannel_logout.token_ttl_secs);
    let key = state.keys();
    crate::tokens::jws::sign(key.signer(state.settings.tokens.id_token_alg()), LOGOUT_TOKEN_TYP, &claims)
        .map_err(|_| "signing failed".to_string())
}
