//! One token request run against the ports: the grants of RFC 6749 as sequences of the rules in [`rules`].

use super::ports::{
    Aborted, Grants, Hop, Minter, Ports, Redeemed, Revocation, Revoking, Rotated, Stop, Subject, Upstreams,
};
use super::rules::{self, RefreshState};
use super::{TokenOutcome, TokenRequest};
use crate::dpop;
use crate::error::OAuthError;

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
}

/// Runs one grant. The client is already authenticated and allowed this grant type [TK-4].
pub async fn exchange<P: Ports>(
    ports: &P,
    client: &TokenClient<'_>,
    req: &TokenRequest,
) -> Result<TokenOutcome, OAuthError> {
    match req {
        TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier } => {
            authorization_code(ports, client, code, redirect_uri.as_deref(), code_verifier.as_deref()).await
        }
        TokenRequest::RefreshToken { refresh_token, scope } => {
            refresh(ports, client, refresh_token, scope.as_deref()).await
        }
        TokenRequest::ClientCredentials { scope } => {
            let scope =
                rules::client_credentials_scope(scope.as_deref(), client.allowed_scopes, ports.policy().catalogue)?;
            ports.minter().for_client(client.client_id, &scope)
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
}

impl HopClient {
    fn of(c: &TokenClient<'_>) -> Self {
        HopClient {
            client_id: c.client_id.to_string(),
            may_refresh: c.may_refresh,
            allowed_scopes: c.allowed_scopes.to_vec(),
            public: c.public,
            dpop_jkt: c.dpop_jkt.map(String::from),
        }
    }

    fn view(&self) -> TokenClient<'_> {
        TokenClient {
            client_id: &self.client_id,
            may_refresh: self.may_refresh,
            allowed_scopes: &self.allowed_scopes,
            public: self.public,
            dpop_jkt: self.dpop_jkt.as_deref(),
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
) -> Result<TokenOutcome, OAuthError> {
    let (client, now) = (HopClient::of(client), ports.now());
    let (code, redirect_uri, verifier) = (code.to_string(), redirect_uri.map(String::from), verifier.map(String::from));
    ports
        .grants()
        .one_hop(move |h| redeem(h, &client.view(), &code, redirect_uri.as_deref(), verifier.as_deref(), now))
        .await
}

/// [AC-1]–[AC-5][PK-4][PK-5] RFC 6749 §4.1.3, inside one transaction.
fn redeem<S: Subject>(
    h: &mut dyn Hop<Subject = S>,
    client: &TokenClient<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: i64,
) -> Result<TokenOutcome, Stop> {
    let (code, grant, subject) = match h.redeem_code(code, client.client_id, now)? {
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
    rules::check_code(&code, redirect_uri, verifier, now)?;
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
        .for_user(&grant, &subject, &code.scope, code.nonce.as_deref(), client.may_refresh)
        .map_err(Stop::Aborted)?;
    if let Some(mut row) = row {
        row.dpop_jkt = dpop::refresh_binding(client.public, client.dpop_jkt).map(String::from);
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
) -> Result<TokenOutcome, OAuthError> {
    let ask = RefreshAsk {
        client: HopClient::of(client),
        token: token.to_string(),
        asked: asked.map(String::from),
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
    if found.upstream_recheck && !vouched {
        return Ok(Refreshed::AskUpstream(grant));
    }
    let (mut outcome, _) = h.minter().for_user(&grant, &subject, &scope, None, false)?;
    // Rotation: the successor keeps the family's full scope, so a narrowed request does not shrink later refreshes.
    let (next, mut row) = h.minter().refresh_token(&grant, &current.user_id, &current.scope);
    row.dpop_jkt = dpop::refresh_binding(client.public, client.dpop_jkt).map(String::from);
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
