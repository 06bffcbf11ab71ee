//! The grants as sequences, against in-memory ports: no database, no HTTP, no runtime (every port answers at once).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::ports::*;
use super::{TokenClient, TokenOutcome, TokenRequest, exchange};
use crate::error::{ErrorCode, OAuthError};

const NOW: i64 = 1_000;

/// Polls a future whose ports never wait.
pub(super) fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("in-memory ports never wait"),
    }
}

pub(super) struct Person {
    disabled: bool,
}
impl Subject for Person {
    fn disabled(&self) -> bool {
        self.disabled
    }
}

#[derive(Default)]
pub(super) struct Memory {
    pub(super) codes: RefCell<BTreeMap<String, (CodeRecord, bool)>>,
    pub(super) grants: RefCell<BTreeMap<String, GrantRecord>>,
    pub(super) refresh: RefCell<BTreeMap<String, RefreshRecord>>,
    pub(super) revoked: RefCell<Vec<(String, Revocation)>>,
    upstream_refuses: bool,
    minted: RefCell<u32>,
    catalogue: BTreeMap<String, String>,
    grace: i64,
    clock: Cell<i64>,
    /// Another request rotates `old` while this one waits for the upstream (and the clock moves on).
    race_during_recheck: bool,
    /// Signing fails; and how the last hop ended (`Some(true)`: aborted).
    mint_fails: bool,
    aborted: Cell<Option<bool>>,
    /// Token exchange: live subject tokens by value, the provider's exchange clients, consents
    /// (user, client, provider), the vault's answer, delegation rules, upstream token requests.
    pub(super) subjects: BTreeMap<String, super::token_exchange::SubjectToken>,
    pub(super) exchange_clients: Vec<String>,
    pub(super) exchange_consents: Vec<(String, String, String)>,
    pub(super) upstream: Option<super::token_exchange::UpstreamAccess>,
    pub(super) rules: Vec<super::token_exchange::DelegationRule>,
    pub(super) upstream_calls: Cell<u32>,
    pub(super) scope_map: BTreeMap<String, Vec<String>>,
    pub(super) base_scopes: Vec<String>,
    /// [RI-1] The APIs, and the audience each minted access token was for (`None`: the broker's own).
    pub(super) apis: Vec<crate::resource::Api>,
    pub(super) audiences: RefCell<Vec<Option<String>>>,
    pub(super) grant_scopes: BTreeMap<String, String>,
    /// Upstream re-checks asked (refresh).
    pub(super) rechecks: Cell<u32>,
}

impl Exchanges for Memory {
    async fn subject(&self, token: &str) -> Result<Option<super::token_exchange::SubjectToken>, OAuthError> {
        Ok(self.subjects.get(token).cloned())
    }
    fn provider_clients(&self, provider: &str) -> Option<&[String]> {
        (provider == "gh").then_some(self.exchange_clients.as_slice())
    }
    fn scope_map(&self, _: &str) -> Option<&BTreeMap<String, Vec<String>>> {
        Some(&self.scope_map)
    }
    fn provider_scopes(&self, _: &str) -> Option<&[String]> {
        Some(&self.base_scopes)
    }
    async fn consented(&self, user: &str, client: &str, provider: &str) -> Result<bool, OAuthError> {
        Ok(self.exchange_consents.iter().any(|(u, c, p)| u == user && c == client && p == provider))
    }
    async fn upstream_token(&self, _: &str, _: &str) -> Result<super::token_exchange::UpstreamAccess, OAuthError> {
        self.upstream_calls.set(self.upstream_calls.get() + 1);
        self.upstream.clone().ok_or_else(|| OAuthError::invalid_grant("sign in again"))
    }
    async fn grant_scope(&self, grant_id: &str) -> Result<Option<(String, Vec<String>, String)>, OAuthError> {
        let g = self.grants.borrow().get(grant_id).cloned();
        Ok(g.map(|g| (self.grant_scopes.get(grant_id).cloned().unwrap_or_default(), g.resources, g.client_id)))
    }
    fn delegation_rules(&self) -> &[super::token_exchange::DelegationRule] {
        &self.rules
    }
    fn delegated_ttl(&self) -> i64 {
        600
    }
    fn delegated(&self, d: &super::token_exchange::Delegation<'_>) -> Result<TokenOutcome, OAuthError> {
        let mut o = outcome(d.scope, None);
        o.access_token = format!("delegated:{}:{}:{}:{}", d.subject.sub, d.audience, d.actors.join(">"), d.exp);
        if let Some(k) = d.jkt {
            o.access_token.push_str(&format!(":{k}"));
        }
        Ok(o)
    }
}

