//! One token request run against the ports: the grants of RFC 6749 as sequences of the rules in [`rules`].

use super::ports::{GrantRecord, Grants, Minter, Ports, Redeemed, Revocation, Revoking, Rotated, Subject, Upstreams};
use super::rules::{self, RefreshState};
use super::{TokenOutcome, TokenRequest};
use crate::error::OAuthError;
use crate::{dpop, resource};

/// The authenticated client, as far as the grants care.
#[derive(Debug, Clone)]
pub struct TokenClient<'a> {
    pub client_id: &'a str,
    /// May it hold refresh tokens (`refresh_token` among its grant types)?
    pub may_refresh: bool,
    pub allowed_scopes: &'a [String],
    /// A public client (no credentials): its refresh tokens are bound to its DPoP key ([DP-4]).
    pub public: bool,
    /// [DP-4] The thumbprint of the key of the request's valid DPoP proof, if it sent one.
    pub dpop_jkt: Option<&'a str>,
    /// [FA-5] Are its refresh tokens rotated at each use? A client whose tokens are not (a fapi2 client) keeps one
    /// refresh token, bound to the DPoP key of the request that issued it.
    pub rotate: bool,
}

/// Runs one grant. The client is already authenticated and allowed this grant type [TK-4].
pub async fn exchange<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    req: &TokenRequest,
) -> Result<TokenOutcome, OAuthError> {
    match req {
        TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier, resource } => {
            let (uri, verifier) = (redirect_uri.as_deref(), code_verifier.as_deref());
            authorization_code(ports, client, code, uri, verifier, resource.as_deref()).await
        }
        TokenRequest::RefreshToken { refresh_token, scope, resource } => {
            refresh(ports, client, refresh_token, scope.as_deref(), resource.as_deref()).await
        }
        TokenRequest::ClientCredentials { scope, resource } => {
            let policy = ports.policy();
            let all = rules::client_credentials_scope(scope.as_deref(), client.allowed_scopes, policy.catalogue)?;
            // [RI-4] [RI-5] One audience, and only its scopes.
            let aud = resource::audience_for_client(resource.as_deref(), client.client_id, policy.apis)?;
            let aud = aud.map(|a| a.identifier.as_str());
            let scope = resource::client_scope(scope.is_some(), &all, aud, policy.apis)?;
            ports.minter().for_client_to(client.client_id, &scope, aud)
        }
        TokenRequest::TokenExchange(x) => super::token_exchange::run(ports, client, x).await,
    }
}

/// [AC-1]–[AC-5][PK-4][PK-5] RFC 6749 §4.1.3.
async fn authorization_code<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let now = ports.now();
    // [RI-4] The audience is decided before the code is spent: a resource error leaves it for the retry.
    let apis = ports.policy().apis;
    resource::audience_for_client(resource, client.client_id, apis)?;
    if let Some(granted) = ports.grants().code_resources(code, client.client_id).await? {
        resource::audience_for_grant(resource, &granted, client.client_id, apis)?;
    }
    let code = match ports.grants().redeem_code(code, client.client_id, now).await? {
        Redeemed::Fresh(code) => code,
        Redeemed::Replayed(code) => {
            // [AC-1] RFC 6749 §4.1.2: revoke what the first redemption produced.
            let r = Revoking {
                grant_id: &code.grant_id,
                user_id: &code.user_id,
                client_id: &code.client_id,
                why: Revocation::CodeReuse,
            };
            ports.grants().revoke(&r, now).await?;
            return Err(OAuthError::invalid_grant("the authorization code was already used"));
        }
        Redeemed::Unknown => return Err(OAuthError::invalid_grant("the authorization code is invalid")),
    };
    rules::check_code(&code, redirect_uri, verifier, now)?;
    // [DP-4] RFC 9449 §10: a code bound to a key at /authorize or /par is redeemed with a proof of that key.
    dpop::check_binding(code.dpop_jkt.as_deref(), client.dpop_jkt, "authorization code")?;
    let (grant, subject) = ports.grants().grant_and_subject(&code.grant_id, &code.user_id, &code.scope, now).await?;
    let grant = grant.filter(|g| rules::grant_usable(g, now, true));
    let (Some(grant), Some(subject)) = (grant, subject.filter(|s| !s.disabled())) else {
        return Err(OAuthError::invalid_grant("the grant is no longer valid"));
    };
    let aud = audience(ports, &grant, resource, client)?;
    let (outcome, row) =
        ports.minter().for_user_to(&grant, &subject, &code.scope, code.nonce.as_deref(), client.may_refresh, aud)?;
    if let Some(mut row) = row {
        row.dpop_jkt = dpop::refresh_binding(client.public || !client.rotate, client.dpop_jkt).map(String::from);
        ports.grants().store_refresh(row).await?;
    }
    Ok(outcome)
}

