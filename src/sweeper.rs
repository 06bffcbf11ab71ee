//! The periodic sweeper started by `serve`: every `gc_interval_secs` (0 = off) one `store::gc::sweep` with the
//! app's clock (and the expired provider generations dropped, [HR-5]). Several instances may run it at once; a
//! failed sweep (database down, a lock conflict) is logged and tried again at the next tick.

use std::sync::Arc;
use std::time::Duration;

use crate::settings::Settings;
use crate::state::AppState;
use crate::store::StoreResult;
use crate::store::gc::{self, Policy};

/// The sweeper's policy from the settings: codes keep their tombstone, and revoked grants their rows, for one
/// access-token lifetime (what they could still revoke lives that long).
pub fn policy(s: &Settings) -> Policy {
    Policy {
        batch: s.gc_batch_size.max(1),
        code_keep_secs: s.tokens.access_token_ttl_secs,
        revoked_keep_secs: s.tokens.access_token_ttl_secs,
        audit_retention_secs: s.audit_retention_days.saturating_mul(86_400),
        outbox_keep_secs: outbox_keep_secs(&s.backchannel_logout),
    }
}

/// [ST-2] An outbox row is swept once its give-up window has passed by one more backoff step and one claim
/// lease (by then a running worker has given up on it, with its audit event).
fn outbox_keep_secs(b: &crate::settings::BackchannelLogoutSettings) -> i64 {
    b.give_up_after_secs.saturating_add(b.retry_max_secs).saturating_add(b.claim_secs)
}

/// One sweep now; rows removed per table. [HR-5] The provider generations kept for pending logins that can no
/// longer come back are dropped too (in memory; not only at the next reload).
pub async fn sweep_once(state: &AppState) -> StoreResult<Vec<(&'static str, u64)>> {
    let policy = policy(&state.settings());
    let (now, window) = (state.clock.now(), state.settings().backchannel_logout.give_up_after_secs);
    state.upstreams().prune_retired(now);
    let rows = state
        .db
        .write(move |c| {
            // [BL-4] Expired sessions end first (their apps are told), then the rows that can go are swept.
            let ended = crate::accounts::backchannel::end_expired_sessions(c, now, policy.batch, window)?;
            let mut rows = vec![("sessions_ended", ended as u64)];
            rows.extend(gc::sweep(c, now, &policy, false)?);
            Ok(rows)
        })
        .await
        .inspect(|_| state.logout_wake.notify_one())?;
    for (table, n) in &rows {
        state.metrics.swept.with_label_values(&[table]).inc_by(*n);
    }
    Ok(rows)
}

/// Starts the sweeper task, unless `gc_interval_secs = 0`. The first sweep runs one interval after start.
pub fn spawn(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    let every = state.settings().gc_interval_secs;
    if every == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match sweep_once(&state).await {
                Ok(rows) => {
                    let removed: u64 = rows.iter().map(|(_, n)| n).sum();
                    if removed > 0 {
                        let detail: Vec<String> =
                            rows.iter().filter(|(_, n)| *n > 0).map(|(t, n)| format!("{t}={n}")).collect();
                        tracing::info!(target: "gc", removed, tables = %detail.join(" "), "expired rows removed");
                    }
                }
                Err(e) => tracing::warn!(target: "gc", error = %e, "sweep failed; trying again at the next interval"),
            }
        }
    }))
}
