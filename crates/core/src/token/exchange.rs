//! One token request run against the ports: the grants of RFC 6749 as sequences of the rules in [`rules`].

use super::ports::{
    Aborted, GrantRecord, Grants, Hop, Minter, Ports, Redeemed, Revocation, Revoking, Rotated, Stop, Subject, Upstreams,
};
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

/// The client of one grant, owned: the hop that runs the grant's rules runs on another thread.
#[derive(Debug, Clone)]
struct HopClient {
    client_id: String,
    may_refresh: bool,
    allowed_scopes: Vec<String>,
    public: bool,
    dpop_jkt: Option<String>,
    rotate: bool,
}

impl HopClient {
    fn of(c: &TokenClient<'_>) -> Self {
        HopClient {
            client_id: c.client_id.to_string(),
            may_refresh: c.may_refresh,
            allowed_scopes: c.allowed_scopes.to_vec(),
            public: c.public,
            dpop_jkt: c.dpop_jkt.map(String::from),
            rotate: c.rotate,
        }
    }

    fn view(&self) -> TokenClient<'_> {
        TokenClient {
            client_id: &self.client_id,
            may_refresh: self.may_refresh,
            allowed_scopes: &self.allowed_scopes,
            public: self.public,
            dpop_jkt: self.dpop_jkt.as_deref(),
            rotate: self.rotate,
        }
    }
}

/// [DB-5] A code redemption is one hop: spend, the rules, mint, store the refresh token, in one transaction.
async fn authorization_code<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let (client, now) = (HopClient::of(client), ports.now());
    // [RI-4] A resource that is no API of this client's is refused before anything is read or spent.
    let apis = ports.policy().apis;
    resource::audience_for_client(resource, client.client_id.as_str(), apis)?;
    let ask = CodeAsk {
        code: code.to_string(),
        redirect_uri: redirect_uri.map(String::from),
        verifier: verifier.map(String::from),
        resource: resource.map(String::from),
        apis: apis.to_vec(),
    };
    ports.grants().one_hop(move |h| redeem(h, &client.view(), &ask, now)).await
}

/// A code redemption, owned (see [`HopClient`]).
#[derive(Debug, Clone)]
struct CodeAsk {
    code: String,
    redirect_uri: Option<String>,
    verifier: Option<String>,
    resource: Option<String>,
    /// [RI-1] The APIs of the request's settings snapshot.
    apis: Vec<resource::Api>,
}

/// [AC-1]–[AC-5][PK-4][PK-5] RFC 6749 §4.1.3, inside one transaction.
fn redeem<S: Subject>(
    h: &mut dyn Hop<Subject = S>,
    client: &TokenClient<'_>,
    ask: &CodeAsk,
    now: i64,
) -> Result<TokenOutcome, Stop> {
    let (code, grant, subject) = match h.redeem_code(&ask.code, client.client_id, now)? {
        (Redeemed::Fresh(code), grant, subject) => (code, grant, subject),
        (Redeemed::Replayed(code), _, _) => {
            // [AC-1] RFC 6749 §4.1.2: revoke what the first redemption produced.
            let r = Revoking {
                grant_id: &code.grant_id,
                user_id: &code.user_id,
                client_id: &code.client_id,
                why: Revocation::CodeReuse,
            };
            h.revoke(&r, now)?;
            return Err(OAuthError::invalid_grant("the authorization code was already used").into());
        }
        (Redeemed::Unknown, _, _) => return Err(OAuthError::invalid_grant("the authorization code is invalid").into()),
    };
    // [RI-4] The audience is decided from the grant read with the code: a resource error rolls the spend back, so
    // the code stays for the corrected retry (and the retry is no replay).
    let aud = match &grant {
        Some(g) => audience(&ask.apis, g, ask.resource.as_deref(), client).map_err(Stop::Aborted)?,
        None => None,
    };
    rules::check_code(&code, ask.redirect_uri.as_deref(), ask.verifier.as_deref(), now)?;
    // [DP-4] RFC 9449 §10: a code bound to a key at /authorize or /par is redeemed with a proof of that key.
    dpop::check_binding(code.dpop_jkt.as_deref(), client.dpop_jkt, "authorization code")?;
    let subject = subject.map(|s| h.subject_for_scope(s, &code.scope, now)).transpose()?;
    let grant = grant.filter(|g| rules::grant_usable(g, now, true));
    let (Some(grant), Some(subject)) = (grant, subject.filter(|s| !s.disabled())) else {
        return Err(OAuthError::invalid_grant("the grant is no longer valid").into());
    };
    // A minting failure is the server's, not the client's: the spend is rolled back and the code stays redeemable.
    let (outcome, row) = h
        .minter()
        .for_user_to(&grant, &subject, &code.scope, code.nonce.as_deref(), client.may_refresh, aud)
        .map_err(Stop::Aborted)?;
    if let Some(mut row) = row {
        row.dpop_jkt = dpop::refresh_binding(client.public || !client.rotate, client.dpop_jkt).map(String::from);
        h.store_refresh(row)?;
    }
    Ok(outcome)
}