impl Grants for Memory {
    type Subject = Person;
    async fn one_hop<T, F>(&self, f: F) -> Result<T, OAuthError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Hop<Subject = Person>) -> Result<T, Stop> + Send + 'static,
    {
        // A rollback restores what the hop wrote (codes, grants, refresh tokens, revocations), as the store's does.
        let saved = (self.codes.borrow().clone(), self.grants.borrow().clone(), self.refresh.borrow().clone());
        let revoked = self.revoked.borrow().len();
        let out = f(&mut MemHop(self));
        self.aborted.set(Some(matches!(out, Err(Stop::Aborted(_)))));
        if let Err(Stop::Aborted(_)) = out {
            (*self.codes.borrow_mut(), *self.grants.borrow_mut(), *self.refresh.borrow_mut()) = saved;
            self.revoked.borrow_mut().truncate(revoked);
        }
        match out {
            Ok(v) => Ok(v),
            Err(Stop::Refused(e) | Stop::Aborted(e)) => Err(e),
        }
    }
    async fn grant_and_subject(
        &self,
        grant_id: &str,
        _: &str,
        _: &str,
        _: i64,
    ) -> Result<(Option<GrantRecord>, Option<Person>), OAuthError> {
        Ok((self.grants.borrow().get(grant_id).cloned(), Some(Person { disabled: false })))
    }
    async fn store_refresh(&self, row: RefreshRecord) -> Result<(), OAuthError> {
        self.refresh.borrow_mut().insert(row.token_hash.clone(), row);
        Ok(())
    }
}

pub(super) struct MemHop<'a>(&'a Memory);

impl Hop for MemHop<'_> {
    type Subject = Person;
    fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        _: i64,
    ) -> Result<(Redeemed, Option<GrantRecord>, Option<Person>), Aborted> {
        let mut codes = self.0.codes.borrow_mut();
        let redeemed = match codes.get_mut(code) {
            Some((c, _)) if c.client_id != client_id => Redeemed::Unknown,
            Some((c, used)) if *used => Redeemed::Replayed(c.clone()),
            Some((c, used)) => {
                *used = true;
                Redeemed::Fresh(c.clone())
            }
            None => Redeemed::Unknown,
        };
        let grant = match &redeemed {
            Redeemed::Fresh(c) | Redeemed::Replayed(c) => self.0.grants.borrow().get(&c.grant_id).cloned(),
            Redeemed::Unknown => None,
        };
        Ok((redeemed, grant, Some(Person { disabled: false })))
    }
    fn subject_for_scope(&mut self, subject: Person, _: &str, _: i64) -> Result<Person, Aborted> {
        Ok(subject)
    }
    fn revoke(&mut self, r: &Revoking<'_>, now: i64) -> Result<(), Aborted> {
        self.0.revoked.borrow_mut().push((r.grant_id.to_string(), r.why));
        if let Some(g) = self.0.grants.borrow_mut().get_mut(r.grant_id) {
            g.revoked_at = Some(now);
        }
        Ok(())
    }
    fn find_refresh(&mut self, token: &str) -> Result<Option<RefreshLoad<Person>>, Aborted> {
        let Some(t) = self.0.refresh.borrow().get(token).cloned() else { return Ok(None) };
        let grant = self.0.grants.borrow().get(&t.grant_id).cloned();
        Ok(Some(RefreshLoad { token: t, grant, subject: Some(Person { disabled: false }), upstream_recheck: true }))
    }
    fn store_refresh(&mut self, row: RefreshRecord) -> Result<(), Aborted> {
        self.0.refresh.borrow_mut().insert(row.token_hash.clone(), row);
        Ok(())
    }
    fn rotate(&mut self, old: &str, successor: RefreshRecord, now: i64) -> Result<Rotated, Aborted> {
        let mut rts = self.0.refresh.borrow_mut();
        match rts.get_mut(old) {
            Some(t) if t.used_at.is_some() => Ok(Rotated::Lost(t.clone())),
            Some(t) => {
                t.used_at = Some(now);
                rts.insert(successor.token_hash.clone(), successor);
                Ok(Rotated::Rotated)
            }
            None => Ok(Rotated::Dead),
        }
    }
    fn minter(&self) -> &dyn Minter<Subject = Person> {
        self.0
    }
}

