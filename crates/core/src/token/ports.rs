//! What the token grants need from the server, as small traits (ports) over plain records. The server implements
//! them over its database, keys and upstream registry; unit tests implement them in memory.
//!
//! The futures need not be `Send`: the server runs handlers on actix-web's per-thread runtime.
#![allow(async_fn_in_trait)]

use super::TokenOutcome;
use crate::error::OAuthError;

/// An authorization code as stored when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    /// The `redirect_uri` sent in the authorization request, if one was sent.
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
    /// [DP-4] The DPoP key thumbprint the authorization request bound the code to (`dpop_jkt`).
    pub dpop_jkt: Option<String>,
}

/// The result of spending a code in one conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// First use: the code is now spent.
    Fresh(CodeRecord),
    /// Spent before: what the first use produced must be revoked [AC-1].
    Replayed(CodeRecord),
    /// Unknown, or issued to another client (left untouched) [AC-2].
    Unknown,
}

/// A grant: one person's consent to one client, the family every token of it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    /// The person; `None` for a client's own grant.
    pub user_id: Option<String>,
    /// The broker session the grant was made in (opaque here; it names the upstream sign-in).
    pub session: Option<String>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    /// Absolute end of the grant (the refresh family's absolute lifetime).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// [RI-2] The resources (RFC 8707) granted with it, sorted; every token of the family may be for one of them.
    pub resources: Vec<String>,
}

/// A refresh token as stored (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when the token was rotated.
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// [DP-4] The DPoP key thumbprint the token is bound to (public clients only, RFC 9449 §5).
    pub dpop_jkt: Option<String>,
}

/// A rotation: spend the old token and store its successor in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    Rotated,
    /// Another request spent it first.
    Lost(RefreshRecord),
    /// Revoked or gone.
    Dead,
}

/// Why a grant is revoked (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// [AC-1] A code redeemed twice.
    CodeReuse,
    /// [RT-4] A rotated refresh token presented after the grace window.
    RefreshReuse,
}

/// The person a grant acts for, as far as the grants care.
pub trait Subject {
    fn disabled(&self) -> bool;
}

/// A refresh token as one statement finds it: with its grant, its person and whether the upstream must vouch.
#[derive(Debug, Clone)]
pub struct RefreshLoad<S> {
    pub token: RefreshRecord,
    pub grant: Option<GrantRecord>,
    /// The person as stored; [`Hop::subject_for_scope`] adds what a scope needs on top (fresh groups).
    pub subject: Option<S>,
    /// The grant's sign-in came through an upstream that re-checks on refresh (`refresh_upstream`), or that sign-in
    /// is gone: the refresh takes the longer path through [`Upstreams::recheck`].
    pub upstream_recheck: bool,
}

/// A store failure inside a [`Hop`]: the transaction is rolled back and the request fails with this error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aborted(pub OAuthError);

/// How a [`Hop`]'s work ends early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The store failed, or a refusal that must leave nothing spent (a resource error or a minting failure after a
    /// code was spent): nothing of the hop is kept.
    Aborted(OAuthError),
    /// A rule refused: what the hop wrote so far (a spent code, a revoked family) is committed.
    Refused(OAuthError),
}

impl From<Aborted> for Stop {
    fn from(a: Aborted) -> Self {
        Stop::Aborted(a.0)
    }
}

impl From<OAuthError> for Stop {
    fn from(e: OAuthError) -> Self {
        Stop::Refused(e)
    }
}

