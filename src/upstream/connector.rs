//! What a provider kind can do, as capabilities (Dex's `CallbackConnector` / `RefreshConnector`): a kind implements
//! only the traits it supports, and the registry hands out `Option<&dyn …>`, so no kind has an arm that can only fail.
//! New kinds (LDAP's password form, SAML's POST binding, back-channel logout) add a trait, not a match arm.

use std::future::Future;
use std::pin::Pin;

use super::http::UpstreamHttp;
use super::{FederatedIdentity, LoginRequest, UpstreamError};

/// A boxed future, so the capabilities stay object-safe.
pub type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the browser brought back to `/login/{provider}/callback`, with what the pending login remembered.
pub struct Callback<'a> {
    /// The broker's base URL (SAML derives its entity id from it, [SA-10]).
    pub issuer: &'a str,
    pub redirect: &'a str,
    /// The authorization code; for `kind = "saml"` the posted `SAMLResponse`.
    pub code: &'a str,
    /// RFC 9207 `iss` parameter, if the upstream sent one.
    pub iss: Option<&'a str>,
    pub nonce: &'a str,
    pub verifier: &'a str,
    pub now: i64,
    /// [AP-1] The `user` JSON Apple posts on a first sign-in (`kind = "apple"` only; unverified until the ID token
    /// of the same answer is).
    pub form_user: Option<&'a str>,
}

/// A kind that signs people in by redirecting the browser and verifying what comes back.
pub trait CallbackConnector: Send + Sync {
    /// The authorization URL to send the browser to.
    fn begin<'a>(&'a self, http: &'a UpstreamHttp, req: &'a LoginRequest<'a>)
    -> Fut<'a, Result<String, UpstreamError>>;
    /// Verifies everything the upstream sent before believing any of it.
    fn finish<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        cb: &'a Callback<'a>,
    ) -> Fut<'a, Result<FederatedIdentity, UpstreamError>>;
}

/// A kind whose refresh tokens let the broker ask again whether the upstream still accepts the person.
pub trait RefreshConnector: Send + Sync {
    /// [TX-2] Uses the upstream refresh token; returns what the token endpoint answered. `invalid_grant` is
    /// `Rejected`; no answer, garbage or any other error code is `Unavailable`.
    fn refresh_tokens<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        token: &'a str,
    ) -> Fut<'a, Result<super::UpstreamTokens, UpstreamError>>;

    /// Uses the upstream refresh token; returns its successor, if the upstream rotated it.
    fn refresh<'a>(&'a self, http: &'a UpstreamHttp, token: &'a str) -> Fut<'a, Result<Option<String>, UpstreamError>> {
        Box::pin(async move {
            self.refresh_tokens(http, token).await.map(|t| t.refresh_token.map(|r| r.expose().to_string()))
        })
    }
}

/// A kind with something to fetch ahead of logins (discovery), whose reachability can be checked and shown.
pub trait HealthCheck: Send + Sync {
    /// Fetches now (start-up warm-up, `providers check`, the admin API).
    fn check<'a>(&'a self, http: &'a UpstreamHttp) -> Fut<'a, Result<(), UpstreamError>>;
    /// Known to be unreachable (the last fetch failed).
    fn is_down(&self) -> bool;
}

/// A kind that takes part in sign-out: the upstream tells the broker (Back-Channel Logout 1.0 §2.6) and the broker
/// sends the browser to the upstream's `end_session_endpoint` (RP-Initiated Logout).
pub trait LogoutConnector: Send + Sync {
    /// [UL-5] Where to send the browser to sign out at the upstream, if it says.
    fn end_session_endpoint<'a>(&'a self, http: &'a UpstreamHttp) -> Fut<'a, Option<String>>;
    /// [UL-2] Verifies a Logout Token the upstream sent; what it asks to end, or why not.
    fn verify_logout_token<'a>(
        &'a self,
        http: &'a UpstreamHttp,
        token: &'a str,
        now: i64,
    ) -> Fut<'a, Result<bridgekeeper_core::upstream_logout::LogoutSubject, super::logout::LogoutError>>;
}

/// A kind that signs people in with a username and password typed on the broker's own page (LDAP), in two steps
/// so that the broker can decide between them ([LD-7]): `find` names the account the typed name reaches (the
/// directory's entry, before any password is sent), the broker checks that account's failure budget and takes
/// its turn (one attempt in flight per account), and only then `verify` sends the password.
pub trait PasswordConnector: Send + Sync {
    /// [LD-7] [LD-7b] The failure budget of one account at this upstream, and how long an attempt waits for the
    /// one in flight for the same account.
    fn limits(&self) -> PasswordLimits;
    /// [LD-2] [LD-7a] Looks the typed name up (holding one of the upstream's connections until the attempt is
    /// verified or dropped); `Busy` when every connection of the upstream is in use, `Unavailable` when it cannot
    /// be asked.
    fn find<'a>(&'a self, username: &'a str) -> Fut<'a, Result<Box<dyn PasswordAttempt>, UpstreamError>>;
}

/// One password attempt between `find` and `verify`.
pub trait PasswordAttempt: Send {
    /// [LD-7a] The stable key of the entry found (its subject attribute), or `None` when no single entry was:
    /// then failures are charged to the typed name's normalised form.
    fn account(&self) -> Option<&str>;
    /// [LD-7] The failures the upstream itself counts for the entry found (0 when it says nothing).
    fn upstream_failures(&self) -> u32 {
        0
    }
    /// [LD-2] [LD-9] Checks the password at the upstream; `Rejected` for a wrong username or password alike (the
    /// page never says which; an unknown name costs the upstream what a wrong password does), `Unavailable` when
    /// the upstream cannot be asked.
    fn verify(
        self: Box<Self>,
        password: crate::secret::Secret,
    ) -> Fut<'static, Result<FederatedIdentity, UpstreamError>>;
}

/// What the broker needs to guard a password upstream ([LD-7], [LD-7b]).
#[derive(Debug, Clone, Copy)]
pub struct PasswordLimits {
    pub budget: bridgekeeper_core::password_budget::Budget,
    /// How long an attempt waits for the attempt in flight for the same account.
    pub turn_wait: std::time::Duration,
    /// [LD-7b] Attempts in flight at once from one address.
    pub per_address: u32,
}
