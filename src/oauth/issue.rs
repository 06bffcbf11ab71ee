//! Minting tokens: JWT access tokens (RFC 9068), ID tokens (OIDC Core §2), rotating refresh tokens.

use serde_json::{Map, Value};

use super::{ErrorCode, OAuthError};
use crate::accounts::users::claims_for_scopes;
use crate::state::AppState;
use crate::store::users::User;
use crate::tokens::claims::{ACCESS_TOKEN_TYP, AccessClaims};
use crate::tokens::jws;
use bridgekeeper_core::token::TokenOutcome;
use bridgekeeper_core::token::ports::{GrantRecord, RefreshRecord};

fn sign_err(_: crate::tokens::keys::KeyError) -> OAuthError {
    OAuthError::new(ErrorCode::ServerError, "token signing failed")
}

/// Who an access token is for, the DPoP key it is bound to ([DP-4]), and the settings snapshot of the request that
/// chose the audience ([HR-7]: the APIs, lifetimes and issuer it was chosen under).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// [RI-4] An API's identifier (RFC 8707); `None`: the broker's own audience (the issuer).
    pub audience: Option<&'a str>,
    pub dpop_jkt: Option<&'a str>,
    pub settings: &'a crate::settings::Settings,
}

/// What a signed access token says, apart from its audience.
struct AccessFor<'a> {
    sub: &'a str,
    client_id: &'a str,
    auth_time: Option<i64>,
    gid: Option<&'a str>,
    /// The grant's absolute end, for a user's token.
    until: Option<i64>,
}

/// A signed access token for `sub` (a user id, or the client id for client_credentials) for `to`: `aud` is the API
/// or the issuer, the scope only what that audience may carry ([RI-5]), the lifetime the API's ([RI-6]).
/// Returns the token, its scope and its lifetime.
fn access_token(
    state: &AppState,
    who: AccessFor<'_>,
    scope: &str,
    to: Target<'_>,
) -> Result<(String, String, i64), OAuthError> {
    use bridgekeeper_core::resource;
    let settings = to.settings;
    let now = state.clock.now();
    let scope = resource::token_scope(scope, to.audience, &settings.apis);
    let ttl = resource::token_ttl(to.audience, &settings.apis, settings.tokens.access_token_ttl_secs);
    // [RI-6] A user's token never outlives its grant's absolute end.
    let ttl = who.until.map_or(ttl, |end| ttl.min(end - now).max(0));
    let claims = AccessClaims {
        iss: settings.issuer.clone(),
        sub: who.sub.to_string(),
        aud: to.audience.unwrap_or(&settings.issuer).to_string(),
        client_id: who.client_id.to_string(),
        scope: scope.clone(),
        iat: now,
        exp: now + ttl,
        jti: crate::secret::random_token_bytes(16),
        auth_time: who.auth_time,
        gid: who.gid.map(String::from),
        act: None,
        cnf: to.dpop_jkt.map(crate::tokens::claims::Confirmation::jkt),
    };
    let token = jws::sign(state.keys().signer(settings.tokens.access_token_alg()), ACCESS_TOKEN_TYP, &claims)
        .map_err(sign_err)?;
    Ok((token, scope, ttl))
}

/// An ID token: iss, sub, aud, azp, exp, iat, auth_time, nonce (iff sent), at_hash, `sid` of the broker session it
/// was granted in ([BL-3]), and the scope's claims.
#[allow(clippy::too_many_arguments)]
pub fn id_token(
    state: &AppState,
    user: &User,
    client_id: &str,
    scopes: &[&str],
    auth_time: i64,
    nonce: Option<&str>,
    access_token: &str,
    sid: Option<&str>,
) -> Result<String, OAuthError> {
    let now = state.clock.now();
    let mut claims: Map<String, Value> = claims_for_scopes(user, scopes);
    claims.insert("iss".into(), state.settings().issuer.clone().into());
    claims.insert("aud".into(), client_id.into());
    claims.insert("azp".into(), client_id.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + state.settings().tokens.id_token_ttl_secs).into());
    claims.insert("auth_time".into(), auth_time.into());
    let alg = state.settings().tokens.id_token_alg();
    claims.insert("at_hash".into(), jws::half_hash_for(alg, access_token).into());
    if let Some(n) = nonce {
        claims.insert("nonce".into(), n.into());
    }
    if let Some(sid) = sid {
        claims.insert("sid".into(), sid.into());
    }
    jws::sign(state.keys().signer(alg), "JWT", &claims).map_err(sign_err)
}

