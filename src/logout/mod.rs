//! Delivery of back-channel Logout Tokens to apps ([BL-1], [BL-5]): a task started with the server claims due rows
//! of the outbox (`store::outbox`), signs one Logout Token per row with the ID-token key, POSTs it (timeout, no
//! redirects), and deletes the row on 200/204; a failure is tried again with backoff until the give-up window
//! ends (audit event `backchannel_logout_abandoned`). Rows are claimed per instance, so several instances never
//! deliver one twice; a claim lapses if its instance dies, so nothing is lost.

mod deliver;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;

use bridgekeeper_core::backchannel::{AfterFailure, RetryPolicy, after_failure};

use crate::state::AppState;
use crate::store::outbox::{self, Outgoing};
use crate::store::{StoreResult, audit};

pub use deliver::Sender;

/// Starts the delivery task unless `backchannel_logout.poll_interval_ms = 0`. It claims due rows whenever a
/// delivery slot is free and a session ended on this instance (`AppState::logout_wake`), a delivery finished, or
/// the poll interval passed; each delivery is settled as soon as its app answers ([BL-12]).
pub fn spawn(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    let every = state.settings().backchannel_logout.poll_interval_ms;
    if every == 0 {
        return None;
    }
    let sender = match Sender::new(Duration::from_secs(state.settings().backchannel_logout.timeout_secs.max(1))) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(target: "logout", error = %e, "back-channel logout delivery cannot start");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        let mut p = Pipeline::new(&state, &sender);
        loop {
            if let Err(e) = p.fill().await {
                tracing::warn!(target: "logout", error = %e, "back-channel logout delivery failed; trying again");
            }
            tokio::select! {
                Some(done) = p.in_flight.next() => {
                    if let Err(e) = p.settle(done).await {
                        tracing::warn!(target: "logout", error = %e, "back-channel logout outcome not recorded");
                    }
                }
                _ = state.logout_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(every)) => {}
            }
        }
    }))
}

/// Delivers every due token and waits for the answers; returns how many were delivered.
pub async fn run_once(state: &AppState, sender: &Sender) -> StoreResult<usize> {
    let mut p = Pipeline::new(state, sender);
    let mut delivered = 0;
    loop {
        let more = p.fill().await?;
        match p.in_flight.next().await {
            Some(done) => delivered += usize::from(p.settle(done).await?),
            None if !more => return Ok(delivered),
            None => {}
        }
    }
}

/// One delivery: the row, whether its client registered itself ([BL-10], [MT-2]), and the outcome.
type Attempt<'a> = BoxFuture<'a, (Outgoing, bool, Result<(), String>)>;

/// [BL-12] The deliveries in flight on this instance, at most `concurrency`: a slow app holds one slot while
/// the others are claimed, sent and settled (no batch waits for its slowest member).
struct Pipeline<'a> {
    state: &'a AppState,
    sender: &'a Sender,
    in_flight: FuturesUnordered<Attempt<'a>>,
}

impl<'a> Pipeline<'a> {
    fn new(state: &'a AppState, sender: &'a Sender) -> Self {
        Pipeline { state, sender, in_flight: FuturesUnordered::new() }
    }

    /// Claims due rows into the free slots (at most `batch` per claim); `true` when the last claim was full, so
    /// more may be due than there was room for.
    async fn fill(&mut self) -> StoreResult<bool> {
        let cfg = &self.state.settings().backchannel_logout;
        let limit = usize::try_from(cfg.concurrency.max(1)).unwrap_or(1);
        loop {
            let free = limit.saturating_sub(self.in_flight.len());
            if free == 0 {
                return Ok(true);
            }
            let want = free.min(usize::try_from(cfg.batch.max(1)).unwrap_or(1));
            let (now, lease) = (self.state.clock.now(), cfg.claim_secs);
            let claimed = self.state.db.run(move |c| outbox::claim(c, now, lease, want as i64)).await?;
            let full = claimed.len() == want;
            let (rows, self_registered) = drop_unwanted(self.state, claimed).await?;
            for row in rows {
                let (state, sender) = (self.state, self.sender);
                let guarded = self_registered.contains(&row.client_id);
                self.in_flight.push(Box::pin(async move {
                    let result = sender.send(state, &row, guarded).await;
                    (row, guarded, result)
                }));
            }
            if !full {
                return Ok(false);
            }
        }
    }

