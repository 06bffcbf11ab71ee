//! [HR-3] `watch_config`: the files a reload reads (the config file, `providers_dir/*`, `templates_dir/**`) are
//! read every `watch_config_interval_ms` (their contents are hashed: a same-length change with a kept mtime counts);
//! a change that stayed the same for `SETTLE_MS` and one more look is reloaded as on SIGHUP. A file being written
//! is therefore not read half-way, and a reload the files refuse is not retried until they change again. A
//! symlinked file (a Kubernetes ConfigMap) is followed; hidden files and editor back-ups are not looked at.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::state::AppState;

/// What the watched files hold: path and SHA-256 of the contents of each (`None`: unreadable), in path order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, Option<[u8; 32]>)>);

/// A change is reloaded once it has stayed the same this long (and for one more look).
pub const SETTLE_MS: u64 = 1_000;
/// Files larger than this are not read (a config, provider or template file is far smaller); they count by size.
const MAX_READ: u64 = 1024 * 1024;

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
                    let digest = digest(&f);
                    (f, digest)
                })
                .collect(),
        )
    }
}

fn digest(f: &Path) -> Option<[u8; 32]> {
    let len = std::fs::metadata(f).ok()?.len();
    let bytes = if len <= MAX_READ { std::fs::read(f).ok()? } else { len.to_be_bytes().to_vec() };
    Some(Sha256::digest(&bytes).into())
}

/// Hidden files (`.git`, `.#x`) and editor back-ups (`x~`, `.swp`) are no configuration.
fn ignored(name: &str) -> bool {
    name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".swx")
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if out.len() >= MAX_FILES {
            return;
        }
        if ignored(&e.file_name().to_string_lossy()) {
            continue;
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

/// The watcher's memory: what was last put to a reload, and the change seen since when (ms on its clock).
#[derive(Debug, Default)]
pub struct Watch {
    applied: Fingerprint,
    seen: Option<(Fingerprint, u64)>,
}

impl Watch {
    pub fn new(start: Fingerprint) -> Self {
        Watch { applied: start, seen: None }
    }

    /// [HR-3] One look at `at_ms`: reload only a change that is the same as at the previous looks, for `SETTLE_MS`.
    pub fn look(&mut self, now: Fingerprint, at_ms: u64) -> Look {
        if now == self.applied {
            self.seen = None;
            return Look::Same;
        }
        match &self.seen {
            Some((fp, since)) if *fp == now => {
                if at_ms.saturating_sub(*since) < SETTLE_MS {
                    return Look::Settling;
                }
                self.applied = now;
                self.seen = None;
                Look::Reload
            }
            _ => {
                self.seen = Some((now, at_ms));
                Look::Settling
            }
        }
    }
}

fn fingerprint(state: &AppState) -> Fingerprint {
    let s = &state.settings();
    Fingerprint::of(s.source.as_deref(), &s.providers_dir, s.templates_override())
}

/// Starts the watcher when `watch_config` is on (and there is a file to watch); `None` otherwise.
pub fn spawn(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    if !state.settings().watch_config {
        return None;
    }
    let every = Duration::from_millis(state.settings().watch_config_interval_ms.max(1) as u64);
    // The baseline is what the files hold when the watch is started (read here, not in the task: a change made
    // right after `spawn` returns is a change, never the baseline).
    let first = fingerprint(&state);
    Some(tokio::spawn(async move {
        let mut watch = Watch::new(first);
        let started = Instant::now();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = state.clone();
            let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&s)).await else { continue };
            let at = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            if watch.look(now, at) == Look::Reload {
                tracing::info!(target: "reload", "watched files changed; reloading");
                super::reload(&state).await;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u8) -> Fingerprint {
        Fingerprint(vec![(PathBuf::from("/c.toml"), Some([n; 32]))])
    }

    /// [HR-3] A change is reloaded once, after it stayed the same for SETTLE_MS and one more look.
    #[test]
    fn hr_3_a_change_is_reloaded_once_it_is_stable() {
        let mut w = Watch::new(fp(1));
        assert_eq!(w.look(fp(1), 0), Look::Same);
        assert_eq!(w.look(fp(2), 100), Look::Settling, "being written");
        assert_eq!(w.look(fp(3), 200), Look::Settling, "still being written");
        assert_eq!(w.look(fp(3), 300), Look::Settling, "the same for 100 ms only");
        assert_eq!(w.look(fp(3), 200 + SETTLE_MS), Look::Reload);
        assert_eq!(w.look(fp(3), 5_000), Look::Same, "reloaded once, not at every look");
        assert_eq!(w.look(fp(1), 5_100), Look::Settling, "a change back is a change");
        assert_eq!(w.look(fp(3), 5_200), Look::Same, "and a change undone before it settled is none");
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
        std::fs::write(&cfg, "a = 2\n").unwrap();
        let changed = at();
        assert_ne!(added, changed, "same length, other contents");
        std::fs::write(providers.join(".x.toml.swp"), "junk").unwrap();
        std::fs::write(providers.join("x.toml~"), "junk").unwrap();
        assert_eq!(changed, at(), "editor files are not configuration");
        std::fs::remove_file(providers.join("x.toml")).unwrap();
        assert_ne!(changed, at());
    }
}
