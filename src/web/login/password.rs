//! `POST /login/{provider}` for a password kind (`ldap`): the typed name and password checked at the directory
//! ([LD-2]…[LD-9]), guarded so that a guesser can neither drive the directory into locking its owner out nor
//! multiply tries:
//! 1. the form's lengths first (a name over 256 bytes, an empty or overlong password: refused before any key is
//!    built or the directory is asked, [LD-7c], [LD-4]);
//! 2. the address budgets (per address, per (address, name));
//! 3. on a task of its own (a dropped request cannot skip the counting), the attempts in flight from the address
//!    ([LD-7b]) and the typed name's account budget, if known to be spent ([LD-7]);
//! 4. `find` (service bind, search: a connection of the provider's `max_connections`, [LD-7b]);
//! 5. the account's turn (one attempt in flight and one waiting per account, [LD-7b]), its budget and the
//!    directory's own count for the entry, the account being the entry found, or the normalised name when none
//!    was ([LD-7a]); a spent budget is refused without a bind;
//! 6. the failure charged to the account (and the typed name) — with `rate_limits.shared` to the cluster's count
//!    of the account too, which may refuse it ([RL-6]) — then `verify` (the user's bind); only the directory's
//!    success clears it (everywhere).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

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
use crate::upstream::{FederatedIdentity, Provider, UpstreamError, UpstreamErrorKind};

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
/// wrong password to the address and (address, name), anything else to the address. The guarded section (from
/// the account budgets to the directory's answer) runs on a task of its own and charges itself, so that a
/// request dropped mid-bind cannot skip the counting ([LD-7]).
pub(super) async fn submit(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    provider_id: &str,
    form: LoginForm,
) -> Result<HttpResponse, PageError> {
    let upstreams = state.upstreams();
    let p = provider(&upstreams, provider_id)?;
    let ip = crate::ratelimit::client_ip(req);
    let mut pair = None;
    let checked = check(state, req, &p, &form, ip, &mut pair).await;
    let (link_to, username, name) = match checked {
        Ok(c) => c,
        Err(e) => {
            charge(state, ip, &e, None).await;
            return Err(e);
        }
    };
    let password = form.password.clone().unwrap_or_else(|| Secret::new(""));
    let key = pair.unwrap_or_default();
    let connector = p.password_arc().ok_or_else(unavailable)?;
    let attempt = Attempt { provider: p.cfg.id.clone(), connector, ip, username, name, key, password };
    let state_for_task = state.clone();
    let fed =
        tokio::spawn(async move { attempt.run(&state_for_task).await }).await.unwrap_or_else(|_| Err(unavailable()))?;
    let done = complete(state, req, &p, &p.cfg, fed, form.req.as_deref(), link_to.as_deref()).await;
    if let Err(e) = &done {
        charge(state, ip, e, None).await;
    }
    done
}

/// Charges a refusal to the address (and a wrong password to (address, name)). The address budget's own 429 is
/// not charged again; the guarded section's refusals are (`guarded`: an account's 429, a busy page after the
/// search, [LD-7b]), so that an address cannot make the directory search for free. Failures on one name from
/// many addresses raise `credential_stuffing_suspected`.
async fn charge(state: &AppState, ip: std::net::IpAddr, e: &PageError, guarded: Option<(&str, &str)>) {
    let counted = if guarded.is_some() {
        e.status.is_client_error() || e.key == Some("page-sign-in-busy")
    } else {
        e.status.is_client_error() && e.status != StatusCode::TOO_MANY_REQUESTS
    };
    if !counted {
        return;
    }
    let pair = guarded.map(|(_, key)| key).filter(|_| e.key == Some("page-wrong-password"));
    if let crate::ratelimit::Failure::StuffingSuspected(account) = state.failed(ip, pair).await {
        stuffing_alarm(state, guarded.map(|(p, _)| p), &account, ip).await;
    }
}

/// [LD-7] The audit event (and log line) for wrong passwords on one account name from many addresses; the
/// account is named by its key (a hash of the normalised name), never by what was typed.
async fn stuffing_alarm(state: &AppState, provider: Option<&str>, account: &str, ip: std::net::IpAddr) {
    use crate::store::audit::{AuditEvent, AuditKind};
    let mut e = AuditEvent::new(state.clock.now(), AuditKind::CredentialStuffingSuspected);
    e.provider = provider.map(str::to_string);
    e.detail = serde_json::json!({
        "account_key": account,
        "last_address": ip.to_string(),
        "threshold_per_minute": state.settings().rate_limits.stuffing_alarm_per_minute,
    })
    .to_string();
    tracing::warn!(target: "security", account_key = %account, "wrong passwords on one name from many addresses");
    if let Err(err) = state.db.run(move |c| crate::store::audit::record(c, &e)).await {
        tracing::warn!(error = %err, "could not store the credential_stuffing_suspected audit event");
    }
}

/// The form's checks before the directory is asked: CSRF, the carried request, lengths ([LD-7c], [LD-4]), the
/// address budgets. The typed name (trimmed) and its normalised form.
async fn check(
    state: &AppState,
    req: &HttpRequest,
    p: &Provider,
    form: &LoginForm,
    ip: std::net::IpAddr,
    pair: &mut Option<String>,
) -> Result<(Option<String>, String, String), PageError> {
    p.password().ok_or_else(unavailable)?;
    if !session::csrf_ok(req, form.csrf.as_deref()) {
        return Err(form_expired());
    }
    let link_to = carried(state, req, form).await?;
    let username = form.username.as_deref().unwrap_or_default().trim();
    let password = form.password.as_ref().map(Secret::expose).unwrap_or_default();
    // [LD-7c] Lengths before any key is built; [LD-4] an empty password never reaches the directory, nor one
    // holding NUL (which C directories may cut short).
    if username.is_empty()
        || username.len() > MAX_USERNAME
        || password.is_empty()
        || password.len() > MAX_PASSWORD
        || password.contains('\0')
    {
        state.metrics.login(&p.cfg.id, "rejected", Some(Rejection::Password.label()));
        return Err(wrong_credentials());
    }
    let name = account_name(username);
    let key = pair.insert(crate::secret::hash_token(&name));
    if let Err(wait) = state.limits().admit(ip, Some(key)) {
        return Err(too_many(state, wait));
    }
    Ok((link_to, username.to_string(), name))
}