impl Minter for Memory {
    type Subject = Person;
    fn for_user_to(
        &self,
        grant: &GrantRecord,
        _: &Person,
        scope: &str,
        _: Option<&str>,
        with_refresh: bool,
        audience: Option<&str>,
    ) -> Result<(TokenOutcome, Option<RefreshRecord>), OAuthError> {
        if self.mint_fails {
            return Err(OAuthError::new(ErrorCode::ServerError, "token signing failed"));
        }
        *self.minted.borrow_mut() += 1;
        self.audiences.borrow_mut().push(audience.map(String::from));
        let row = (with_refresh && scope.contains("offline_access")).then(|| self.refresh_token(grant, "u", scope).1);
        let at_scope = crate::resource::token_scope(scope, audience, &self.apis);
        Ok((outcome(&at_scope, row.as_ref().map(|r| r.token_hash.clone())), row))
    }
    fn refresh_token(&self, grant: &GrantRecord, user_id: &str, scope: &str) -> (String, RefreshRecord) {
        let token = format!("rt{}", self.refresh.borrow().len());
        (token.clone(), refresh_row(&token, &grant.id, user_id, scope))
    }
    fn for_client_to(&self, _: &str, scope: &str, audience: Option<&str>) -> Result<TokenOutcome, OAuthError> {
        self.audiences.borrow_mut().push(audience.map(String::from));
        Ok(outcome(scope, None))
    }
}

impl Upstreams for Memory {
    async fn recheck(&self, _: &GrantRecord) -> Result<(), OAuthError> {
        self.rechecks.set(self.rechecks.get() + 1);
        if self.race_during_recheck {
            if let Some(t) = self.refresh.borrow_mut().get_mut("old") {
                t.used_at = Some(NOW);
            }
            self.clock.set(NOW + 3);
        }
        if self.upstream_refuses { Err(OAuthError::invalid_grant("upstream refused")) } else { Ok(()) }
    }
}

impl Ports for Memory {
    type Subject = Person;
    type Grants = Self;
    type Minter = Self;
    type Upstreams = Self;
    type Exchanges = Self;
    fn grants(&self) -> &Self {
        self
    }
    fn exchanges(&self) -> &Self {
        self
    }
    fn minter(&self) -> &Self {
        self
    }
    fn upstreams(&self) -> &Self {
        self
    }
    fn policy(&self) -> GrantPolicy<'_> {
        GrantPolicy { refresh_reuse_grace_secs: self.grace, catalogue: &self.catalogue, apis: &self.apis }
    }
    fn now(&self) -> i64 {
        self.clock.get()
    }
}

pub(super) fn outcome(scope: &str, refresh_token: Option<String>) -> TokenOutcome {
    TokenOutcome {
        access_token: "at".into(),
        token_type: "Bearer".into(),
        expires_in: Some(60),
        scope: scope.into(),
        id_token: None,
        refresh_token,
        issued_token_type: None,
    }
}

pub(super) fn refresh_row(token: &str, grant: &str, user: &str, scope: &str) -> RefreshRecord {
    RefreshRecord {
        token_hash: token.into(),
        grant_id: grant.into(),
        client_id: "app".into(),
        user_id: user.into(),
        scope: scope.into(),
        created_at: NOW,
        expires_at: NOW + 100,
        used_at: None,
        revoked_at: None,
        dpop_jkt: None,
    }
}

