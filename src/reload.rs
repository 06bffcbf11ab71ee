//! [HR-1] Safe reload (SIGHUP, `POST /admin/api/reload`, `watch_config`): the config file, `providers/*.toml` and
//! the templates are read again and validated first; on any problem the configuration in force stays, each problem
//! is logged on a line and `bridgekeeper_config_reload_success` drops to 0. A valid set puts in force what can
//! change while serving — the templates, stylesheet and catalogues (swapped whole), the static `[[clients]]`
//! (upserted) and the providers ([HR-4]: the next registry built whole from the one in force, discovery of the new
//! and changed ones fetched, the stored accounts brought in line, then swapped in one step; logins begun before keep
//! their provider's generation, [HR-5], [HR-6]) and the settings ([HR-7]: one snapshot swapped whole; a running
//! request keeps its own) — and keeps each restart-only key (`settings::restart`: bind, issuer, database, keys,
//! logging, the background tasks' timers…) as it started, naming it as "needs restart", never ignoring one silently. Each instance reloads its own files;
//! clients and providers stored in the database are not touched.

use std::path::Path;

pub mod watch;

use crate::respond::Templates;
use crate::settings::Settings;
use crate::state::AppState;

/// What one reload did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub problems: Vec<String>,
    pub needs_restart: Vec<String>,
    pub applied: Vec<&'static str>,
    /// [HR-4] The providers the reload added, changed and removed.
    pub providers: crate::upstream::Changes,
    /// What was put in force but is not well: a new provider whose discovery failed (shown as down, tried again
    /// at login, as at start-up).
    pub warnings: Vec<String>,
}

/// Reads, validates and (when valid) applies the configuration; never leaves a half-applied state.
pub async fn reload(state: &AppState) -> Report {
    let mut in_force = state.static_clients.lock().await;
    let mut report = Report::default();
    let running = state.settings_in_force();
    let (mut new, templates) = match validate(running.source.as_deref()) {
        Ok(v) => v,
        Err(problems) => {
            report.problems = problems;
            return finish(state, report);
        }
    };
    // [HR-7] What only a start puts in force stays as it started (and is named); the rest goes in with the files.
    report.needs_restart = crate::settings::restart::keep_restart_only(&mut new, &running);
    let (now, current) = (state.clock.now(), state.upstreams());
    let next = match next_providers(state, &current, &new, now).await {
        Ok((next, warnings)) => {
            report.warnings = warnings;
            next
        }
        Err(problems) => {
            report.problems = problems;
            return finish(state, report);
        }
    };
    // The writes first: when one fails, nothing of the new set is in force (templates and providers included).
    if !next.changes.is_empty()
        && let Err(e) =
            crate::accounts::providers::reconcile(&state.db, state.sealer.clone(), &next.registry, now).await
    {
        report
            .problems
            .push(format!("providers: stored accounts not brought in line ({e}); nothing of the new set is in force"));
        return finish(state, report);
    }
    // [HR-2] What this instance had in force and the new file no longer has is disabled.
    let removed: Vec<String> =
        in_force.iter().filter(|id| !new.clients.iter().any(|c| &c.client_id == *id)).cloned().collect();
    if let Err(e) = crate::accounts::clients::sync_static(&state.db, &new, &removed, now).await {
        report.problems.push(format!("[[clients]]: not saved ({e}); nothing of the new set is in force"));
        if !next.changes.is_empty() {
            // Back in line with the providers that stay in force (best effort; the next reload or start does it too).
            let _ = crate::accounts::providers::reconcile(&state.db, state.sealer.clone(), &current, now).await;
        }
        return finish(state, report);
    }
    *in_force = new.clients.iter().map(|c| c.client_id.clone()).collect();
    state.templates.replace(templates);
    report.providers = put_providers_in_force(state, next);
    put_settings_in_force(state, &running, new);
    report.applied.extend(["templates", "clients", "providers", "settings"]);
    if let Err(e) = state.reload_keys().await {
        tracing::warn!(target: "reload", error = %e, "discovery not rebuilt; it is at the next key reload");
    }
    finish(state, report)
}

/// [HR-4] The next provider set, built whole beside the one in force (which serves on meanwhile) and checked;
/// the discovery of its new and changed providers fetched (a failure is a warning, as at start-up).
async fn next_providers(
    state: &AppState,
    current: &crate::upstream::Registry,
    new: &Settings,
    now: i64,
) -> Result<(crate::upstream::Next, Vec<String>), Vec<String>> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let timeout = std::time::Duration::from_secs(new.upstream_timeout_secs.max(1));
    let next = current.reloaded(&new.providers_dir, new.dev_mode, timeout, &env, now).map_err(|e| vec![e])?;
    let problems = next.registry.sealing_problems(state.sealer.is_enabled());
    if !problems.is_empty() {
        return Err(problems);
    }
    let fresh: Vec<String> = next.changes.added.iter().chain(&next.changes.changed).cloned().collect();
    let warnings = next.registry.warm_up_these(&fresh).await;
    Ok((next, warnings))
}

/// [HR-4] Puts the next provider set in force in one step (logins, the chooser, refreshes, exchanges, sign-out
/// and health read it from their next request on); a removed provider's `upstream_up` series goes with it.
fn put_providers_in_force(state: &AppState, next: crate::upstream::Next) -> crate::upstream::Changes {
    for id in &next.changes.removed {
        state.metrics.upstream.forget(id);
    }
    state.swap_upstreams(next.registry);
    next.changes
}

/// [HR-7] Puts the settings in force (restart-only keys already kept as they started): requests that arrive from
/// now on read them (a running one keeps its snapshot); changed `[rate_limits]` get new limits, carried over from
/// the ones in force ([HR-7a]: no budget starts afresh).
fn put_settings_in_force(state: &AppState, running: &Settings, new: Settings) {
    if format!("{:?}", running.rate_limits) != format!("{:?}", new.rate_limits) {
        state.swap_limits(state.limits().after(&new.rate_limits));
    }
    state.swap_settings(new);
}

/// Everything a reload needs, validated: the settings and the templates built from them.
fn validate(config: Option<&Path>) -> Result<(Settings, Templates), Vec<String>> {
    let new = Settings::load(config).map_err(|e| vec![e.0])?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut problems = Vec::new();
    problems.extend(crate::upstream::config::check_dir(&new.providers_dir, &env).1);
    let templates = match Templates::load(new.templates_override()) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.extend(e.lines().map(String::from));
            None
        }
    };
    match templates {
        Some(t) if problems.is_empty() => {
            if !t.locales().contains(&new.default_locale) {
                return Err(vec![format!("key `default_locale`: no catalogue locales/{}.ftl", new.default_locale)]);
            }
            Ok((new, t))
        }
        _ => Err(problems),
    }
}

/// Logs the outcome and sets the reload metrics.
fn finish(state: &AppState, report: Report) -> Report {
    let ok = report.problems.is_empty();
    state.metrics.config_reload_success.set(i64::from(ok));
    state.metrics.config_last_reload.set(state.clock.now());
    for p in &report.problems {
        tracing::error!(target: "reload", problem = %p, "configuration reload refused; the configuration in force stays");
    }
    for what in &report.needs_restart {
        tracing::warn!(target: "reload", changed = %what, "changed in the files but needs restart to take effect");
    }
    if ok {
        tracing::info!(target: "reload", applied = ?report.applied, "configuration reloaded");
    }
    report
}
