//! [HR-1] Safe reload (SIGHUP, `POST /admin/api/reload`, `watch_config`): the config file, `providers/*.toml` and
//! the templates are read again and validated first; on any problem the configuration in force stays, each problem
//! is logged on a line and `bridgekeeper_config_reload_success` drops to 0. A valid set puts in force what can
//! change while serving — the templates, stylesheet and catalogues (swapped whole), the static `[[clients]]`
//! (upserted) and the providers ([HR-4]: the next registry built whole from the one in force, discovery of the new
//! and changed ones fetched, the stored accounts brought in line, then swapped in one step; logins begun before keep
//! their provider's generation, [HR-5], [HR-6]) — and names every other change as "needs restart" (bind,
//! metrics_bind, database_url, other settings), never ignoring one silently. Each instance reloads its own files;
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
    let (new, templates) = match validate(state.settings.source.as_deref()) {
        Ok(v) => v,
        Err(problems) => {
            report.problems = problems;
            return finish(state, report);
        }
    };
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
    report.needs_restart = needs_restart(state, &new);
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
    report.applied.extend(["templates", "clients", "providers"]);
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
    let next = current.reloaded(&new.providers_dir, new.dev_mode, &env, now).map_err(|e| vec![e])?;
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

/// The changes that only a restart puts in force.
fn needs_restart(state: &AppState, new: &Settings) -> Vec<String> {
    let old = &state.settings;
    let mut out = Vec::new();
    for (key, a, b) in [
        ("bind", &old.bind, &new.bind),
        ("metrics_bind", &old.metrics_bind, &new.metrics_bind),
        ("database_url", &old.database_url, &new.database_url),
        ("default_locale", &old.default_locale, &new.default_locale),
    ] {
        if a != b {
            out.push(key.to_string());
        }
    }
    let rest = |s: &Settings| {
        let mut s = s.clone();
        s.clients.clear();
        s.templates_dir = Default::default();
        (s.bind, s.metrics_bind, s.database_url, s.default_locale) = Default::default();
        with_secrets(format!("{s:?}"), &[Some(&s.encryption_keys), Some(&s.registration.initial_access_token)])
    };
    if rest(old) != rest(new) {
        out.push("other settings".into());
    }
    out
}

/// `Debug` prints every secret as `[redacted]`, so a rotated secret would compare equal: the comparison form also
/// carries a hash of each secret (never the value; it is only compared, never logged).
fn with_secrets(debug: String, secrets: &[Option<&crate::secret::Secret>]) -> String {
    let hashes: Vec<String> =
        secrets.iter().map(|s| s.map(|s| crate::secret::hash_token(s.expose())).unwrap_or_default()).collect();
    format!("{debug} {}", hashes.join(","))
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
