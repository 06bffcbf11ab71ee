//! Resource indicators (RFC 8707) and per-API settings (`[[apis]]`): which APIs a client may ask for, which
//! resources a grant holds, the one audience of each access token, and the scopes and lifetime a token for that
//! audience carries. Tags `[RI-…]` of docs/security.md.

use serde::Deserialize;

use crate::authorize::AuthorizationRequest;
use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;

/// Scopes the broker itself gives meaning to (ID token and userinfo claims, refresh tokens, the admin API): no API
/// may own one ([RI-1]).
pub const BROKER_SCOPES: &[&str] =
    &["openid", "profile", "email", "address", "phone", "offline_access", "groups", "admin"];
/// The longest identifier an API may have.
pub const MAX_IDENTIFIER_LEN: usize = 512;
/// The longest per-API access-token lifetime (`access_token_ttl_secs`), in seconds.
pub const MAX_TTL_SECS: i64 = 86_400;
/// The upstream-provider targets of token exchange are never APIs.
const PROVIDER_PREFIX: &str = crate::token::token_exchange::PROVIDER_PREFIX;

/// One API (`[[apis]]`): a resource server that accepts the broker's access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// The API's identifier: an absolute URI without fragment, the `resource` value and the tokens' `aud`.
    pub identifier: String,
    /// The scopes it owns: a token for it carries only these (of those granted).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime of its access tokens; absent: `tokens.access_token_ttl_secs`.
    #[serde(default)]
    pub access_token_ttl_secs: Option<i64>,
    /// The client ids that may ask for it (an explicit list; no wildcard).
    pub clients: Vec<String>,
}

impl Api {
    pub fn allows(&self, client_id: &str) -> bool {
        self.clients.iter().any(|c| c == client_id)
    }

    pub fn owns(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

fn find<'a>(apis: &'a [Api], identifier: &str) -> Option<&'a Api> {
    apis.iter().find(|a| a.identifier == identifier)
}

fn invalid_target(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, d)
}

/// [RI-1] One API's settings, or (key, why): an absolute URI without fragment (no whitespace, at most 512
/// characters, not the issuer, not an upstream provider's exchange target) for identifier, scopes that are in the
/// catalogue and are none of [`BROKER_SCOPES`], a lifetime of 1 to 86400 s, client ids that are not empty and no
/// wildcard.
pub fn check_api(
    api: &Api,
    issuer: &str,
    catalogue: &std::collections::BTreeMap<String, String>,
) -> Result<(), (&'static str, String)> {
    let id = api.identifier.as_str();
    let bad_chars = id.is_empty() || id.len() > MAX_IDENTIFIER_LEN || !id.bytes().all(|b| b.is_ascii_graphic());
    let parsed = url::Url::parse(id).map_err(|e| ("identifier", format!("`{id}` is not an absolute URI ({e})")))?;
    if bad_chars {
        return Err(("identifier", format!("`{id}`: at most {MAX_IDENTIFIER_LEN} printable characters, no spaces")));
    }
    if parsed.fragment().is_some() || id.contains('#') {
        return Err(("identifier", format!("`{id}` must not have a fragment (RFC 8707 §2)")));
    }
    if same_uri(id, issuer) || id.starts_with(PROVIDER_PREFIX) {
        return Err(("identifier", format!("`{id}` names the broker itself or an upstream provider")));
    }
    for s in &api.scopes {
        if BROKER_SCOPES.contains(&s.as_str()) {
            return Err(("scopes", format!("`{s}` is the broker's own scope; an API cannot own it")));
        }
        if !catalogue.contains_key(s) {
            return Err(("scopes", format!("`{s}` is not in the [scopes] catalogue")));
        }
    }
    if api.access_token_ttl_secs.is_some_and(|t| !(1..=MAX_TTL_SECS).contains(&t)) {
        return Err(("access_token_ttl_secs", format!("must be between 1 and {MAX_TTL_SECS}")));
    }
    if let Some(c) = api.clients.iter().find(|c| c.trim().is_empty() || c.contains('*')) {
        return Err(("clients", format!("`{c}`: name each client id (no empty id, no wildcard)")));
    }
    Ok(())
}

/// [RI-1] Across the APIs: identifiers are unique and no scope is owned by two. Returns (index, key, why).
pub fn check_apis(apis: &[Api]) -> Result<(), (usize, &'static str, String)> {
    for (i, a) in apis.iter().enumerate() {
        let earlier = || apis.iter().take(i).enumerate();
        if let Some((j, _)) = earlier().find(|(_, b)| same_uri(&b.identifier, &a.identifier)) {
            return Err((i, "identifier", format!("`{}` is also apis[{j}]'s identifier", a.identifier)));
        }
        for s in &a.scopes {
            if let Some((j, b)) = earlier().find(|(_, b)| b.owns(s)) {
                return Err((i, "scopes", format!("`{s}` is already owned by apis[{j}] ({})", b.identifier)));
            }
        }
    }
    Ok(())
}

