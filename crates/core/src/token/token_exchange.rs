//! RFC 8693 token exchange: the request, its rules as small functions (tags `[TX-…]` of docs/security.md), and the
//! grant run over the [`Exchanges`](super::ports::Exchanges) port. Two targets:
//! - an upstream provider (`resource`/`audience` = `urn:bridgekeeper:provider:{id}`): the person's fresh upstream
//!   access token from the vault, for a client listed on the provider and consented to by the person;
//! - any other audience: delegation between APIs, a broker access token for that audience with a narrower scope
//!   and `act` naming the client (RFC 8693 §4.1), allowed only by a configured rule.

use super::TokenOutcome;
use super::exchange::TokenClient;
use super::ports::{Exchanges, Ports};
use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;

/// The grant type (RFC 8693 §2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only token type accepted as subject and issued (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// How a target names an upstream provider.
pub const PROVIDER_PREFIX: &str = "urn:bridgekeeper:provider:";

/// The parameters of a token-exchange request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest {
    pub subject_token: String,
    pub subject_token_type: String,
    pub requested_token_type: Option<String>,
    pub resource: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub actor_token: Option<String>,
}

/// [TX-4] RFC 8693 §2.1: `subject_token` and `subject_token_type` are required; `actor_token_type` comes with
/// `actor_token` and only with it.
pub fn parse(params: &Params) -> Result<ExchangeRequest, OAuthError> {
    let owned = |k: &str| params.get(k).map(str::to_string);
    let required = |k: &str| owned(k).ok_or_else(|| OAuthError::invalid_request(format!("{k} is required")));
    let req = ExchangeRequest {
        subject_token: required("subject_token")?,
        subject_token_type: required("subject_token_type")?,
        requested_token_type: owned("requested_token_type"),
        resource: owned("resource"),
        audience: owned("audience"),
        scope: owned("scope"),
        actor_token: owned("actor_token"),
    };
    if req.actor_token.is_some() != params.get("actor_token_type").is_some() {
        return Err(OAuthError::invalid_request("actor_token and actor_token_type come together"));
    }
    Ok(req)
}

/// Where the issued token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An upstream provider by id.
    Provider(String),
    /// Another API (delegation).
    Audience(String),
}

/// [TX-4] The token types: the subject is one of our access tokens, and an access token is what we issue; any
/// other type is `invalid_request` (RFC 8693 §2.2.2).
pub fn check_token_types(req: &ExchangeRequest) -> Result<(), OAuthError> {
    if req.subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request("subject_token_type must be an access token"));
    }
    if req.requested_token_type.as_deref().is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(OAuthError::invalid_request("only access tokens are issued (requested_token_type)"));
    }
    if req.actor_token.is_some() {
        return Err(OAuthError::invalid_request("actor_token is not accepted: the authenticated client is the actor"));
    }
    Ok(())
}

fn invalid_target(d: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, d)
}

/// [TX-4] One target per request, from `resource` or `audience` (both only if equal); none is `invalid_request`.
pub fn target(req: &ExchangeRequest) -> Result<Target, OAuthError> {
    let t = match (req.resource.as_deref(), req.audience.as_deref()) {
        (None, None) => return Err(OAuthError::invalid_request("resource or audience is required")),
        (Some(r), Some(a)) if r != a => return Err(invalid_target("resource and audience name different targets")),
        (Some(t), _) | (None, Some(t)) => t,
    };
    match t.strip_prefix(PROVIDER_PREFIX) {
        Some("") => Err(invalid_target("no provider named")),
        Some(p) => Ok(Target::Provider(p.to_string())),
        None => Ok(Target::Audience(t.to_string())),
    }
}

/// A live access token of ours presented as `subject_token`: verified, not revoked, its grant, client and
/// person active (the server checks all of that before it answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectToken {
    /// The person (user id).
    pub sub: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Its audience (the issuer for a client's own token, the API for a delegated one).
    pub aud: String,
    pub scope: String,
    pub exp: i64,
    /// The grant it belongs to; `None` for a client's own token (client_credentials).
    pub grant_id: Option<String>,
    /// The actors of a delegated token, outermost first (empty: not delegated).
    pub actors: Vec<String>,
    /// [DP-7] The thumbprint of the DPoP key it is bound to (`cnf.jkt`), if it is.
    pub jkt: Option<String>,
}

fn bad_subject(d: &str) -> OAuthError {
    OAuthError::invalid_request(d)
}