    async fn settle(
        &mut self,
        (row, self_registered, result): (Outgoing, bool, Result<(), String>),
    ) -> StoreResult<bool> {
        let source = if self_registered { "dynamic" } else { "config" };
        let outcome = settle(self.state, row.clone(), result).await?;
        self.state.metrics.backchannel_delivery(&row.client_id, source, outcome.label());
        Ok(outcome == Settled::Delivered)
    }
}

/// [BL-7] Deletes, unsent, the rows whose client is gone or disabled or no longer has the row's URI (it was
/// changed or removed after the session ended); returns the others, and ([BL-10]) which of their clients
/// registered themselves.
async fn drop_unwanted(state: &AppState, rows: Vec<Outgoing>) -> StoreResult<(Vec<Outgoing>, Vec<String>)> {
    if rows.is_empty() {
        return Ok((rows, vec![]));
    }
    let (rows, unwanted, self_registered) = state
        .db
        .run(move |c| {
            let unwanted = outbox::unwanted(c, &rows)?;
            for id in &unwanted {
                outbox::remove(c, id)?;
            }
            let self_registered = outbox::self_registered(c, &rows)?;
            Ok((rows, unwanted, self_registered))
        })
        .await?;
    let (drop, keep): (Vec<Outgoing>, Vec<Outgoing>) = rows.into_iter().partition(|r| unwanted.contains(&r.id));
    for row in &drop {
        tracing::debug!(target: "logout", client = %row.client_id, "logout token dropped: the client is gone, disabled or has another URI");
    }
    Ok((keep, self_registered))
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    /// Not taken; tried again later.
    Retry,
    /// Not taken, and the retry window is over: dropped with an audit event.
    Abandoned,
}

impl Settled {
    pub fn label(self) -> &'static str {
        match self {
            Settled::Delivered => "delivered",
            Settled::Retry => "retry",
            Settled::Abandoned => "abandoned",
        }
    }
}

/// Records the outcome of one attempt.
async fn settle(state: &AppState, row: Outgoing, result: Result<(), String>) -> StoreResult<Settled> {
    let now = state.clock.now();
    let cfg = &state.settings().backchannel_logout;
    let policy = RetryPolicy {
        base_secs: cfg.retry_base_secs,
        max_secs: cfg.retry_max_secs,
        give_up_after_secs: cfg.give_up_after_secs,
    };
    let attempts = row.attempts.saturating_add(1);
    match result {
        Ok(()) => {
            tracing::info!(target: "audit", event = "backchannel_logout_delivered", client = %row.client_id, attempts);
            let id = row.id.clone();
            state.db.run(move |c| outbox::remove(c, &id)).await?;
            Ok(Settled::Delivered)
        }
        Err(error) => match after_failure(&policy, row.created_at, attempts, now) {
            AfterFailure::RetryAt(at) => {
                tracing::info!(target: "logout", client = %row.client_id, attempts, %error, "logout token not delivered; will retry");
                state.db.run(move |c| outbox::reschedule(c, &row.id, attempts, at, &error)).await?;
                Ok(Settled::Retry)
            }
            AfterFailure::GiveUp => {
                give_up(state, row, attempts, &error, now).await?;
                Ok(Settled::Abandoned)
            }
        },
    }
}

async fn give_up(state: &AppState, row: Outgoing, attempts: i32, error: &str, now: i64) -> StoreResult<()> {
    tracing::warn!(target: "audit", event = "backchannel_logout_abandoned", client = %row.client_id, attempts, %error);
    let mut e = audit::AuditEvent::new(now, crate::store::audit::AuditKind::BackchannelLogoutAbandoned)
        .user(&row.sub)
        .client(&row.client_id);
    e.detail = serde_json::json!({ "attempts": attempts, "error": error }).to_string();
    state
        .db
        .run(move |c| {
            crate::store::transaction(c, |c| {
                outbox::remove(c, &row.id)?;
                audit::record(c, &e)
            })
        })
        .await
}
