//! [PJ-7] The keys a private_key_jwt client's assertions are verified with: its inline `jwks`, or — only for a
//! client an admin registered through the admin API — the JWK Set at its `jwks_uri`, fetched through the bounded
//! upstream HTTP client (timeouts, no redirects, 512 KiB) and cached; when no cached key verifies, the set is
//! fetched again, at most every `REFETCH_AFTER_SECS` (a client that rotated its key is believed within that).

use std::sync::Arc;

use crate::state::AppState;
use crate::store::clients::Client;

/// How long fetched keys are used before they are fetched again.
pub use crate::state::CLIENT_JWKS_CACHE_SECS as CACHE_SECS;
/// A verification failure refetches the keys only if the cached ones are at least this old.
pub const REFETCH_AFTER_SECS: i64 = 30;

/// Where a client's keys came from.
#[derive(Debug)]
pub enum Keys {
    Inline(serde_json::Value),
    /// From `jwks_uri`, fetched at this time.
    Fetched(Arc<serde_json::Value>, i64),
}

impl Keys {
    pub fn set(&self) -> &serde_json::Value {
        match self {
            Keys::Inline(v) => v,
            Keys::Fetched(v, _) => v,
        }
    }
}

/// The client's keys, from the cache when fetched recently; `None` when it has none or they cannot be fetched.
pub async fn keys(state: &AppState, client: &Client) -> Option<Keys> {
    if let Some(j) = client.jwks() {
        return Some(Keys::Inline(j));
    }
    let uri = client.fetchable_jwks_uri()?;
    match state.caches.client_jwks.get(&client.client_id) {
        Some((cached_uri, at, set)) if cached_uri == uri => Some(Keys::Fetched(set, at)),
        _ => fetch(state, client, &uri).await,
    }
}

/// After a failed verification with fetched keys: the keys fetched again, if the cached ones are old enough.
pub async fn refreshed(state: &AppState, client: &Client, previous: &Keys) -> Option<Keys> {
    let Keys::Fetched(_, at) = previous else { return None };
    if state.clock.now() - at < REFETCH_AFTER_SECS {
        return None;
    }
    let uri = client.fetchable_jwks_uri()?;
    fetch(state, client, &uri).await
}

async fn fetch(state: &AppState, client: &Client, uri: &str) -> Option<Keys> {
    let http = state.upstreams.http.for_provider("client-jwks");
    let doc = match http.get_json(uri, None).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(client = %client.client_id, error = %e, "could not fetch a client's jwks_uri");
            return None;
        }
    };
    if let Err(e) = crate::tokens::client_keys::parse_jwks(&doc.to_string()) {
        tracing::warn!(client = %client.client_id, error = %e, "a client's jwks_uri holds no usable key set");
        return None;
    }
    let (set, now) = (Arc::new(doc), state.clock.now());
    state.caches.client_jwks.insert(client.client_id.clone(), (uri.to_string(), now, set.clone()));
    Some(Keys::Fetched(set, now))
}