/// Do two URIs name the same thing once normalised (scheme and host case, default port, a trailing `/`)?
fn same_uri(a: &str, b: &str) -> bool {
    let norm = |u: &str| url::Url::parse(u).map(|u| u.as_str().trim_end_matches('/').to_string()).ok();
    a == b || norm(a).is_some_and(|n| Some(n) == norm(b))
}

/// [RI-1] An audience (e.g. of a delegation rule) spelled like an API's identifier but not as written: an API stack
/// that normalises URIs would take it for that API, bypassing its `clients`. Returns the identifier.
pub fn spelled_like_an_api<'a>(audience: &str, apis: &'a [Api]) -> Option<&'a str> {
    apis.iter().map(|a| a.identifier.as_str()).find(|id| *id != audience && same_uri(id, audience))
}

/// [RI-2] RFC 8707 §2: the `resource` values of an authorization request (it may repeat), each a configured API
/// that `client_id` may ask for; anything else is `invalid_target`. Sorted, each once.
pub fn at_authorize(params: &Params, client_id: &str, apis: &[Api]) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for r in params.get_all("resource") {
        match find(apis, r) {
            Some(api) if api.allows(client_id) => out.push(r.to_string()),
            // The value is not echoed: the description goes to the app's redirect URI.
            _ => return Err(invalid_target("a resource is not an API this client may ask for")),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// [RI-3] The scopes a grant holds for its resources: an API's scopes only when that API is among them (a token
/// without it could never carry them); the broker's own and unowned scopes as asked.
pub fn grant_scopes(scopes: &[String], resources: &[String], apis: &[Api]) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| match apis.iter().find(|a| a.owns(s)) {
            Some(owner) => resources.contains(&owner.identifier),
            None => true,
        })
        .cloned()
        .collect()
}

/// [RI-2] [RI-3] Puts the `resource` values of a validated authorization request into it (each an API the client
/// may ask for, else `invalid_target`) and keeps only the scopes its resources allow; nothing left is
/// `invalid_scope`.
pub fn apply_to_request(req: &mut AuthorizationRequest, params: &Params, apis: &[Api]) -> Result<(), OAuthError> {
    req.resources = at_authorize(params, &req.client_id, apis)?;
    let scopes = grant_scopes(&req.scopes, &req.resources, apis);
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope("the scopes asked belong to APIs not asked for (resource)"));
    }
    req.scopes = scopes;
    // [GC-2] The stored form stays bounded with its resources too.
    if req.to_stored().len() > crate::authorize::request::MAX_STORED_LEN {
        return Err(OAuthError::invalid_request("the authorization request is too large"));
    }
    Ok(())
}

/// [RI-2] A stored request (pending or pushed) is still answerable: each of its resources is still an API the
/// client may ask for.
pub fn request_still_allowed(req: &AuthorizationRequest, apis: &[Api]) -> bool {
    still_allowed(&req.resources, &req.client_id, apis).len() == req.resources.len()
}

/// [RI-2] The granted resources still in force: the API is still configured and still lets the client ask.
pub fn still_allowed<'a>(granted: &'a [String], client_id: &str, apis: &[Api]) -> Vec<&'a str> {
    granted.iter().map(String::as_str).filter(|r| find(apis, r).is_some_and(|a| a.allows(client_id))).collect()
}

/// [RI-4] `resource` at `/token`: at most one (one access token has one audience); several is `invalid_target`.
pub fn token_param(params: &Params) -> Result<Option<String>, OAuthError> {
    if params.is_duplicated("resource") {
        return Err(invalid_target("one access token has one audience: send one resource"));
    }
    Ok(params.get("resource").map(String::from))
}

/// [RI-4] The audience of a user's access token (code and refresh grants): the asked `resource` when the grant
/// holds it (and it is still allowed), else `invalid_target`; without one, the grant's only resource, none (the
/// broker's own audience) when it holds none, and `invalid_target` when it holds several or all of them were
/// withdrawn.
pub fn audience_for_grant<'a>(
    asked: Option<&str>,
    granted: &[String],
    client_id: &str,
    apis: &'a [Api],
) -> Result<Option<&'a Api>, OAuthError> {
    let live = still_allowed(granted, client_id, apis);
    let chosen = match (asked, live.as_slice()) {
        (Some(r), _) if live.contains(&r) => r,
        (Some(_), _) => return Err(invalid_target("the resource was not granted to this client")),
        (None, []) if granted.is_empty() => return Ok(None),
        // Every resource of the grant withdrawn since: no token (rather than one for the issuer carrying what
        // were its scopes).
        (None, []) => return Err(invalid_target("the resources of this grant are no longer available")),
        (None, [only]) => only,
        (None, _) => {
            return Err(invalid_target("several resources were granted: name the one this token is for (resource)"));
        }
    };
    Ok(find(apis, chosen))
}