/// [TX-5] An upstream token is handed only for a person's own, undelegated access token issued to the client that
/// asks: anything else (not ours, expired, revoked, an ID token, another client's token, a client's own token, a
/// delegated token) is `invalid_request` (RFC 8693 §2.2.2).
pub fn subject_for_upstream<'a>(s: Option<&'a SubjectToken>, client_id: &str) -> Result<&'a SubjectToken, OAuthError> {
    let s = s.ok_or_else(|| bad_subject("the subject_token is not an active access token"))?;
    if s.client_id != client_id {
        return Err(bad_subject("the subject_token was not issued to this client"));
    }
    if s.grant_id.is_none() || !s.actors.is_empty() {
        return Err(bad_subject("the subject_token does not act for a person directly"));
    }
    Ok(s)
}

/// [TX-6] The upstream scopes a subject token may reach: the provider's base `scopes` and what its `[scope_map]`
/// maps the token's downstream scopes to (sorted, each once). What the identity granted through another app (or
/// another sign-in) beyond that is not this token's to use.
pub fn upstream_allowed(base: &[String], scope_map: &ScopeMap, subject_scope: &str) -> Vec<String> {
    let mut out: Vec<String> = base.to_vec();
    for s in subject_scope.split(' ').filter(|s| !s.is_empty()) {
        out.extend(scope_map.get(s).into_iter().flatten().cloned());
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The downstream -> upstream scope map of a provider.
pub type ScopeMap = std::collections::BTreeMap<String, Vec<String>>;

fn words(s: &str) -> Vec<&str> {
    s.split(' ').filter(|s| !s.is_empty()).collect()
}

fn step_up_error(missing: &[&str], why: &str, scope_map: &ScopeMap) -> OAuthError {
    let via = step_up_scopes(missing, scope_map);
    OAuthError::invalid_scope(if via.is_empty() {
        format!("{why} {}, and no downstream scope maps to it", missing.join(" "))
    } else {
        format!("{why} {}; send them to /authorize with scope {} and prompt=login", missing.join(" "), via.join(" "))
    })
}

/// [TX-6][TX-9] Checked before the vault is asked: upstream scopes asked beyond what the subject token may reach
/// ([`upstream_allowed`]) are `invalid_scope` without an upstream call.
pub fn check_asked_upstream(asked: Option<&str>, allowed: &[String], scope_map: &ScopeMap) -> Result<(), OAuthError> {
    let Some(a) = asked else { return Ok(()) };
    let asked = words(a);
    if asked.is_empty() {
        return Err(OAuthError::invalid_scope("scope is empty"));
    }
    let missing: Vec<&str> = asked.into_iter().filter(|s| !allowed.iter().any(|x| x == s)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(step_up_error(&missing, "the subject token's scopes do not reach", scope_map))
}

/// [TX-6] Upstream scopes: without `scope`, what the identity granted; with it, a subset of that (the upstream
/// token is handed as it is: the answer's `scope` is what it carries). More is `invalid_scope`, whose description
/// says how to get them ([TX-9]). An upstream token carrying scopes beyond `allowed` cannot be narrowed, so it is
/// refused (`invalid_scope`).
pub fn upstream_scope(
    asked: Option<&str>,
    granted: &str,
    allowed: &[String],
    scope_map: &ScopeMap,
) -> Result<String, OAuthError> {
    let have = words(granted);
    let beyond: Vec<&str> = have.iter().copied().filter(|s| !allowed.iter().any(|x| x == s)).collect();
    if !beyond.is_empty() {
        return Err(step_up_error(
            &beyond,
            "the upstream grant (an upstream token cannot be narrowed) carries scopes the subject token's do not reach:",
            scope_map,
        ));
    }
    let Some(a) = asked else { return Ok(granted.to_string()) };
    let asked = words(a);
    if asked.is_empty() {
        return Err(OAuthError::invalid_scope("scope is empty"));
    }
    let missing: Vec<&str> = asked.iter().copied().filter(|s| !have.contains(s)).collect();
    if missing.is_empty() {
        return Ok(granted.to_string());
    }
    Err(step_up_error(&missing, "the person has not granted upstream", scope_map))
}

/// [TX-9] Incremental upstream consent: the downstream scopes whose `[scope_map]` entry asks the upstream for any
/// of `missing` (sorted, each once).
pub fn step_up_scopes(missing: &[&str], scope_map: &ScopeMap) -> Vec<String> {
    scope_map
        .iter()
        .filter(|(_, up)| up.iter().any(|u| missing.contains(&u.as_str())))
        .map(|(d, _)| d.clone())
        .collect()
}

/// [TX-7] A delegation rule from the configuration: `client` may exchange a person's access token for a token for
/// one of `audiences`, with at most `scopes`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationRule {
    pub client: String,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    /// Clients whose own (undelegated) person access tokens `client` may exchange; none unless listed (a client
    /// cannot exchange tokens issued to other clients unless allowed).
    #[serde(default)]
    pub subject_clients: Vec<String>,
    /// The audiences that name `client` itself: a delegated token for one of them (or for the client id) was issued
    /// for this API, so it may exchange it further.
    #[serde(default)]
    pub known_as: Vec<String>,
}

/// [TX-7] The rule letting `client_id` delegate to `audience`; none is `invalid_target`.
pub fn delegation_rule<'a>(
    rules: &'a [DelegationRule],
    client_id: &str,
    audience: &str,
) -> Result<&'a DelegationRule, OAuthError> {
    rules
        .iter()
        .find(|r| r.client == client_id && r.audiences.iter().any(|a| a == audience))
        .ok_or_else(|| invalid_target("this client may not exchange tokens for that audience"))
}