/// [RT-1]–[RT-6] RFC 6749 §6 with rotation (RFC 9700 §4.14.2).
async fn refresh<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    token: &str,
    asked: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let now = ports.now();
    let found = ports.grants().find_refresh(token).await?;
    let state = rules::refresh_state(found.as_ref(), client.client_id, now);
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid");
    let Some(current) = found.filter(|_| state != RefreshState::Unknown) else { return Err(invalid()) };
    // Checked before the token is spent, so a bad request does not burn a good token.
    let scope = rules::refresh_scope(asked, &current.scope)?;
    match state {
        RefreshState::Unknown | RefreshState::Revoked => return Err(invalid()),
        RefreshState::Spent { used_at } => return Err(reused(ports, &current, used_at, now).await),
        RefreshState::Expired => return Err(OAuthError::invalid_grant("the refresh token has expired")),
        RefreshState::Usable => {}
    }
    // [DP-4] RFC 9449 §5: a bound refresh token is used only with a proof of its key (checked before it is spent).
    dpop::check_binding(current.dpop_jkt.as_deref(), client.dpop_jkt, "refresh token")?;
    let (grant, subject) = ports.grants().grant_and_subject(&current.grant_id, &current.user_id, &scope, now).await?;
    let grant = grant.filter(|g| rules::grant_usable(g, now, false));
    let (Some(grant), Some(subject)) = (grant, subject.filter(|s| !s.disabled())) else {
        return Err(OAuthError::invalid_grant("the grant is no longer valid"));
    };
    // [RI-4] Checked before the token is spent and before the upstream is asked.
    let aud = audience(ports, &grant, resource, client)?;
    ports.upstreams().recheck(&grant).await?;
    let (mut outcome, _) = ports.minter().for_user_to(&grant, &subject, &scope, None, false, aud)?;
    if !client.rotate && current.dpop_jkt.is_some() {
        // [FA-5] Not rotated: the same token stays valid (bound to the client and, checked above, its DPoP key).
        // An unbound one (issued before the client was given its profile) is rotated once into a bound successor.
        return Ok(outcome);
    }
    // Rotation: the successor keeps the family's full scope, so a narrowed request does not shrink later refreshes.
    let (next, mut row) = ports.minter().refresh_token(&grant, &current.user_id, &current.scope);
    row.dpop_jkt = dpop::refresh_binding(client.public || !client.rotate, client.dpop_jkt).map(String::from);
    // Spending the old token and storing its successor happen in one transaction: a crash leaves either both or
    // neither, so no client ever holds a token the database does not know.
    match ports.grants().rotate(&current.token_hash, row, now).await? {
        Rotated::Rotated => {}
        Rotated::Lost(t) => return Err(reused(ports, &t, t.used_at.unwrap_or(now), now).await),
        Rotated::Dead => return Err(OAuthError::invalid_grant("the refresh token is invalid")),
    }
    outcome.refresh_token = Some(next);
    Ok(outcome)
}

/// [RI-4] The one audience of a user's access token, from the resources its grant holds.
fn audience<'p, P: Ports>(
    ports: &'p P,
    grant: &GrantRecord,
    asked: Option<&str>,
    client: &TokenClient<'_>,
) -> Result<Option<&'p str>, OAuthError> {
    let apis = ports.policy().apis;
    Ok(resource::audience_for_grant(asked, &grant.resources, client.client_id, apis)?.map(|a| a.identifier.as_str()))
}

/// [RT-4] A refresh token presented again after it was rotated. `now` is the request's time, read once when it
/// arrived: a slow upstream re-check must not push a racing duplicate past the grace window.
async fn reused<P: Ports>(ports: &P, t: &super::ports::RefreshRecord, used_at: i64, now: i64) -> OAuthError {
    if !rules::reuse_revokes_family(used_at, now, ports.policy().refresh_reuse_grace_secs) {
        return OAuthError::invalid_grant("the refresh token was already used");
    }
    let r =
        Revoking { grant_id: &t.grant_id, user_id: &t.user_id, client_id: &t.client_id, why: Revocation::RefreshReuse };
    match ports.grants().revoke(&r, now).await {
        Ok(()) => OAuthError::invalid_grant("the refresh token was already used; its grant is revoked"),
        Err(e) => e,
    }
}
