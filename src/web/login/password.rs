//! `POST /login/{provider}` for a password kind (`ldap`): the typed name and password checked at the directory
//! ([LD-2]…[LD-9]), guarded so that a guesser can neither drive the directory into locking its owner out nor
//! multiply tries:
//! 1. the form's lengths first (a name over 256 bytes, an empty or overlong password: refused before any key is
//!    built or the directory is asked, [LD-7c], [LD-4]);
//! 2. the address budgets (per address, per (address, name)) and the typed name's account budget, if known to be
//!    spent ([LD-7]);
//! 3. `find` (service bind, search: a connection of the provider's `max_connections`, [LD-7b]);
//! 4. the account's turn (one attempt in flight per account, [LD-7b]) and its budget, the account being the
//!    entry found, or the normalised name when none was ([LD-7a]); a spent budget is refused without a bind;
//! 5. `verify` (the user's bind), whose answer is charged to the account (and to the typed name) or clears it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::form::{LoginForm, carried, form_expired};
use super::{complete, count_login, provider};
use crate::accounts::session;
use crate::ratelimit::{Account, account_name};
use crate::respond::PageError;
use crate::secret::Secret;
use crate::state::AppState;
use crate::upstream::connector::PasswordLimits;
use crate::upstream::ldap::{MAX_PASSWORD, MAX_USERNAME};
use crate::upstream::rejection::Rejection;
use crate::upstream::{FederatedIdentity, PasswordConnector, Provider, UpstreamError, UpstreamErrorKind};

fn too_many(state: &AppState, wait: u64) -> PageError {
    state.metrics.rate_limited.with_label_values(&["failures"]).inc();
    let mut e =
        PageError::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", "Please wait a moment and try again.")
            .keyed("page-too-many");
    e.retry_after = Some(wait);
    e
}

/// [LD-2] The one page for an unknown username, a wrong password, an empty password and a refused bind.
fn wrong_credentials() -> PageError {
    PageError::new(
        StatusCode::UNAUTHORIZED,
        "Sign-in failed",
        "Wrong username or password. Please go back and try again.",
    )
    .keyed("page-wrong-password")
}

/// [LD-8] The directory cannot be asked (down, slow, refusing the service account): a page that says so.
fn unavailable() -> PageError {
    PageError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in unavailable",
        "This sign-in method cannot check passwords right now. Please try again later or choose another one.",
    )
    .keyed("page-sign-in-unavailable")
}

/// [LD-7b] Every connection to the directory is in use, or the attempt in flight for this account takes long.
fn busy() -> PageError {
    let mut e = PageError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in busy",
        "Too many sign-ins are in progress right now. Please try again in a moment.",
    )
    .keyed("page-sign-in-busy");
    e.retry_after = Some(1);
    e
}

fn upstream_failure(state: &AppState, provider: &str, e: UpstreamError) -> PageError {
    tracing::info!(provider = %e.provider, kind = ?e.kind, detail = %e.detail, "password sign-in failed");
    match e.kind {
        UpstreamErrorKind::Unavailable => {
            count_login(state, provider, "unavailable");
            unavailable()
        }
        UpstreamErrorKind::Busy => {
            count_login(state, provider, "busy");
            busy()
        }
        UpstreamErrorKind::Rejected | UpstreamErrorKind::Denied => {
            // [MT-4] With the check that failed (the connector's fixed word: `password`).
            state.metrics.login(provider, "rejected", Some(e.reason.label()));
            wrong_credentials()
        }
    }
}

