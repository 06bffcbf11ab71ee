//! Client authentication at the token, PAR, introspection and revocation endpoints (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523, [PJ-1]..[PJ-5]), or `none` for
//! public clients. Exactly one method per request,
//! and it must be the one the client registered (`token_endpoint_auth_method`; 401 `invalid_client` otherwise).

use base64::Engine;

use super::{OAuthError, params::Params};
use crate::state::AppState;
use crate::store::audit::AuditKind;
use crate::store::clients::Client;

/// Who is calling, as claimed by the request (before checking the secret).
#[derive(Debug)]
struct Presented {
    client_id: String,
    secret: Option<String>,
    basic: bool,
    /// A `private_key_jwt` client assertion (RFC 7523 §2.2).
    assertion: Option<String>,
}

impl Presented {
    /// The RFC 7591 name of the method this request used.
    fn method(&self) -> &'static str {
        match (&self.secret, self.basic, &self.assertion) {
            (_, _, Some(_)) => crate::store::clients::PRIVATE_KEY_JWT,
            (Some(_), true, _) => "client_secret_basic",
            (Some(_), false, _) => "client_secret_post",
            (None, _, None) => "none",
        }
    }
}

/// RFC 7523 §2.2 / RFC 7521 §4.2: `client_assertion_type` + `client_assertion`, alone (no secret, no Basic); the
/// client id is `client_id` if sent, else the assertion's (unverified) `iss`, which must then agree.
fn presented_assertion(basic: bool, params: &Params) -> Result<Option<Presented>, OAuthError> {
    let (kind, assertion) = (params.get("client_assertion_type"), params.get("client_assertion"));
    if kind.is_none() && assertion.is_none() {
        return Ok(None);
    }
    if params.is_duplicated("client_assertion") || params.is_duplicated("client_assertion_type") {
        return Err(OAuthError::invalid_request("client_assertion sent more than once"));
    }
    if basic || params.has("client_secret") {
        return Err(OAuthError::invalid_request("use one client authentication method, not two"));
    }
    let (Some(bridgekeeper_core::client_assertion::JWT_BEARER), Some(assertion)) = (kind, assertion) else {
        return Err(OAuthError::invalid_client("client_assertion_type must be jwt-bearer, with a client_assertion"));
    };
    let iss = unverified_iss(assertion);
    let client_id = match (params.get("client_id"), iss.as_deref()) {
        (Some(id), _) => id.to_string(),
        (None, Some(iss)) => iss.to_string(),
        (None, None) => return Err(OAuthError::invalid_client("the client assertion names no client")),
    };
    Ok(Some(Presented { client_id, secret: None, basic: false, assertion: Some(assertion.to_string()) }))
}

/// The `iss` of a JWT's payload, read without verifying anything (only to find whose keys to verify with).
fn unverified_iss(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    v.get("iss")?.as_str().map(String::from)
}

/// Who the request says it is. [CL-1] An id that cannot name a client (over 255 bytes) is an unknown client here,
/// before it is looked up, cached or made a rate-limit key.
fn presented(authorization: Option<&str>, params: &Params) -> Result<Presented, OAuthError> {
    let p = presented_as_sent(authorization, params)?;
    if !bridgekeeper_core::client_id::may_name_a_client(&p.client_id) {
        return Err(OAuthError::invalid_client("client authentication failed").with_basic(p.basic));
    }
    Ok(p)
}

fn presented_as_sent(authorization: Option<&str>, params: &Params) -> Result<Presented, OAuthError> {
    let basic = authorization.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim().to_string())
    });
    if params.is_duplicated("client_id") || params.is_duplicated("client_secret") {
        return Err(OAuthError::invalid_request("client_id or client_secret sent more than once"));
    }
    if let Some(p) = presented_assertion(basic.is_some(), params)? {
        return Ok(p);
    }
    match basic {
        Some(encoded) => {
            if params.has("client_secret") {
                return Err(OAuthError::invalid_request("use one client authentication method, not two"));
            }
            let bad = || OAuthError::invalid_client("malformed Basic credentials").with_basic(true);
            let raw = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| bad())?;
            let raw = String::from_utf8(raw).map_err(|_| bad())?;
            let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
            // RFC 6749 §2.3.1: both halves are form-urlencoded before base64.
            let decode = |s: &str| -> Result<String, OAuthError> {
                let plus = s.replace('+', " ");
                url::form_urlencoded::parse(format!("x={}", plus.replace('&', "%26").replace('=', "%3D")).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(bad)
            };
            let (id, secret) = (decode(id)?, decode(secret)?);
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
            }
            Ok(Presented { client_id: id, secret: Some(secret), basic: true, assertion: None })
        }
        None => {
            let id =
                params.get("client_id").ok_or_else(|| OAuthError::invalid_client("client authentication required"))?;
            Ok(Presented {
                client_id: id.to_string(),
                secret: params.get("client_secret").map(String::from),
                basic: false,
                assertion: None,
            })
        }
    }
}