/// [TX-7] The subject of a delegation: a live access token acting for a person (not a client's own token), and
/// either issued for the API that asks (its `aud` is the client id or one of the rule's `known_as`) or an
/// undelegated token of a client the rule names in `subject_clients`; anything else is `invalid_request`.
pub fn subject_for_delegation<'a>(
    s: Option<&'a SubjectToken>,
    rule: &DelegationRule,
) -> Result<&'a SubjectToken, OAuthError> {
    let s = s.ok_or_else(|| bad_subject("the subject_token is not an active access token"))?;
    if s.grant_id.is_none() {
        return Err(bad_subject("the subject_token does not act for a person"));
    }
    let for_this_api = s.aud == rule.client || rule.known_as.contains(&s.aud);
    let from_a_named_client = s.actors.is_empty() && rule.subject_clients.contains(&s.client_id);
    if !for_this_api && !from_a_named_client {
        return Err(bad_subject(
            "the subject_token was neither issued for this client nor to a client its delegation rule names",
        ));
    }
    Ok(s)
}

/// [TX-7] Scope only narrows: the result is within the subject token's scope and the rule's, never `openid` or
/// `offline_access`; without `scope` it is that intersection; asking beyond it, or nothing left, is `invalid_scope`.
pub fn delegation_scope(asked: Option<&str>, subject_scope: &str, rule: &DelegationRule) -> Result<String, OAuthError> {
    let mut allowed: Vec<&str> = subject_scope
        .split(' ')
        .filter(|s| !s.is_empty() && !matches!(*s, "openid" | "offline_access"))
        .filter(|s| rule.scopes.iter().any(|r| r == s))
        .collect();
    allowed.sort_unstable();
    allowed.dedup();
    let mut out: Vec<&str> = match asked {
        None => allowed.clone(),
        Some(a) => a.split(' ').filter(|s| !s.is_empty()).collect(),
    };
    out.sort_unstable();
    out.dedup();
    if out.is_empty() || out.iter().any(|s| !allowed.contains(s)) {
        return Err(OAuthError::invalid_scope("the scope may only narrow what the subject token and the policy allow"));
    }
    Ok(out.join(" "))
}

/// [TX-8] RFC 8693 §4.1: the client is the current actor; earlier actors nest inside it.
pub fn actor_chain(client_id: &str, earlier: &[String]) -> Vec<String> {
    std::iter::once(client_id.to_string()).chain(earlier.iter().cloned()).collect()
}

/// [TX-8] A delegated token never outlives its subject token.
pub fn delegated_expiry(now: i64, ttl: i64, subject_exp: i64) -> i64 {
    now.saturating_add(ttl).min(subject_exp)
}

/// A fresh upstream access token, as the vault hands it. Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamAccess {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<i64>,
    pub scope: String,
}

impl std::fmt::Debug for UpstreamAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAccess")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// What a delegated broker token is minted from.
#[derive(Debug, Clone)]
pub struct Delegation<'a> {
    pub subject: &'a SubjectToken,
    pub client_id: &'a str,
    pub audience: &'a str,
    pub scope: &'a str,
    pub actors: &'a [String],
    pub exp: i64,
    /// [DP-7] The DPoP key the delegated token is bound to: the exchange request's proof's, if it sent one.
    pub jkt: Option<&'a str>,
}

