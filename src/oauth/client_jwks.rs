//! [PJ-7] The keys a private_key_jwt client's assertions are verified with: its inline `jwks`, or — only for a
//! client an admin registered through the admin API — the JWK Set at its `jwks_uri`, fetched through the bounded
//! upstream HTTP client (timeouts, no redirects, 512 KiB) and cached. Only an assertion naming a `kid` the cached
//! set lacks makes it fetch again, and at most every `REFETCH_AFTER_SECS` counted from the last attempt: a failed
//! fetch is remembered like a good one, and concurrent requests wait for one fetch and share its result.

use std::sync::Arc;

use crate::state::AppState;
use crate::store::clients::Client;

/// How long fetched keys are used before they are fetched again.
pub use crate::state::CLIENT_JWKS_CACHE_SECS as CACHE_SECS;
/// A client's `jwks_uri` is fetched at most this often (successful or not), apart from the cache's expiry.
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

/// What a cached attempt is for: this URI of the client as it is now. A changed client (`updated_at` moves with
/// every admin change, on every instance, since the row is shared) never uses an attempt from before the change:
/// switching to inline keys and back to the same URI fetches again, so a replaced key is not revived.
fn version(client: &Client, uri: &str) -> String {
    format!("{}\u{0}{uri}", client.updated_at)
}

/// The cached attempt for this client at this URI: (when, the set or `None` if it failed).
fn cached(state: &AppState, client: &Client, uri: &str) -> Option<(i64, Option<Arc<serde_json::Value>>)> {
    let v = version(client, uri);
    state.caches.client_jwks.get(&client.client_id).filter(|(u, _, _)| *u == v).map(|(_, at, set)| (at, set))
}

/// The client's keys, from the cache when fetched (or tried) recently; `None` when it has none or they cannot be
/// fetched (a recent failure is not retried before `REFETCH_AFTER_SECS`).
pub async fn keys(state: &AppState, client: &Client) -> Option<Keys> {
    if let Some(j) = client.jwks() {
        return Some(Keys::Inline(j));
    }
    let uri = client.fetchable_jwks_uri()?;
    match cached(state, client, &uri) {
        Some((at, Some(set))) => Some(Keys::Fetched(set, at)),
        Some((at, None)) if state.clock.now() - at < REFETCH_AFTER_SECS => None,
        seen => fetch_once(state, client, &uri, seen.map(|(at, _)| at)).await,
    }
}

/// After an assertion named a `kid` the fetched keys lack: the keys fetched again, if the last attempt is old
/// enough; `None` when nothing newer is available.
pub async fn refreshed(state: &AppState, client: &Client, previous: &Keys) -> Option<Keys> {
    let Keys::Fetched(_, at) = previous else { return None };
    if state.clock.now() - at < REFETCH_AFTER_SECS {
        return None;
    }
    let uri = client.fetchable_jwks_uri()?;
    fetch_once(state, client, &uri, Some(*at)).await.filter(|k| matches!(k, Keys::Fetched(_, t) if t != at))
}

/// Fetches the set unless another request did (or tried) since `seen` — the attempt this caller saw — or the
/// last attempt is too recent; one fetch per client at a time.
async fn fetch_once(state: &AppState, client: &Client, uri: &str, seen: Option<i64>) -> Option<Keys> {
    let lock = state.caches.client_jwks_fetching.get_with(client.client_id.clone(), Default::default);
    let _one_at_a_time = lock.lock().await;
    let now = state.clock.now();
    if let Some((at, set)) = cached(state, client, uri)
        && (Some(at) != seen || now - at < REFETCH_AFTER_SECS)
    {
        return set.map(|s| Keys::Fetched(s, at));
    }
    let set = fetch(state, client, uri).await.map(Arc::new);
    state.caches.client_jwks.insert(client.client_id.clone(), (version(client, uri), now, set.clone()));
    set.map(|s| Keys::Fetched(s, now))
}

async fn fetch(state: &AppState, client: &Client, uri: &str) -> Option<serde_json::Value> {
    let http = state.upstreams().http.for_registered_client("client-jwks");
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
    Some(doc)
}