/// The client id a request claims (Basic or body), before anything is checked: the rate-limit key.
pub fn claimed_id(authorization: Option<&str>, params: &Params) -> Option<String> {
    presented(authorization, params).ok().map(|p| p.client_id)
}

/// Authenticates the calling client under the failure limits: an address, or a client id from this address,
/// over its failure budget gets 429 before its secret is even looked at; every failed authentication is charged
/// to both, and failures on one client id from everywhere raise `credential_stuffing_suspected` (no lockout).
pub async fn authenticate_limited(
    state: &AppState,
    req: &actix_web::HttpRequest,
    params: &Params,
    allow_public: bool,
) -> Result<Client, OAuthError> {
    let ip = crate::ratelimit::client_ip(req);
    let authorization = super::token::authorization_header(req);
    let claimed = claimed_id(authorization, params);
    state.limits().admit(ip, claimed.as_deref()).map_err(|w| {
        state.metrics.rate_limited.with_label_values(&["failures"]).inc();
        OAuthError::too_many(w)
    })?;
    let result = authenticate(state, authorization, params, allow_public).await;
    if let Err(e) = &result
        && e.code == super::ErrorCode::InvalidClient
        && let crate::ratelimit::Failure::StuffingSuspected(client) = state.failed(ip, claimed.as_deref()).await
    {
        stuffing_alarm(state, &client, ip).await;
    }
    result
}

/// The audit event (and log line) for failures on one client id from many addresses.
async fn stuffing_alarm(state: &AppState, client: &str, ip: std::net::IpAddr) {
    let mut e =
        crate::store::audit::AuditEvent::new(state.clock.now(), AuditKind::CredentialStuffingSuspected).client(client);
    e.detail = serde_json::json!({
        "last_address": ip.to_string(),
        "threshold_per_minute": state.settings().rate_limits.stuffing_alarm_per_minute,
    })
    .to_string();
    tracing::warn!(target: "security", client = %client, "failed authentications on one client id from many addresses");
    if let Err(err) = state.db.run(move |c| crate::store::audit::record(c, &e)).await {
        tracing::warn!(error = %err, "could not store the credential_stuffing_suspected audit event");
    }
}

/// Authenticates the calling client. `allow_public`: may a public client (no secret) call this endpoint?
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    allow_public: bool,
) -> Result<Client, OAuthError> {
    let p = presented(authorization, params)?;
    let fail = |why: &str| OAuthError::invalid_client(why.to_string()).with_basic(p.basic);
    let client = cached_client(state, &p.client_id).await?;
    let Some(client) = client.filter(|c| !c.disabled) else {
        return Err(fail("client authentication failed"));
    };
    // What a client registered is what it must use (OIDC Dynamic Registration §2; security.md [CA-4]); checked
    // before the secret, so that the answer never tells a guesser that a secret was right.
    if !client.accepts_auth_method(p.method()) {
        return Err(fail("the client must use the authentication method it registered"));
    }
    let now = state.clock.now();
    if let Some(assertion) = &p.assertion {
        return check_assertion(state, client, assertion, now).await?.map_err(&fail);
    }
    match (&client.secret_hash, &p.secret) {
        // The current secret, or the previous one during a rotation's grace period.
        (Some(_), Some(secret)) if client.secret_matches(secret, now) => Ok(client),
        (None, None) if allow_public => Ok(client),
        (None, None) => Err(fail("this endpoint requires a confidential client")),
        _ => Err(fail("client authentication failed")),
    }
}