/// [DB-5] One transaction on one connection, in one blocking hop: what a grant reads and writes on its common path.
/// Each method is a statement or two; nothing here waits for the network.
pub trait Hop {
    type Subject: Subject;
    /// [RT-1] The refresh token with its grant and person, in one statement.
    fn find_refresh(&mut self, token: &str) -> Result<Option<RefreshLoad<Self::Subject>>, Aborted>;
    /// [AC-1][AC-2] Spends `code` for `client_id` (of racing redemptions exactly one is `Fresh`), with the code's
    /// grant and person as found with it. A hop may defer the spend of a code it read unspent to its first write
    /// (with the refresh token, in one statement) or its end; if another redemption spent it first, the hop answers
    /// `invalid_grant` and revokes the grant ([AC-1]) whatever the rules came to, and a refusal still spends it.
    #[allow(clippy::type_complexity)]
    fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        now: i64,
    ) -> Result<(Redeemed, Option<GrantRecord>, Option<Self::Subject>), Aborted>;
    /// The person with the claims `scope` releases, as of `now`.
    fn subject_for_scope(&mut self, subject: Self::Subject, scope: &str, now: i64) -> Result<Self::Subject, Aborted>;
    /// Revokes the grant and everything issued under it, with an audit record.
    fn revoke(&mut self, record: &Revoking<'_>, now: i64) -> Result<(), Aborted>;
    fn store_refresh(&mut self, row: RefreshRecord) -> Result<(), Aborted>;
    /// Spends `old_hash` (one conditional write) and stores `successor`.
    fn rotate(&mut self, old_hash: &str, successor: RefreshRecord, now: i64) -> Result<Rotated, Aborted>;
    /// Minting, as [`Ports::minter`].
    fn minter(&self) -> &dyn Minter<Subject = Self::Subject>;
}

/// Codes, grants and refresh tokens.
pub trait Grants {
    type Subject: Subject;
    /// [DB-5] Runs `f` in one transaction on one pooled connection, off the async workers: committed when `f`
    /// returns `Ok` or [`Stop::Refused`] (the refusal is then the answer), rolled back on [`Stop::Aborted`].
    async fn one_hop<T, F>(&self, f: F) -> Result<T, OAuthError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Hop<Subject = Self::Subject>) -> Result<T, Stop> + Send + 'static;
    /// The grant and its person with the claims `scope` releases, as of `now` (the device grant, [DV-5]).
    async fn grant_and_subject(
        &self,
        grant_id: &str,
        user_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<(Option<GrantRecord>, Option<Self::Subject>), OAuthError>;
    async fn store_refresh(&self, row: RefreshRecord) -> Result<(), OAuthError>;
}

/// What is being revoked and why.
#[derive(Debug, Clone, Copy)]
pub struct Revoking<'a> {
    pub grant_id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub why: Revocation,
}

/// Minting: signatures, random token values, lifetimes.
pub trait Minter {
    type Subject;
    /// Access token (for the broker's own audience), ID token when `openid` (with `nonce` iff sent), and — when
    /// `offline_access` and `with_refresh` — a new refresh token of the grant's family with its record to store.
    fn for_user(
        &self,
        grant: &GrantRecord,
        subject: &Self::Subject,
        scope: &str,
        nonce: Option<&str>,
        with_refresh: bool,
    ) -> Result<(TokenOutcome, Option<RefreshRecord>), OAuthError> {
        self.for_user_to(grant, subject, scope, nonce, with_refresh, None)
    }
    /// A new refresh token of the grant's family for `user_id` with `scope`: (token, record to store).
    fn refresh_token(&self, grant: &GrantRecord, user_id: &str, scope: &str) -> (String, RefreshRecord);
    /// An access token for the client itself (client_credentials).
    fn for_client(&self, client_id: &str, scope: &str) -> Result<TokenOutcome, OAuthError> {
        self.for_client_to(client_id, scope, None)
    }
    /// [RI-4] As [`Minter::for_user`], the access token for `audience` (an API's identifier; `None`: the broker's
    /// own audience), carrying of `scope` only what that audience may ([RI-5]), for its lifetime ([RI-6]).
    #[allow(clippy::too_many_arguments)]
    fn for_user_to(
        &self,
        grant: &GrantRecord,
        subject: &Self::Subject,
        scope: &str,
        nonce: Option<&str>,
        with_refresh: bool,
        audience: Option<&str>,
    ) -> Result<(TokenOutcome, Option<RefreshRecord>), OAuthError>;
    /// [RI-4] As [`Minter::for_client`], for `audience`.
    fn for_client_to(&self, client_id: &str, scope: &str, audience: Option<&str>) -> Result<TokenOutcome, OAuthError>;
}