/// [DP-4] RFC 9449 §5: a token bound to a DPoP key is of type `DPoP`.
fn token_type(dpop_jkt: Option<&str>) -> &'static str {
    if dpop_jkt.is_some() { "DPoP" } else { "Bearer" }
}

/// A new refresh token of `grant`'s family; returns (token, row to store).
pub fn refresh_token(state: &AppState, grant: &GrantRecord, user_id: &str, scope: &str) -> (String, RefreshRecord) {
    let now = state.clock.now();
    let token = crate::secret::random_token();
    let row = RefreshRecord {
        token_hash: crate::secret::hash_token(&token),
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        user_id: user_id.to_string(),
        scope: scope.to_string(),
        created_at: now,
        expires_at: (now + state.settings().tokens.refresh_idle_ttl_secs).min(grant.expires_at),
        used_at: None,
        revoked_at: None,
        dpop_jkt: None,
    };
    (token, row)
}

/// Everything a user grant yields: access token (for `to`), ID token when `openid` (from the whole `scope`: API
/// scopes release no claims), refresh token when `offline_access` and the client may refresh. The refresh row is
/// returned for the caller to store.
pub fn for_user(
    state: &AppState,
    grant: &GrantRecord,
    user: &User,
    scope: &str,
    nonce: Option<&str>,
    allow_refresh: bool,
    to: Target<'_>,
) -> Result<(TokenOutcome, Option<RefreshRecord>), OAuthError> {
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let auth_time = grant.auth_time.unwrap_or(grant.created_at);
    let who = AccessFor {
        sub: &user.id,
        client_id: &grant.client_id,
        auth_time: Some(auth_time),
        gid: Some(&grant.id),
        until: Some(grant.expires_at),
    };
    let (at, at_scope, ttl) = access_token(state, who, scope, to)?;
    let id_token = if scopes.contains(&"openid") {
        let sid = grant.session.as_deref().map(bridgekeeper_core::backchannel::sid_for_session);
        Some(id_token(state, user, &grant.client_id, &scopes, auth_time, nonce, &at, sid.as_deref())?)
    } else {
        None
    };
    let (refresh, row) = if allow_refresh && scopes.contains(&"offline_access") {
        let (t, row) = refresh_token(state, grant, &user.id, scope);
        (Some(t), Some(row))
    } else {
        (None, None)
    };
    Ok((
        TokenOutcome {
            access_token: at,
            token_type: token_type(to.dpop_jkt).into(),
            expires_in: Some(ttl),
            scope: at_scope,
            id_token,
            refresh_token: refresh,
            issued_token_type: None,
        },
        row,
    ))
}

/// An access token for the client itself (client_credentials): `sub` = the client id, no ID or refresh token.
pub fn for_client(state: &AppState, client_id: &str, scope: &str, to: Target<'_>) -> Result<TokenOutcome, OAuthError> {
    let who = AccessFor { sub: client_id, client_id, auth_time: None, gid: None, until: None };
    let (at, at_scope, ttl) = access_token(state, who, scope, to)?;
    Ok(TokenOutcome {
        access_token: at,
        token_type: token_type(to.dpop_jkt).into(),
        expires_in: Some(ttl),
        scope: at_scope,
        id_token: None,
        refresh_token: None,
        issued_token_type: None,
    })
}
