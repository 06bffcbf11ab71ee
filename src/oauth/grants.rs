//! The grants: authorization_code (single use, bound; reuse revokes), refresh_token (rotation, reuse
//! revokes the family, scope may only narrow), client_credentials.

use super::issue::{self, TokenResponse};
use super::params::Params;
use super::{ErrorCode, OAuthError};
use crate::accounts::upstream_tokens::Recheck;
use crate::accounts::users::find_for_scope as users_for_claims;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::codes::{self, Redemption};
use crate::store::refresh::{self, RefreshToken, Rotation};
use crate::store::{audit, grants};
use bridgekeeper_core::pkce;

pub async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = params.get("code_verifier");
    if verifier.is_some_and(|v| !pkce::valid_pkce_value(v)) {
        return Err(OAuthError::invalid_grant("code_verifier is malformed"));
    }
    let hash = crate::secret::hash_token(code);
    let (now, cid) = (state.clock.now(), client.client_id.clone());
    let redemption = state.db.run(move |c| codes::redeem(c, &hash, &cid, now)).await?;
    let code = match redemption {
        Redemption::Fresh(code) => code,
        Redemption::Replayed(code) => {
            // RFC 6749 §4.1.2: revoke what the first redemption produced.
            let event = audit::AuditEvent::new(now, "code_reuse").user(&code.user_id).client(&code.client_id);
            state
                .db
                .run(move |c| {
                    grants::revoke(c, &code.grant_id, now)?;
                    audit::record(c, &event)
                })
                .await?;
            return Err(OAuthError::invalid_grant("the authorization code was already used"));
        }
        Redemption::Unknown => return Err(OAuthError::invalid_grant("the authorization code is invalid")),
    };
    if code.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    if let Some(sent) = &code.redirect_uri
        && params.get("redirect_uri") != Some(sent.as_str())
    {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    pkce::check_verifier(code.code_challenge.as_deref(), verifier)?;
    let (gid, uid, scope) = (code.grant_id.clone(), code.user_id.clone(), code.scope.clone());
    let ages = state.upstreams.group_ages.clone();
    let (grant, user) =
        state.db.run(move |c| Ok((grants::find(c, &gid)?, users_for_claims(c, &uid, &scope, &ages, now)?))).await?;
    // A revocation from before this redemption (logout) refuses; one racing it (a concurrent replay) does not
    // change the answer: tokens issued here belong to the revoked grant and are dead on arrival.
    let grant = grant.filter(|g| g.revoked_at.is_none_or(|r| r >= now) && g.expires_at > now);
    let (Some(grant), Some(user)) = (grant, user.filter(|u| !u.disabled)) else {
        return Err(OAuthError::invalid_grant("the grant is no longer valid"));
    };
    let (resp, rt) = issue::for_user(
        state,
        &grant,
        &user,
        &code.scope,
        code.nonce.as_deref(),
        client.allows_grant("refresh_token"),
    )?;
    if let Some(rt) = rt {
        state.db.run(move |c| refresh::insert(c, &rt)).await?;
    }
    Ok(resp)
}