/// The upstream re-check on refresh (`refresh_upstream` per provider): does the upstream the grant came through still accept the person?
pub trait Upstreams {
    async fn recheck(&self, grant: &GrantRecord) -> Result<(), OAuthError>;
}

/// RFC 8693 token exchange: the subject token as the server verified it, the facts of the exchange policy, the
/// vault, and the minting of delegated tokens.
pub trait Exchanges {
    /// The live access token of ours `token` is, if it is one (verified, not revoked, grant, client and person
    /// active); `None` for anything else (an ID token, a refresh token, garbage, expired, revoked).
    async fn subject(&self, token: &str) -> Result<Option<super::token_exchange::SubjectToken>, OAuthError>;
    /// [TX-3] The clients a provider lets exchange (`token_exchange_clients`); `None`: no such provider, or it keeps
    /// no tokens.
    fn provider_clients(&self, provider: &str) -> Option<&[String]>;
    /// [TX-9] The provider's `[scope_map]` (downstream scope -> upstream scopes).
    fn scope_map(&self, provider: &str) -> Option<&std::collections::BTreeMap<String, Vec<String>>>;
    /// [TX-6] The provider's base `scopes` (asked at every sign-in).
    fn provider_scopes(&self, provider: &str) -> Option<&[String]>;
    /// [TX-3] Did the person allow the client to act for them at the provider?
    async fn consented(&self, user_id: &str, client_id: &str, provider: &str) -> Result<bool, OAuthError>;
    /// [TX-1][TX-2] The person's fresh upstream access token at the provider (refreshed upstream if need be).
    async fn upstream_token(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<super::token_exchange::UpstreamAccess, OAuthError>;
    /// [RI-5] The scope, resources and client of a grant (for a delegation into an API of `[[apis]]`).
    async fn grant_scope(&self, grant_id: &str) -> Result<Option<(String, Vec<String>, String)>, OAuthError>;
    /// [TX-7] The configured delegation rules.
    fn delegation_rules(&self) -> &[super::token_exchange::DelegationRule];
    /// Lifetime of a delegated access token (capped by its subject's).
    fn delegated_ttl(&self) -> i64;
    /// [TX-8] Mints a delegated access token.
    fn delegated(&self, d: &super::token_exchange::Delegation<'_>) -> Result<TokenOutcome, OAuthError>;
}

/// The grant settings the rules read.
#[derive(Debug, Clone)]
pub struct GrantPolicy<'a> {
    /// [RT-4] How long a rotated refresh token's reappearance counts as a racing duplicate.
    pub refresh_reuse_grace_secs: i64,
    /// The scope catalogue (`[scopes]`), for client_credentials narrowing.
    pub catalogue: &'a std::collections::BTreeMap<String, String>,
    /// [RI-1] The APIs (`[[apis]]`), for the audience of each access token.
    pub apis: &'a [crate::resource::Api],
}

/// Everything [`exchange`](super::exchange) talks to.
pub trait Ports {
    type Subject: Subject;
    type Grants: Grants<Subject = Self::Subject>;
    type Minter: Minter<Subject = Self::Subject>;
    type Upstreams: Upstreams;
    type Exchanges: Exchanges;
    fn grants(&self) -> &Self::Grants;
    fn exchanges(&self) -> &Self::Exchanges;
    fn minter(&self) -> &Self::Minter;
    fn upstreams(&self) -> &Self::Upstreams;
    fn policy(&self) -> GrantPolicy<'_>;
    fn now(&self) -> i64;
}
