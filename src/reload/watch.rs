//! [HR-3] `watch_config`: the files a reload reads (the config file, `providers_dir/*`, `templates_dir/**`) are
//! looked at every `watch_config_interval_ms`; a change that stayed the same for one more look is reloaded as on
//! SIGHUP. A file being written is therefore not read half-way, and a reload the files refuse is not retried
//! until they change again. A symlinked file (a Kubernetes ConfigMap) is followed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::state::AppState;

/// What the watched files look like: path, length and modification time of each, in path order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>)>);

/// How deep `templates_dir` is walked (templates, `static/`, `locales/`).
const MAX_DEPTH: usize = 3;
/// At most this many files count; more are not looked at (a templates dir is small).
const MAX_FILES: usize = 2_000;

impl Fingerprint {
    /// Reads the metadata of the files a reload of `config` would read; a missing file or folder counts as absent.
    pub fn of(config: Option<&Path>, providers: &Path, templates: Option<&Path>) -> Fingerprint {
        let mut files = Vec::new();
        if let Some(c) = config {
            files.push(c.to_path_buf());
        }
        walk(providers, 0, &mut files);
        if let Some(t) = templates {
            walk(t, 0, &mut files);
        }
        files.sort();
        files.truncate(MAX_FILES);
        Fingerprint(
            files
                .into_iter()
                .map(|f| {
                    let meta = std::fs::metadata(&f).ok();
                    let len = meta.as_ref().map_or(0, |m| m.len());
                    let modified = meta.and_then(|m| m.modified().ok());
                    (f, len, modified)
                })
                .collect(),
        )
    }
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if out.len() >= MAX_FILES {
            return;
        }
        let path = e.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() && depth < MAX_DEPTH => walk(&path, depth + 1, out),
            Ok(m) if m.is_file() => out.push(path),
            _ => {}
        }
    }
}

/// What the watcher does after one look.
#[derive(Debug, PartialEq, Eq)]
pub enum Look {
    /// Nothing changed since the last reload (or start).
    Same,
    /// Changed, but not yet stable: look again.
    Settling,
    /// Changed and stable for one more look: reload now.
    Reload,
}

/// The watcher's memory: what was last put to a reload, and the change seen at the last look.
#[derive(Debug, Default)]
pub struct Watch {
    applied: Fingerprint,
    seen: Option<Fingerprint>,
}

impl Watch {
    pub fn new(start: Fingerprint) -> Self {
        Watch { applied: start, seen: None }
    }

    /// [HR-3] One look: reload only a change that is the same as at the previous look.
    pub fn look(&mut self, now: Fingerprint) -> Look {
        if now == self.applied {
            self.seen = None;
            return Look::Same;
        }
        if self.seen.as_ref() == Some(&now) {
            self.applied = now;
            self.seen = None;
            return Look::Reload;
        }
        self.seen = Some(now);
        Look::Settling
    }
}

fn fingerprint(state: &AppState) -> Fingerprint {
    let s = &state.settings;
    Fingerprint::of(s.source.as_deref(), &s.providers_dir, s.templates_override())
}

/// Starts the watcher when `watch_config` is on (and there is a file to watch); `None` otherwise.
pub fn spawn(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    if !state.settings.watch_config {
        return None;
    }
    let every = Duration::from_millis(state.settings.watch_config_interval_ms.max(1) as u64);
    Some(tokio::spawn(async move {
        let first = {
            let s = state.clone();
            tokio::task::spawn_blocking(move || fingerprint(&s)).await.unwrap_or_default()
        };
        let mut watch = Watch::new(first);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = state.clone();
            let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&s)).await else { continue };
            if watch.look(now) == Look::Reload {
                tracing::info!(target: "reload", "watched files changed; reloading");
                super::reload(&state).await;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u64) -> Fingerprint {
        Fingerprint(vec![(PathBuf::from("/c.toml"), n, None)])
    }

    /// [HR-3] A change is reloaded once, after it stayed the same for one more look.
    #[test]
    fn hr_3_a_change_is_reloaded_once_it_is_stable() {
        let mut w = Watch::new(fp(1));
        assert_eq!(w.look(fp(1)), Look::Same);
        assert_eq!(w.look(fp(2)), Look::Settling, "being written");
        assert_eq!(w.look(fp(3)), Look::Settling, "still being written");
        assert_eq!(w.look(fp(3)), Look::Reload);
        assert_eq!(w.look(fp(3)), Look::Same, "reloaded once, not at every look");
        assert_eq!(w.look(fp(1)), Look::Settling, "a change back is a change");
        assert_eq!(w.look(fp(3)), Look::Same, "and a change undone before it settled is none");
    }

    #[test]
    fn hr_3_the_fingerprint_sees_a_new_changed_or_removed_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, providers) = (dir.path().join("c.toml"), dir.path().join("providers"));
        std::fs::create_dir_all(&providers).unwrap();
        std::fs::write(&cfg, "a = 1\n").unwrap();
        let at = || Fingerprint::of(Some(&cfg), &providers, None);
        let first = at();
        std::fs::write(providers.join("x.toml"), "kind = \"dev\"\n").unwrap();
        let added = at();
        assert_ne!(first, added);
        std::fs::write(&cfg, "a = 22\n").unwrap();
        let changed = at();
        assert_ne!(added, changed, "a longer file");
        std::fs::remove_file(providers.join("x.toml")).unwrap();
        assert_ne!(changed, at());
    }
}
