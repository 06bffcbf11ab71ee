//! One delivery: a fresh Logout Token (§2.4) for an outbox row, POSTed as `logout_token=…` (§2.5). [BL-10] A
//! client that registered itself is called through a client whose resolver refuses names that resolve to the
//! broker's own networks, and only with the addresses it checked (no second lookup to rebind).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oauth2::reqwest;

use bridgekeeper_core::backchannel::{
    LOGOUT_TOKEN_TYP, Pending, delivered, is_internal_ip, logout_claims, validate_self_service_logout_uri,
};

use crate::state::AppState;
use crate::store::outbox::Outgoing;

/// The HTTP client for logout tokens: a timeout on every call, redirects never followed (§2.5 and [BL-1]).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    /// [BL-10] For self-registered clients: resolves only to addresses outside the broker's own networks.
    guarded: reqwest::Client,
}

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("bridgekeeper/", env!("CARGO_PKG_VERSION")))
}

impl Sender {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = builder(timeout).build().map_err(|e| e.to_string())?;
        // No system proxy (HTTPS_PROXY …): a proxy would resolve and connect for us, past the resolver's check.
        let guarded =
            builder(timeout).no_proxy().dns_resolver(Arc::new(PublicOnly)).build().map_err(|e| e.to_string())?;
        Ok(Sender { client, guarded })
    }

    /// Signs and sends the row's token; `Err` with a short reason (never the token) when the app did not take it.
    /// `self_registered`: the client registered itself (portal, dynamic), so its URI must not reach inside.
    pub async fn send(&self, state: &AppState, row: &Outgoing, self_registered: bool) -> Result<(), String> {
        let client = if self_registered {
            // A literal host never reaches the resolver: the rules of [BL-9] again, as they are now.
            validate_self_service_logout_uri(&row.uri)?;
            &self.guarded
        } else {
            &self.client
        };
        let token = sign(state, row)?;
        let response = client
            .post(&row.uri)
            .header("Cache-Control", "no-store")
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|e| reason(&e.without_url()))?;
        let status = response.status().as_u16();
        if delivered(status) { Ok(()) } else { Err(format!("HTTP {status}")) }
    }
}

/// The error and its causes in one line (the resolver's refusal is a cause of reqwest's "error sending request").
fn reason(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// [BL-10] A resolver that answers only when every address of the name is outside the broker's own networks
/// (a name with one internal address among public ones is refused whole).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| is_internal_ip(a.ip())) {
                return Err("the logout URI's host resolves to an internal address (or to none)".into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// [BL-2] The Logout Token of a row, signed now with the ID-token key and `typ: logout+jwt`.
pub fn sign(state: &AppState, row: &Outgoing) -> Result<String, String> {
    let pending = Pending {
        issuer: &state.settings().issuer,
        client_id: &row.client_id,
        sub: &row.sub,
        sid: row.sid.as_deref(),
        jti: &row.id,
    };
    let claims = logout_claims(&pending, state.clock.now(), state.settings().backchannel_logout.token_ttl_secs);
    let key = state.keys();
    crate::tokens::jws::sign(key.signer(state.settings().tokens.id_token_alg()), LOGOUT_TOKEN_TYP, &claims)
        .map_err(|_| "signing failed".to_string())
}
