//! [HR-7] The settings that only a start puts in force: what start-up builds from them lives as long as the
//! process (the listeners, the database pool, the sealer that opened the signing keys, the CSRF key and the vault,
//! the signing keys of the configured algorithms, the log subscriber, the background tasks' timers and clients,
//! the client-address resolver). A reload puts every other setting in force at once; these it keeps as they
//! started, and names each changed one as "needs restart".

use super::Settings;

/// Copies the restart-only keys of `running` into `next` (the settings a reload read) and returns the names of
/// those that differed. Secrets are compared by hash (their `Debug` is redacted).
pub fn keep_restart_only(next: &mut Settings, running: &Settings) -> Vec<String> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($name:literal => $($field:ident).+;)*) => {$(
            if format!("{:?}", next.$($field).+) != format!("{:?}", running.$($field).+) {
                changed.push($name.to_string());
                next.$($field).+ = running.$($field).+.clone();
            }
        )*};
    }
    keep! {
        // Signed into every token, discovery and cookie; keys and sessions are bound to it.
        "issuer" => issuer;
        // The listeners.
        "bind" => bind;
        "metrics_bind" => metrics_bind;
        // The pool.
        "database_url" => database_url;
        "database.pool_size" => database.pool_size;
        "database.checkout_timeout_ms" => database.checkout_timeout_ms;
        "database.connect_timeout_secs" => database.connect_timeout_secs;
        "database.statement_timeout_ms" => database.statement_timeout_ms;
        "database.busy_timeout_ms" => database.busy_timeout_ms;
        "database.idle_timeout_secs" => database.idle_timeout_secs;
        "database.max_lifetime_secs" => database.max_lifetime_secs;
        // Signing keys of these algorithms are made sure of at start; the key reloader's timer.
        "tokens.signing_alg" => tokens.signing_alg;
        "tokens.access_token_alg" => tokens.access_token_alg;
        "tokens.key_reload_secs" => tokens.key_reload_secs;
        // The log subscriber.
        "log_format" => log_format;
        "log_level" => log_level;
        // Read at start only.
        "migrate_on_start" => migrate_on_start;
        // It lets anyone sign in as anyone: it is switched, and warned about, at start only.
        "dev_mode" => dev_mode;
        // The watcher's, the sweeper's and the back-channel logout worker's timers and client.
        "watch_config" => watch_config;
        "watch_config_interval_ms" => watch_config_interval_ms;
        "gc_interval_secs" => gc_interval_secs;
        "backchannel_logout.poll_interval_ms" => backchannel_logout.poll_interval_ms;
        "backchannel_logout.timeout_secs" => backchannel_logout.timeout_secs;
        // Parsed once into the client-address resolver (rate-limit budgets and audit addresses are keyed by it).
        "trusted_proxies" => trusted_proxies;
        "proxy_header" => proxy_header;
        // [RL-6] Turned on by a reload, this instance's account budgets (in memory) would follow the cluster's
        // counts, which lack this instance's failures before the reload: a reload would hand a guesser new tries
        // ([LD-10]). At a start there is nothing in memory to lose.
        "rate_limits.shared" => rate_limits.shared;
    }
    // The trace exporter and its queue are built once at start; header values print redacted, so a rotated header
    // secret is seen by its hash (the value is never printed).
    if otel_form(&next.otel) != otel_form(&running.otel) {
        changed.push("otel".into());
        next.otel = running.otel.clone();
    }
    // The sealer opened the signing keys, the CSRF key and the vault with these (`keys reseal` is offline).
    if crate::secret::hash_token(next.encryption_keys.expose())
        != crate::secret::hash_token(running.encryption_keys.expose())
    {
        changed.push("encryption_keys".into());
        next.encryption_keys = running.encryption_keys.clone();
    }
    changed
}

/// `[otel]` as compared: its settings, and each header's value by hash.
fn otel_form(o: &super::OtelSettings) -> String {
    let headers: Vec<(&String, String)> =
        o.headers.iter().map(|(k, v)| (k, crate::secret::hash_token(v.expose()))).collect();
    format!("{o:?} {headers:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Settings::load_with_env(None, &[]).unwrap()
    }

    #[test]
    fn hr_7_restart_only_keys_are_named_and_kept_and_live_ones_pass() {
        let running = defaults();
        let mut next = defaults();
        next.bind = "127.0.0.1:1".into();
        next.database.pool_size += 1;
        next.database.statement_timeout_ms += 1;
        next.encryption_keys = crate::secret::Secret::new("k2:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=");
        next.tokens.access_token_ttl_secs += 60;
        next.rate_limits.failures_per_minute += 1;
        next.rate_limits.shared = true;
        next.default_locale = "de".into();
        let changed = keep_restart_only(&mut next, &running);
        assert_eq!(
            changed,
            ["bind", "database.pool_size", "database.statement_timeout_ms", "rate_limits.shared", "encryption_keys"]
        );
        assert!(!next.rate_limits.shared, "[RL-6] kept as it started");
        assert_eq!((next.bind.as_str(), next.database.pool_size), (running.bind.as_str(), running.database.pool_size));
        assert_eq!(next.encryption_keys.expose(), running.encryption_keys.expose(), "a rotated secret is kept too");
        assert_eq!(next.tokens.access_token_ttl_secs, running.tokens.access_token_ttl_secs + 60, "live: passes");
        assert_eq!(next.rate_limits.failures_per_minute, running.rate_limits.failures_per_minute + 1);
        assert_eq!(next.default_locale, "de");
        assert!(keep_restart_only(&mut defaults(), &running).is_empty(), "nothing changed: nothing named");
    }

    /// [HR-7] A rotated `[otel]` header secret is named (compared by hash) and kept as it started.
    #[test]
    fn hr_7_a_rotated_otel_header_secret_is_named() {
        let mut running = defaults();
        running.otel.headers.insert("api-key".into(), crate::secret::Secret::new("first-secret"));
        let mut next = running.clone();
        next.otel.headers.insert("api-key".into(), crate::secret::Secret::new("second-secret"));
        assert_eq!(format!("{:?}", next.otel), format!("{:?}", running.otel), "they print the same");
        assert_eq!(keep_restart_only(&mut next, &running), ["otel"]);
        assert_eq!(next.otel.headers["api-key"].expose(), "first-secret", "kept as it started");
        assert!(keep_restart_only(&mut running.clone(), &running).is_empty());
    }
}