impl Memory {
    /// Sets grant `id`'s scope and resources (token exchange reads them for delegation, [RI-5]).
    pub(super) fn set_grant(&mut self, id: &str, scope: &str, resources: &[&str]) {
        self.grant_scopes.insert(id.into(), scope.into());
        let g = GrantRecord {
            id: id.into(),
            client_id: "app".into(),
            user_id: Some("ada".into()),
            session: None,
            auth_time: None,
            created_at: 0,
            expires_at: NOW + 1000,
            revoked_at: None,
            resources: resources.iter().map(|s| s.to_string()).collect(),
        };
        self.grants.borrow_mut().insert(id.into(), g);
    }
}

pub(super) fn memory() -> Memory {
    let m = Memory { grace: 2, clock: Cell::new(NOW), ..Memory::default() };
    let grant = GrantRecord {
        id: "g".into(),
        client_id: "app".into(),
        user_id: Some("u".into()),
        session: None,
        auth_time: None,
        created_at: 0,
        expires_at: NOW + 1000,
        revoked_at: None,
        resources: Vec::new(),
    };
    m.grants.borrow_mut().insert("g".into(), grant);
    let code = CodeRecord {
        grant_id: "g".into(),
        client_id: "app".into(),
        user_id: "u".into(),
        redirect_uri: None,
        scope: "openid offline_access".into(),
        nonce: None,
        code_challenge: None,
        expires_at: NOW + 60,
        dpop_jkt: None,
    };
    m.codes.borrow_mut().insert("c".into(), (code, false));
    m
}

pub(super) const APP: TokenClient<'static> = TokenClient {
    client_id: "app",
    may_refresh: true,
    allowed_scopes: &[],
    public: false,
    dpop_jkt: None,
    rotate: true,
};

fn code_request() -> TokenRequest {
    TokenRequest::AuthorizationCode { code: "c".into(), redirect_uri: None, code_verifier: None, resource: None }
}

fn refresh_request(t: &str) -> TokenRequest {
    TokenRequest::RefreshToken { refresh_token: t.into(), scope: None, resource: None }
}

fn code_of(r: Result<TokenOutcome, OAuthError>) -> Option<ErrorCode> {
    r.err().map(|e| e.code)
}

#[test]
fn ac_1_a_replayed_code_revokes_its_grant_and_mints_nothing() {
    let m = memory();
    let first = run(exchange(&m, &APP, &code_request()));
    assert_eq!(first.as_ref().ok().and_then(|o| o.refresh_token.as_deref()), Some("rt0"));
    assert_eq!(code_of(run(exchange(&m, &APP, &code_request()))), Some(ErrorCode::InvalidGrant));
    assert_eq!(m.revoked.borrow().as_slice(), &[("g".to_string(), Revocation::CodeReuse)]);
    assert_eq!(*m.minted.borrow(), 1);
    // The refresh token of the first redemption now belongs to a revoked grant.
    assert_eq!(code_of(run(exchange(&m, &APP, &refresh_request("rt0")))), Some(ErrorCode::InvalidGrant));
}

#[test]
fn ac_2_a_code_of_another_client_is_unknown_and_left_unspent() {
    let m = memory();
    let other = TokenClient { client_id: "other", ..APP };
    assert_eq!(code_of(run(exchange(&m, &other, &code_request()))), Some(ErrorCode::InvalidGrant));
    assert!(m.revoked.borrow().is_empty());
    assert!(run(exchange(&m, &APP, &code_request())).is_ok(), "the rightful client can still redeem it");
}

#[test]
fn rt_4_rotation_then_reuse_inside_grace_refuses_and_after_grace_revokes_the_family() {
    let m = memory();
    m.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access"));
    let next = run(exchange(&m, &APP, &refresh_request("old"))).ok().and_then(|o| o.refresh_token);
    assert_eq!(next.as_deref(), Some("rt1"));
    // Spent at NOW: a duplicate at NOW is a racing duplicate.
    assert_eq!(code_of(run(exchange(&m, &APP, &refresh_request("old")))), Some(ErrorCode::InvalidGrant));
    assert!(m.revoked.borrow().is_empty());
    let strict = Memory { grace: 0, ..memory() };
    strict.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access"));
    assert!(run(exchange(&strict, &APP, &refresh_request("old"))).is_ok());
    assert_eq!(code_of(run(exchange(&strict, &APP, &refresh_request("old")))), Some(ErrorCode::InvalidGrant));
    assert_eq!(strict.revoked.borrow().as_slice(), &[("g".to_string(), Revocation::RefreshReuse)]);
}