/// What one refresh hop came to.
enum Refreshed {
    Issued(TokenOutcome),
    /// The rules passed, nothing is spent: the upstream must vouch first (the longer path).
    AskUpstream(super::ports::GrantRecord),
}

/// [DB-5] A refresh is one hop: load, the rules, mint, spend + store the successor, in one transaction. A grant whose
/// upstream re-checks takes the longer path: the rules in one hop, the re-check (the network) outside any
/// transaction, then the whole hop again on what the database holds by then, with the request's `now`.
async fn refresh<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    token: &str,
    asked: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let ask = RefreshAsk {
        client: HopClient::of(client),
        token: token.to_string(),
        asked: asked.map(String::from),
        resource: resource.map(String::from),
        apis: ports.policy().apis.to_vec(),
        now: ports.now(),
        grace: ports.policy().refresh_reuse_grace_secs,
    };
    let first = ask.clone();
    match ports.grants().one_hop(move |h| rotate(h, &first, false)).await? {
        Refreshed::Issued(outcome) => Ok(outcome),
        Refreshed::AskUpstream(grant) => {
            ports.upstreams().recheck(&grant).await?;
            match ports.grants().one_hop(move |h| rotate(h, &ask, true)).await? {
                Refreshed::Issued(outcome) => Ok(outcome),
                Refreshed::AskUpstream(_) => unreachable!("a vouched refresh does not ask again"),
            }
        }
    }
}

/// A refresh request, owned (see [`HopClient`]).
#[derive(Debug, Clone)]
struct RefreshAsk {
    client: HopClient,
    token: String,
    asked: Option<String>,
    resource: Option<String>,
    /// [RI-1] The APIs of the request's settings snapshot.
    apis: Vec<resource::Api>,
    /// Read once when the request arrived (see [`reused`]).
    now: i64,
    grace: i64,
}