pub async fn refresh_token(state: &AppState, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let token = params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let hash = crate::secret::hash_token(token);
    let now = state.clock.now();
    let h = hash.clone();
    let found = state.db.run(move |c| refresh::find(c, &h)).await?;
    // Bound to the client: another client's token is refused without touching it.
    let Some(found) = found.filter(|t| t.client_id == client.client_id) else {
        return Err(OAuthError::invalid_grant("the refresh token is invalid"));
    };
    // Checked before the token is spent, so a bad request does not burn a good token.
    let scope = match params.get("scope") {
        None => found.scope.clone(),
        Some(s) => {
            let asked: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
            if asked.is_empty() || !crate::scopes::is_subset(&asked, &found.scope) {
                return Err(OAuthError::invalid_scope("the scope exceeds what was granted"));
            }
            let mut asked: Vec<&str> = asked;
            asked.sort_unstable();
            asked.dedup();
            asked.join(" ")
        }
    };

    let current = found;
    if current.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("the refresh token is invalid"));
    }
    if let Some(used_at) = current.used_at {
        return Err(reused(state, &current, used_at, now).await?);
    }
    if current.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let (gid, uid, released) = (current.grant_id.clone(), current.user_id.clone(), scope.clone());
    let ages = state.upstreams.group_ages.clone();
    let (grant, user) =
        state.db.run(move |c| Ok((grants::find(c, &gid)?, users_for_claims(c, &uid, &released, &ages, now)?))).await?;
    let grant = grant.filter(|g| g.revoked_at.is_none() && g.expires_at > now);
    let (Some(grant), Some(user)) = (grant, user.filter(|u| !u.disabled)) else {
        return Err(OAuthError::invalid_grant("the grant is no longer valid"));
    };
    match crate::accounts::upstream_tokens::recheck(state, &grant).await {
        Ok(()) => {}
        Err(Recheck::Refused) => return Err(OAuthError::invalid_grant("the upstream account is no longer valid")),
        Err(Recheck::Unavailable) => {
            return Err(OAuthError::new(ErrorCode::TemporarilyUnavailable, "the upstream provider cannot be reached"));
        }
        Err(Recheck::Store(e)) => return Err(e.into()),
    }
    let (mut resp, _) = issue::for_user(state, &grant, &user, &scope, None, false)?;
    // Rotation: the successor keeps the family's full scope, so a narrowed request does not shrink later refreshes.
    let (next, row) = issue::refresh_token(state, &grant, &user.id, &current.scope);
    // Spending the old token and storing its successor happen in one transaction: a crash leaves either both or
    // neither, so no client ever holds a token the database does not know.
    let old = current.token_hash.clone();
    match state.db.run(move |c| refresh::rotate(c, &old, &row, now)).await? {
        Rotation::Rotated => {}
        Rotation::Lost(t) => return Err(reused(state, &t, t.used_at.unwrap_or(now), now).await?),
        Rotation::Dead => return Err(OAuthError::invalid_grant("the refresh token is invalid")),
    }
    resp.refresh_token = Some(next);
    Ok(resp)
}

/// A refresh token presented again after it was rotated. Less than `refresh_reuse_grace_secs` after its rotation this
/// is taken for a racing duplicate of the same client (refused, nothing revoked); later it betrays a copy, and the
/// whole family is revoked (RFC 9700 §4.14.2).
async fn reused(state: &AppState, t: &RefreshToken, used_at: i64, now: i64) -> Result<OAuthError, OAuthError> {
    if now - used_at < state.settings.tokens.refresh_reuse_grace_secs {
        return Ok(OAuthError::invalid_grant("the refresh token was already used"));
    }
    state.metrics.refresh_reuse.inc();
    let event = audit::AuditEvent::new(now, "refresh_reuse").user(&t.user_id).client(&t.client_id);
    let gid = t.grant_id.clone();
    state
        .db
        .run(move |c| {
            grants::revoke(c, &gid, now)?;
            audit::record(c, &event)
        })
        .await?;
    Ok(OAuthError::invalid_grant("the refresh token was already used; its grant is revoked"))
}

pub fn client_credentials(state: &AppState, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let allowed: Vec<String> =
        client.allowed_scopes.iter().filter(|s| !matches!(s.as_str(), "openid" | "offline_access")).cloned().collect();
    let scopes = match params.get("scope") {
        None => allowed,
        Some(s) => {
            crate::scopes::narrow(Some(s), &allowed, &state.settings.scopes).map_err(OAuthError::invalid_scope)?
        }
    };
    let scope = scopes.join(" ");
    let at = issue::access_token(state, &client.client_id, &client.client_id, &scope, None, None)?;
    Ok(TokenResponse {
        access_token: at,
        token_type: "Bearer",
        expires_in: state.settings.tokens.access_token_ttl_secs,
        scope,
        id_token: None,
        refresh_token: None,
    })
}