#[test]
fn rt_3_a_bad_scope_does_not_burn_a_good_refresh_token_and_the_successor_keeps_the_family_scope() {
    let m = memory();
    m.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access"));
    let wider = TokenRequest::RefreshToken { refresh_token: "old".into(), scope: Some("email".into()), resource: None };
    assert_eq!(code_of(run(exchange(&m, &APP, &wider))), Some(ErrorCode::InvalidScope));
    let narrower =
        TokenRequest::RefreshToken { refresh_token: "old".into(), scope: Some("openid".into()), resource: None };
    let out = run(exchange(&m, &APP, &narrower)).ok();
    assert_eq!(out.as_ref().map(|o| o.scope.as_str()), Some("openid"));
    let successor = m.refresh.borrow().get("rt1").map(|r| r.scope.clone());
    assert_eq!(successor.as_deref(), Some("openid offline_access"));
}

#[test]
fn a_refused_upstream_recheck_spends_nothing() {
    let m = Memory { upstream_refuses: true, ..memory() };
    m.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access"));
    assert_eq!(code_of(run(exchange(&m, &APP, &refresh_request("old")))), Some(ErrorCode::InvalidGrant));
    assert_eq!(m.refresh.borrow().get("old").and_then(|t| t.used_at), None);
    assert_eq!(*m.minted.borrow(), 0);
}

#[test]
fn rt_4_a_duplicate_that_loses_the_rotation_race_during_a_slow_upstream_recheck_revokes_nothing() {
    // Review finding: the grace window is measured from the request's arrival, not from after the re-check.
    let m = Memory { race_during_recheck: true, ..memory() };
    m.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access"));
    let r = run(exchange(&m, &APP, &refresh_request("old")));
    assert_eq!(r.err().map(|e| e.description), Some("the refresh token was already used".to_string()));
    assert!(m.revoked.borrow().is_empty(), "the winner's family must survive");
}

#[test]
fn dp_4_a_public_clients_refresh_tokens_are_bound_to_its_key_and_need_it() {
    let m = memory();
    let public = TokenClient { public: true, dpop_jkt: Some("k1"), ..APP };
    assert!(run(exchange(&m, &public, &code_request())).is_ok());
    assert_eq!(m.refresh.borrow().get("rt0").and_then(|r| r.dpop_jkt.clone()).as_deref(), Some("k1"));
    let other_key = TokenClient { dpop_jkt: Some("k2"), ..public };
    assert_eq!(code_of(run(exchange(&m, &other_key, &refresh_request("rt0")))), Some(ErrorCode::InvalidDpopProof));
    let no_proof = TokenClient { dpop_jkt: None, ..public };
    assert_eq!(code_of(run(exchange(&m, &no_proof, &refresh_request("rt0")))), Some(ErrorCode::InvalidDpopProof));
    assert_eq!(m.refresh.borrow().get("rt0").and_then(|t| t.used_at), None, "a refused proof spends nothing");
    assert!(run(exchange(&m, &public, &refresh_request("rt0"))).is_ok());
    assert_eq!(m.refresh.borrow().get("rt1").and_then(|r| r.dpop_jkt.clone()).as_deref(), Some("k1"), "successor");
}

#[test]
fn dp_4_a_confidential_clients_refresh_tokens_are_not_bound() {
    let m = memory();
    let confidential = TokenClient { dpop_jkt: Some("k1"), ..APP };
    assert!(run(exchange(&m, &confidential, &code_request())).is_ok());
    assert_eq!(m.refresh.borrow().get("rt0").and_then(|r| r.dpop_jkt.clone()), None);
    assert!(run(exchange(&m, &APP, &refresh_request("rt0"))).is_ok(), "refreshed without a proof");
}