/// [RI-4] The audience of a client's own token (client_credentials): the asked `resource` if the client may ask
/// for it (else `invalid_target`); none: the broker's own audience.
pub fn audience_for_client<'a>(
    asked: Option<&str>,
    client_id: &str,
    apis: &'a [Api],
) -> Result<Option<&'a Api>, OAuthError> {
    let Some(r) = asked else { return Ok(None) };
    match find(apis, r) {
        Some(api) if api.allows(client_id) => Ok(Some(api)),
        _ => Err(invalid_target("the resource is not an API this client may ask for")),
    }
}

/// [RI-4] Token exchange (delegation, [TX-7]) to an audience that is an API of `[[apis]]` needs the exchanging
/// client in that API's `clients` too (besides its delegation rule); else `invalid_target`.
pub fn delegation_allowed(audience: &str, client_id: &str, apis: &[Api]) -> Result<(), OAuthError> {
    match find(apis, audience) {
        Some(api) if !api.allows(client_id) => Err(invalid_target("this client may not ask for that API")),
        _ => Ok(()),
    }
}

/// [RI-5] What a delegation to `audience` draws its scope from: the subject token's scope, except for a target that
/// is an API of `[[apis]]` other than the subject token's own audience (whose scopes that token cannot carry) and an
/// undelegated subject: then the person's grant's scope, if the grant was made for that API and its client is still
/// on the API's list, else `invalid_target`. A delegated subject keeps to its own (narrowed) scope.
pub fn delegation_source<'a>(
    audience: &str,
    subject: &'a DelegationSubject<'a>,
    grant: Option<GrantView<'a>>,
    apis: &[Api],
) -> Result<&'a str, OAuthError> {
    if find(apis, audience).is_none() || subject.aud == audience || subject.delegated {
        return Ok(subject.scope);
    }
    match grant {
        Some(g) if still_allowed(g.resources, g.client_id, apis).contains(&audience) => Ok(g.scope),
        _ => Err(invalid_target("the person's grant was not made for that API")),
    }
}

/// The subject token of a delegation, as [`delegation_source`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct DelegationSubject<'a> {
    pub aud: &'a str,
    pub scope: &'a str,
    /// It carries an `act` chain (narrowed on an earlier hop).
    pub delegated: bool,
}

/// A grant as [`delegation_source`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct GrantView<'a> {
    pub scope: &'a str,
    pub resources: &'a [String],
    pub client_id: &'a str,
}

/// Is `audience` an API of `[[apis]]`?
pub fn is_api(audience: &str, apis: &[Api]) -> bool {
    find(apis, audience).is_some()
}

/// [RI-5] The scope an access token for `audience` carries: of `scope`, only what that API owns; for the broker's
/// own audience (`None`) or any audience that is not a configured API, nothing any API owns.
pub fn token_scope(scope: &str, audience: Option<&str>, apis: &[Api]) -> String {
    let api = audience.and_then(|a| find(apis, a));
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .filter(|s| match api {
            Some(a) => a.owns(s),
            None => !apis.iter().any(|a| a.owns(s)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// [RI-6] The lifetime of an access token for `audience`: the API's own, else `default`.
pub fn token_ttl(audience: Option<&str>, apis: &[Api], default: i64) -> i64 {
    audience.and_then(|a| find(apis, a)).and_then(|a| a.access_token_ttl_secs).unwrap_or(default)
}

/// [RI-5] client_credentials: a client that named scopes gets `invalid_scope` when none of them is for the
/// token's audience (rather than a token without them).
pub fn client_scope(asked: bool, scope: &str, audience: Option<&str>, apis: &[Api]) -> Result<String, OAuthError> {
    let s = token_scope(scope, audience, apis);
    if asked && s.is_empty() && !scope.is_empty() {
        let why = match audience {
            Some(_) => "none of the scopes asked belongs to that resource",
            None => "the scopes asked belong to an API: name it with resource",
        };
        return Err(OAuthError::invalid_scope(why));
    }
    Ok(s)
}

/// [RI-7] `/userinfo` is the broker's own resource: a token for another audience (an API) is not for it.
pub fn for_the_broker(aud: &str, issuer: &str) -> bool {
    aud == issuer
}

#[cfg(test)]
#[path = "resource_tests.rs"]
mod tests;