/// [PJ-1]..[PJ-5] A private_key_jwt assertion: signed with a key the client registered, by an allowed algorithm,
/// for us, fresh, and never used before on any instance (its `jti`, remembered until its `exp`).
async fn check_assertion(
    state: &AppState,
    client: Client,
    assertion: &str,
    now: i64,
) -> Result<Result<Client, &'static str>, crate::store::StoreError> {
    // [FA-6] A fapi2 client's assertion is PS256, ES256 or EdDSA.
    let alg = jsonwebtoken::decode_header(assertion).map(|h| format!("{:?}", h.alg)).unwrap_or_default();
    if !client.profile().alg_allowed(&alg) {
        return Ok(Err("the client assertion's alg is not allowed for this client's profile"));
    }
    let Some(keys) = super::client_jwks::keys(state, &client).await else {
        return Ok(Err("the client's keys are not available"));
    };
    let verified = match crate::tokens::client_keys::verify_assertion(keys.set(), assertion) {
        // [PJ-7] A key rotated at the client's jwks_uri (the assertion names a kid we do not hold): fetch again
        // (rate-limited) and retry once. Nothing else (garbage, a MAC, a bad signature) ever refetches.
        Err(_)
            if crate::tokens::client_keys::names_unknown_kid(keys.set(), assertion)
                && let Some(fresh) = super::client_jwks::refreshed(state, &client, &keys).await =>
        {
            crate::tokens::client_keys::verify_assertion(fresh.set(), assertion)
        }
        other => other,
    };
    let claims = match verified {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
    let settings = state.settings();
    let issuer = settings.issuer.as_str();
    let (jti, exp) = match bridgekeeper_core::client_assertion::check_claims(&claims, &client.client_id, issuer, now) {
        Ok(v) => v,
        Err(why) => return Ok(Err(why)),
    };
    let key = crate::secret::hash_token(&format!("{}\u{0}{jti}", client.client_id));
    let cid = client.client_id.clone();
    // [PJ-4] Remembered past `exp` by the skew: an instance whose clock is behind the sweeper's still sees it.
    let keep_until = exp.saturating_add(bridgekeeper_core::client_assertion::SKEW_SECS);
    let fresh = state.db.run(move |c| crate::store::assertion_jtis::remember(c, &key, &cid, keep_until)).await?;
    Ok(if fresh { Ok(client) } else { Err("the client assertion was used before (jti replay)") })
}

/// The client row, read through a short cache (see `store::write`): changes made here are seen at once, changes
/// made by other instances within `CLIENT_CACHE_SECS`. An unknown id is cached too (as `None`), which is bounded:
/// at most 10,000 entries for 5 s, each key at most 255 bytes ([CL-1]: a longer id is never looked up).
async fn cached_client(state: &AppState, id: &str) -> Result<Option<Client>, crate::store::StoreError> {
    if !bridgekeeper_core::client_id::may_name_a_client(id) {
        return Ok(None);
    }
    let now_epoch = state.db.epoch();
    let cached = state.caches.clients.get(id).filter(|(epoch, _)| *epoch == now_epoch);
    state.metrics.cache_lookup("clients", cached.is_some());
    if let Some((_, c)) = cached {
        return Ok(c);
    }
    let key = id.to_string();
    let found = state.db.run(move |c| crate::store::clients::find(c, &key)).await?;
    state.caches.clients.insert(id.to_string(), (now_epoch, found.clone()));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        // id "my app", secret "a:b+c%" form-urlencoded, then base64
        let enc = base64::engine::general_purpose::STANDARD.encode("my+app:a%3Ab%2Bc%25");
        let p = presented(Some(&format!("Basic {enc}")), &Params::default()).unwrap();
        assert_eq!(p.client_id, "my app");
        assert_eq!(p.secret.as_deref(), Some("a:b+c%"));
        assert!(p.basic);
    }

    #[test]
    fn two_methods_are_refused() {
        let enc = base64::engine::general_purpose::STANDARD.encode("a:b");
        let e = presented(Some(&format!("basic {enc}")), &Params::parse("client_secret=b")).unwrap_err();
        assert_eq!(e.code, super::super::ErrorCode::InvalidRequest);
    }
}