/// The address budgets are charged for every refusal the person caused (not for the directory's trouble): a
/// wrong password to the address and (address, name), anything else to the address.
pub(super) async fn submit(
    state: &AppState,
    req: &HttpRequest,
    provider_id: &str,
    form: LoginForm,
) -> Result<HttpResponse, PageError> {
    let upstreams = state.upstreams();
    let p = provider(&upstreams, provider_id)?;
    let ip = crate::ratelimit::client_ip(req);
    let mut pair = None;
    let result = attempt(state, req, &p, &form, ip, &mut pair).await;
    if let Err(e) = &result
        && e.status.is_client_error()
        && e.status != StatusCode::TOO_MANY_REQUESTS
    {
        let pair = pair.as_deref().filter(|_| e.key == Some("page-wrong-password"));
        state.limits().failed(ip, pair);
    }
    result
}

async fn attempt(
    state: &AppState,
    req: &HttpRequest,
    p: &Provider,
    form: &LoginForm,
    ip: std::net::IpAddr,
    pair: &mut Option<String>,
) -> Result<HttpResponse, PageError> {
    let connector = p.password().ok_or_else(unavailable)?;
    if !session::csrf_ok(req, form.csrf.as_deref()) {
        return Err(form_expired());
    }
    let link_to = carried(state, req, form).await?;
    let username = form.username.as_deref().unwrap_or_default().trim();
    let password = form.password.as_ref().map(Secret::expose).unwrap_or_default();
    // [LD-7c] Lengths before any key is built; [LD-4] an empty password never reaches the directory.
    if username.is_empty() || username.len() > MAX_USERNAME || password.is_empty() || password.len() > MAX_PASSWORD {
        state.metrics.login(&p.cfg.id, "rejected", Some(Rejection::Password.label()));
        return Err(wrong_credentials());
    }
    let name = account_name(username);
    let key = pair.insert(crate::secret::hash_token(&name));
    if let Err(wait) = state.limits().admit(ip, Some(key)) {
        return Err(too_many(state, wait));
    }
    let fed = guarded(state, &p.cfg.id, connector, username, &name, password).await?;
    complete(state, req, p, &p.cfg, fed, form.req.as_deref(), link_to.as_deref()).await
}

/// [LD-7] [LD-7a] [LD-7b] The directory is asked for this password only within the account's budget, one
/// attempt per account at a time; the answer is charged to (or clears) the account and the typed name.
async fn guarded(
    state: &AppState,
    provider: &str,
    connector: &dyn PasswordConnector,
    username: &str,
    name: &str,
    password: &str,
) -> Result<FederatedIdentity, PageError> {
    let PasswordLimits { budget, turn_wait } = connector.limits();
    let budgets = &state.passwords;
    if let Err(wait) = budgets.spent(provider, Account::Name(name), budget, state.clock.now()) {
        return Err(too_many(state, wait));
    }
    let found = connector.find(username).await.map_err(|e| upstream_failure(state, provider, e))?;
    let subject = found.account().map(str::to_string);
    let account = match subject.as_deref() {
        Some(subject) => Account::Entry(subject),
        None => Account::Name(name),
    };
    let turn = budgets.turn(provider, account, budget, turn_wait).await.ok_or_else(busy)?;
    if let Err(wait) = turn.admit(state.clock.now()) {
        tracing::info!(target: "security", provider = %provider, "password sign-in refused: the account's failure budget is spent");
        return Err(too_many(state, wait));
    }
    let answer = found.verify(Secret::new(password)).await;
    // The typed name's own budget follows the entry's, so that the next try is refused before the directory.
    let by_name = match account {
        Account::Entry(_) => budgets.turn(provider, Account::Name(name), budget, turn_wait).await,
        Account::Name(_) => None,
    };
    match answer {
        Ok(fed) => {
            turn.succeeded();
            if let Some(t) = by_name {
                t.succeeded();
            }
            Ok(fed)
        }
        Err(e) if matches!(e.kind, UpstreamErrorKind::Rejected | UpstreamErrorKind::Denied) => {
            let now = state.clock.now();
            turn.failed(now);
            if let Some(t) = by_name {
                t.failed(now);
            }
            Err(upstream_failure(state, provider, e))
        }
        Err(e) => Err(upstream_failure(state, provider, e)),
    }
}