#[test]
fn dp_4_a_code_bound_to_a_key_needs_a_proof_of_that_key() {
    for (presented, ok) in [(None, false), (Some("k2"), false), (Some("k1"), true)] {
        let m = memory();
        if let Some((c, _)) = m.codes.borrow_mut().get_mut("c") {
            c.dpop_jkt = Some("k1".into());
        }
        let client = TokenClient { dpop_jkt: presented, ..APP };
        let r = run(exchange(&m, &client, &code_request()));
        assert_eq!(r.is_ok(), ok, "{presented:?}");
        if !ok {
            assert_eq!(code_of(r), Some(ErrorCode::InvalidDpopProof));
        }
    }
}

#[test]
fn fa_5_an_unrotated_refresh_token_stays_valid_and_bound_to_its_key() {
    let m = Memory { grace: 0, ..memory() };
    let fapi = TokenClient { dpop_jkt: Some("k1"), rotate: false, ..APP };
    let issued = run(exchange(&m, &fapi, &code_request())).ok().and_then(|o| o.refresh_token);
    assert_eq!(issued.as_deref(), Some("rt0"));
    assert_eq!(m.refresh.borrow().get("rt0").and_then(|r| r.dpop_jkt.clone()).as_deref(), Some("k1"), "bound");
    for _ in 0..3 {
        let out = run(exchange(&m, &fapi, &refresh_request("rt0")));
        let out = out.ok();
        assert!(out.is_some(), "the same token again");
        assert_eq!(out.and_then(|o| o.refresh_token), None, "no successor is issued");
    }
    assert_eq!(m.refresh.borrow().get("rt0").and_then(|t| t.used_at), None, "never spent");
    assert!(m.revoked.borrow().is_empty());
    let other_key = TokenClient { dpop_jkt: Some("k2"), ..fapi };
    assert_eq!(code_of(run(exchange(&m, &other_key, &refresh_request("rt0")))), Some(ErrorCode::InvalidDpopProof));
    let no_proof = TokenClient { dpop_jkt: None, ..fapi };
    assert_eq!(code_of(run(exchange(&m, &no_proof, &refresh_request("rt0")))), Some(ErrorCode::InvalidDpopProof));
    let other_client = TokenClient { client_id: "other", ..fapi };
    assert_eq!(code_of(run(exchange(&m, &other_client, &refresh_request("rt0")))), Some(ErrorCode::InvalidGrant));
}

#[test]
fn fa_5_an_unbound_refresh_token_of_an_unrotated_client_is_rotated_once_into_a_bound_one() {
    let m = memory();
    m.refresh.borrow_mut().insert("old".into(), refresh_row("old", "g", "u", "openid offline_access"));
    let fapi = TokenClient { dpop_jkt: Some("k1"), rotate: false, ..APP };
    let next = run(exchange(&m, &fapi, &refresh_request("old"))).ok().and_then(|o| o.refresh_token);
    assert_eq!(next.as_deref(), Some("rt1"), "a bound successor");
    assert_eq!(m.refresh.borrow().get("rt1").and_then(|r| r.dpop_jkt.clone()).as_deref(), Some("k1"));
    let again = run(exchange(&m, &fapi, &refresh_request("rt1"))).ok();
    assert_eq!(again.map(|o| o.refresh_token), Some(None), "from then on not rotated");
}

#[test]
fn db_5_a_mint_failure_in_a_code_hop_rolls_back_the_spend() {
    let m = Memory { mint_fails: true, ..memory() };
    assert_eq!(code_of(run(exchange(&m, &APP, &code_request()))), Some(ErrorCode::ServerError));
    assert_eq!(m.aborted.get(), Some(true), "aborted: the store rolls the spent code back");
    assert_eq!(m.codes.borrow().get("c").map(|(_, used)| *used), Some(false), "the code stays redeemable");
    assert!(m.revoked.borrow().is_empty());
}

#[test]
fn rt_4_a_duplicate_that_arrived_before_the_spend_by_more_than_the_grace_revokes() {
    let m = memory();
    let mut spent = refresh_row("old", "g", "u", "openid offline_access");
    spent.used_at = Some(NOW + 10);
    m.refresh.borrow_mut().insert("old".into(), spent);
    assert_eq!(code_of(run(exchange(&m, &APP, &refresh_request("old")))), Some(ErrorCode::InvalidGrant));
    assert_eq!(m.revoked.borrow().as_slice(), &[("g".to_string(), Revocation::RefreshReuse)]);
}