/// [RT-1]–[RT-6] RFC 6749 §6 with rotation (RFC 9700 §4.14.2), inside one transaction. `vouched`: the upstream
/// re-check passed.
fn rotate<S: Subject>(h: &mut dyn Hop<Subject = S>, ask: &RefreshAsk, vouched: bool) -> Result<Refreshed, Stop> {
    let (client, now) = (ask.client.view(), ask.now);
    let found = h.find_refresh(&ask.token)?;
    let state = rules::refresh_state(found.as_ref().map(|f| &f.token), client.client_id, now);
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid");
    let Some(found) = found.filter(|_| state != RefreshState::Unknown) else { return Err(invalid().into()) };
    let current = &found.token;
    // Checked before the token is spent, so a bad request does not burn a good token.
    let scope = rules::refresh_scope(ask.asked.as_deref(), &current.scope)?;
    match state {
        RefreshState::Unknown | RefreshState::Revoked => return Err(invalid().into()),
        RefreshState::Spent { used_at } => return Err(reused(h, current, used_at, now, ask.grace)?.into()),
        RefreshState::Expired => return Err(OAuthError::invalid_grant("the refresh token has expired").into()),
        RefreshState::Usable => {}
    }
    // [DP-4] RFC 9449 §5: a bound refresh token is used only with a proof of its key (checked before it is spent).
    dpop::check_binding(current.dpop_jkt.as_deref(), client.dpop_jkt, "refresh token")?;
    let subject = found.subject.map(|s| h.subject_for_scope(s, &scope, now)).transpose()?;
    let grant = found.grant.filter(|g| rules::grant_usable(g, now, false));
    let (Some(grant), Some(subject)) = (grant, subject.filter(|s| !s.disabled())) else {
        return Err(OAuthError::invalid_grant("the grant is no longer valid").into());
    };
    // [RI-4] Checked before the token is spent and before the upstream is asked.
    let aud = audience(&ask.apis, &grant, ask.resource.as_deref(), &client)?;
    if found.upstream_recheck && !vouched {
        return Ok(Refreshed::AskUpstream(grant));
    }
    let (mut outcome, _) = h.minter().for_user_to(&grant, &subject, &scope, None, false, aud)?;
    if !client.rotate && current.dpop_jkt.is_some() {
        // [FA-5] Not rotated: the same token stays valid (bound to the client and, checked above, its DPoP key).
        // An unbound one (issued before the client was given its profile) is rotated once into a bound successor.
        return Ok(Refreshed::Issued(outcome));
    }
    // Rotation: the successor keeps the family's full scope, so a narrowed request does not shrink later refreshes.
    let (next, mut row) = h.minter().refresh_token(&grant, &current.user_id, &current.scope);
    row.dpop_jkt = dpop::refresh_binding(client.public || !client.rotate, client.dpop_jkt).map(String::from);
    // Spending the old token and storing its successor happen in one transaction: a crash leaves either both or
    // neither, so no client ever holds a token the database does not know.
    match h.rotate(&current.token_hash, row, now)? {
        Rotated::Rotated => {}
        Rotated::Lost(t) => return Err(reused(h, &t, t.used_at.unwrap_or(now), now, ask.grace)?.into()),
        Rotated::Dead => return Err(OAuthError::invalid_grant("the refresh token is invalid").into()),
    }
    outcome.refresh_token = Some(next);
    Ok(Refreshed::Issued(outcome))
}

/// [RI-4] The one audience of a user's access token, from the resources its grant holds.
fn audience<'a>(
    apis: &'a [resource::Api],
    grant: &GrantRecord,
    asked: Option<&str>,
    client: &TokenClient<'_>,
) -> Result<Option<&'a str>, OAuthError> {
    Ok(resource::audience_for_grant(asked, &grant.resources, client.client_id, apis)?.map(|a| a.identifier.as_str()))
}

/// [RT-4] A refresh token presented again after it was rotated. `now` is the request's time, read once when it
/// arrived: a slow upstream re-check must not push a racing duplicate past the grace window.
fn reused<S: Subject>(
    h: &mut dyn Hop<Subject = S>,
    t: &super::ports::RefreshRecord,
    used_at: i64,
    now: i64,
    grace: i64,
) -> Result<OAuthError, Aborted> {
    if !rules::reuse_revokes_family(used_at, now, grace) {
        return Ok(OAuthError::invalid_grant("the refresh token was already used"));
    }
    let r =
        Revoking { grant_id: &t.grant_id, user_id: &t.user_id, client_id: &t.client_id, why: Revocation::RefreshReuse };
    h.revoke(&r, now)?;
    Ok(OAuthError::invalid_grant("the refresh token was already used; its grant is revoked"))
}