/// One password attempt past the form's checks, owned by its task.
struct Attempt {
    provider: String,
    /// The provider's connector in the registry snapshot the request took ([HR-4]).
    connector: std::sync::Arc<dyn crate::upstream::PasswordConnector>,
    ip: std::net::IpAddr,
    username: String,
    name: String,
    key: String,
    password: Secret,
}

impl Attempt {
    async fn run(self, state: &AppState) -> Result<FederatedIdentity, PageError> {
        let r = self.guarded(state).await;
        if let Err(e) = &r {
            charge(state, self.ip, e, Some((&self.provider, &self.key))).await;
        }
        r
    }

    /// [LD-7] [LD-7a] [LD-7b] The directory is asked for this password only within the account's budget (and
    /// below the directory's own count), one attempt per account at a time and a few per address; the failure
    /// is charged before the bind and cleared only by the directory's success.
    async fn guarded(&self, state: &AppState) -> Result<FederatedIdentity, PageError> {
        let (provider, name) = (self.provider.as_str(), self.name.as_str());
        let connector = self.connector.clone();
        let PasswordLimits { budget, turn_wait, per_address } = connector.limits();
        let budgets = &state.passwords;
        let _inflight = budgets.enter(self.ip, per_address).ok_or_else(|| too_many(state, 1))?;
        if let Err(wait) = budgets.spent(provider, Account::Name(name), budget, state.clock.now()) {
            return Err(too_many(state, wait));
        }
        let found = connector.find(&self.username).await.map_err(|e| upstream_failure(state, provider, e))?;
        let subject = found.account().map(str::to_string);
        let account = match subject.as_deref() {
            Some(subject) => Account::Entry(subject),
            None => Account::Name(name),
        };
        let mut turn = budgets.turn(provider, account, budget, turn_wait).await.ok_or_else(busy)?;
        // The typed name's own budget follows the entry's, so that its next try is refused before the search.
        let mut by_name = match account {
            Account::Entry(_) => {
                Some(budgets.turn(provider, Account::Name(name), budget, turn_wait).await.ok_or_else(busy)?)
            }
            Account::Name(_) => None,
        };
        let now = state.clock.now();
        if let Err(wait) = turn.admit(now) {
            tracing::info!(target: "security", provider = %provider, "password sign-in refused: the account's failure budget is spent");
            if let Some(t) = by_name.as_mut() {
                t.spend(now);
            }
            return Err(too_many(state, wait));
        }
        if found.upstream_failures() >= budget.max_failures {
            tracing::info!(target: "security", provider = %provider, count = found.upstream_failures(), "password sign-in refused: the directory already counts max_failures failures for the entry");
            return Err(too_many(state, u64::try_from(budget.window_secs).unwrap_or(1)));
        }
        turn.charge(now);
        if let Some(t) = by_name.as_mut() {
            t.charge(now);
        }
        let settings = state.settings();
        let shared = settings.rate_limits.shared.then(|| crate::ratelimit::account_key(provider, account));
        if let Some(key) = &shared {
            self.charge_shared(state, &settings, key, (&mut turn, by_name.as_mut()), budget).await?;
        }
        let answer = found.verify(self.password.clone()).await;
        match answer {
            Ok(fed) => {
                turn.succeeded();
                if let Some(t) = by_name {
                    t.succeeded();
                }
                if let Some(key) = &shared {
                    crate::ratelimit::shared::clear_account(&state.db, &state.shared_keys, key).await;
                }
                Ok(fed)
            }
            // Charged already: a wrong password, and an answer the broker could not read (a timeout, busy,
            // unavailable), which the directory may have counted.
            Err(e) => Err(upstream_failure(state, provider, e)),
        }
    }

    /// [RL-6] The attempt charged to the cluster's count of the account too (before the bind, as here): spent at
    /// another instance is the same 429 without a bind; a database failure fails closed (no bind, so no try the
    /// cluster did not count: the sign-in is unavailable for now).
    async fn charge_shared(
        &self,
        state: &AppState,
        settings: &crate::settings::Settings,
        key: &str,
        (turn, by_name): (&mut crate::ratelimit::Turn, Option<&mut crate::ratelimit::Turn>),
        budget: bridgekeeper_core::password_budget::Budget,
    ) -> Result<(), PageError> {
        use crate::ratelimit::shared::{AccountCharge, charge_account};
        let shared = state.shared(settings);
        let now = shared.now;
        match charge_account(shared, key, budget).await {
            Ok(AccountCharge::Within(f)) => {
                turn.adopt(f);
                Ok(())
            }
            Ok(AccountCharge::Spent(f)) => {
                turn.adopt(f);
                if let Some(t) = by_name {
                    t.spend(now);
                }
                tracing::info!(target: "security", provider = %self.provider, "password sign-in refused: the account's failure budget is spent at another instance");
                Err(too_many(state, turn.admit(now).err().unwrap_or(1)))
            }
            Err(e) => {
                tracing::warn!(target: "security", provider = %self.provider, error = %e, "password sign-in refused: the shared account budget could not be charged");
                count_login(state, &self.provider, "unavailable");
                Err(unavailable())
            }
        }
    }
}