/// The token type of an upstream answer as we repeat it (RFC 6749 §7.1: case-insensitive).
fn token_type(upstream: &str) -> String {
    if upstream.eq_ignore_ascii_case("bearer") { "Bearer".into() } else { upstream.to_string() }
}

/// Runs one token exchange for an authenticated client allowed the grant type.
pub(super) async fn run<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    req: &ExchangeRequest,
) -> Result<TokenOutcome, OAuthError> {
    check_token_types(req)?;
    let target = target(req)?;
    let x = ports.exchanges();
    match target {
        Target::Provider(p) => {
            // [TX-3] Checked before the subject token is looked at: an unlisted client learns nothing about it.
            if !x.provider_clients(&p).is_some_and(|l| l.iter().any(|c| c == client.client_id)) {
                return Err(invalid_target("this client may not exchange tokens for that provider"));
            }
            let subject = x.subject(&req.subject_token).await?;
            let s = subject_for_upstream(subject.as_ref(), client.client_id)?;
            // [DP-7] The client's own bound token is exchanged only with a proof of its key.
            crate::dpop::check_binding(s.jkt.as_deref(), client.dpop_jkt, "subject token")?;
            if !x.consented(&s.sub, client.client_id, &p).await? {
                return Err(bad_subject(
                    "the person has not allowed this app to act for them at that provider; send them through /authorize with prompt=consent",
                ));
            }
            let none = ScopeMap::new();
            let map = x.scope_map(&p).unwrap_or(&none);
            let allowed = upstream_allowed(x.provider_scopes(&p).unwrap_or(&[]), map, &s.scope);
            // [TX-6] A scope the token cannot reach is refused before the vault is asked (no upstream call).
            check_asked_upstream(req.scope.as_deref(), &allowed, map)?;
            let up = x.upstream_token(&s.sub, &p).await?;
            let scope = upstream_scope(req.scope.as_deref(), &up.scope, &allowed, map)?;
            Ok(TokenOutcome {
                access_token: up.access_token,
                token_type: token_type(&up.token_type).into(),
                expires_in: up.expires_in,
                scope,
                id_token: None,
                refresh_token: None,
                issued_token_type: Some(ACCESS_TOKEN_TYPE),
            })
        }
        Target::Audience(aud) => {
            let rule = delegation_rule(x.delegation_rules(), client.client_id, &aud)?;
            crate::resource::delegation_allowed(&aud, client.client_id, ports.policy().apis)?;
            let subject = x.subject(&req.subject_token).await?;
            let s = subject_for_delegation(subject.as_ref(), rule)?;
            crate::dpop::check_delegation_binding(s.jkt.as_deref(), client.dpop_jkt)?;
            // [RI-5] Into another API of `[[apis]]` the scope comes from the person's grant made for it.
            let apis = ports.policy().apis;
            let grant = match &s.grant_id {
                Some(g) if crate::resource::is_api(&aud, apis) && s.aud != aud && s.actors.is_empty() => {
                    x.grant_scope(g).await?
                }
                _ => None,
            };
            let view = grant.as_ref().map(|(scope, resources, client_id)| crate::resource::GrantView {
                scope,
                resources,
                client_id,
            });
            let subject =
                crate::resource::DelegationSubject { aud: &s.aud, scope: &s.scope, delegated: !s.actors.is_empty() };
            let source = crate::resource::delegation_source(&aud, &subject, view, apis)?;
            let scope = delegation_scope(req.scope.as_deref(), source, rule)?;
            // [RI-5] A token for an API of `[[apis]]` carries only its scopes; for another audience, none an API owns.
            let scope = crate::resource::token_scope(&scope, Some(&aud), apis);
            if scope.is_empty() {
                return Err(OAuthError::invalid_scope("none of the scopes is for that audience"));
            }
            let actors = actor_chain(client.client_id, &s.actors);
            let exp = delegated_expiry(ports.now(), x.delegated_ttl(), s.exp);
            let d = Delegation {
                subject: s,
                client_id: client.client_id,
                audience: &aud,
                scope: &scope,
                actors: &actors,
                exp,
                jkt: client.dpop_jkt,
            };
            let mut out = x.delegated(&d)?;
            out.issued_token_type = Some(ACCESS_TOKEN_TYPE);
            Ok(out)
        }
    }
}
