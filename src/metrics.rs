//! Prometheus metrics, in a registry of the app's own (no global: two apps in one process keep apart counts),
//! exposed as text at `/metrics` on the separate `metrics_bind` listener only.
//!
//! [MT-2] No label ever holds a user id, an email, a token or anything else a caller chooses freely: routes are
//! templates (`/login/{provider}`), providers and clients are ids the admin or the registry vouches for, the rest
//! are fixed words.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets for our own requests and for upstream calls, in seconds.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Every metric the broker keeps. Cheap to clone (each metric is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub tokens_issued: IntCounterVec,
    pub logins: IntCounterVec,
    pub upstream: UpstreamMetrics,
    pub refresh_reuse: IntCounter,
    pub rate_limited: IntCounterVec,
    pub db_connections: IntGaugeVec,
    pub db_wait: Histogram,
    pub cache: IntCounterVec,
    pub swept: IntCounterVec,
    pub config_reload_success: IntGauge,
    pub config_last_reload: IntGauge,
    pub invalidation_listener_up: IntGauge,
    pub backchannel_deliveries: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// The per-upstream metrics, handed to the upstream HTTP client.
#[derive(Clone)]
pub struct UpstreamMetrics {
    pub duration: HistogramVec,
    pub errors: IntCounterVec,
    pub up: IntGaugeVec,
}

impl UpstreamMetrics {
    /// One finished upstream call: `ok` = a 2xx answer; `reachable` = any answer below 500.
    pub fn observe(&self, provider: &str, call: &str, seconds: f64, ok: bool, reachable: bool) {
        self.duration.with_label_values(&[provider, call]).observe(seconds);
        if !ok {
            self.errors.with_label_values(&[provider, call]).inc();
        }
        self.up.with_label_values(&[provider]).set(i64::from(reachable));
    }

    /// [HR-4] A provider a reload removed: its up gauge goes (its counters and timings stay, as history).
    pub fn forget(&self, provider: &str) {
        let _ = self.up.remove_label_values(&[provider]);
    }
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<HistogramVec, prometheus::Error> {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()), labels)?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, prometheus::Error> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let r = Registry::new_custom(Some("bridgekeeper".into()), None)?;
        let upstream = UpstreamMetrics {
            duration: histogram(
                &r,
                "upstream_request_duration_seconds",
                "Upstream calls by provider and call (discovery, jwks, token, userinfo)",
                &["provider", "call"],
            )?,
            errors: counter(
                &r,
                "upstream_errors_total",
                "Upstream calls that failed (no answer, or not 2xx)",
                &["provider", "call"],
            )?,
            up: gauge(&r, "upstream_up", "1 if the provider's last call got an answer below 500", &["provider"])?,
        };
        let refresh_reuse =
            IntCounter::new("refresh_reuse_detected_total", "Rotated refresh tokens presented again (family revoked)")?;
        r.register(Box::new(refresh_reuse.clone()))?;
        let db_wait = Histogram::with_opts(
            HistogramOpts::new("db_pool_wait_seconds", "Time spent waiting for a database connection")
                .buckets(BUCKETS.to_vec()),
        )?;
        r.register(Box::new(db_wait.clone()))?;
        let config_reload_success =
            IntGauge::new("config_reload_success", "1 if the configuration in force loaded without error")?;
        config_reload_success.set(1);
        r.register(Box::new(config_reload_success.clone()))?;
        let config_last_reload =
            IntGauge::new("config_last_reload_timestamp_seconds", "When the configuration was last (re)loaded")?;
        r.register(Box::new(config_last_reload.clone()))?;
        let invalidation_listener_up = IntGauge::new(
            "invalidation_listener_up",
            "1 if this instance hears the other instances' cache invalidations (PostgreSQL); 0 on SQLite or while \
             reconnecting (caches then rely on their TTLs)",
        )?;
        r.register(Box::new(invalidation_listener_up.clone()))?;
        Ok(Metrics {
            http_requests: counter(
                &r,
                "http_requests_total",
                "HTTP requests by route template, method and status",
                &["route", "method", "status"],
            )?,
            http_duration: histogram(&r, "http_request_duration_seconds", "HTTP request latency", &["route"])?,
            tokens_issued: counter(
                &r,
                "tokens_issued_total",
                "Token responses by grant type and client",
                &["grant_type", "client"],
            )?,
            logins: counter(
                &r,
                "logins_total",
                "Sign-ins at the broker by provider, outcome and (for outcome=\"rejected\") the check that failed",
                &["provider", "outcome", "reason"],
            )?,
            rate_limited: counter(&r, "rate_limit_rejections_total", "Requests refused by an abuse limit", &["limit"])?,
            db_connections: gauge(&r, "db_pool_connections", "Database pool connections by state", &["state"])?,
            cache: counter(&r, "cache_requests_total", "Cache look-ups by cache and result", &["cache", "result"])?,
            swept: counter(&r, "sweeper_rows_deleted_total", "Expired rows deleted by the sweeper", &["table"])?,
            upstream,
            refresh_reuse,
            db_wait,
            config_reload_success,
            config_last_reload,
            invalidation_listener_up,
            backchannel_deliveries: counter(
                &r,
                "backchannel_logout_deliveries_total",
                "Back-channel logout token attempts by client and outcome (delivered, retry, abandoned)",
                &["client", "outcome"],
            )?,
            registry: r,
        })
    }

    /// One HTTP request, by its route template (`unmatched` for none).
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        // Status codes are a bounded set of numbers; a method outside the standard ones (a client can send any
        // token) is `other`, so that no caller can grow the label set.
        let status = status.to_string();
        let method = match method {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method,
            _ => "other",
        };
        self.http_requests.with_label_values(&[route, method, &status]).inc();
        self.http_duration.with_label_values(&[route]).observe(seconds);
    }

    /// One token response. [MT-2] Clients an admin vouches for (config, CLI, admin API) are labelled by id; the
    /// ones anybody can register (portal, dynamic registration) share one label, so that registering clients
    /// cannot grow the label set.
    pub fn token_issued(&self, grant_type: &str, client_id: &str, source: &str) {
        self.tokens_issued.with_label_values(&[grant_type, client_label(client_id, source)]).inc();
    }

    /// One back-channel logout attempt, settled (`delivered`, `retry`, `abandoned`); the client labelled as for
    /// tokens ([MT-2]).
    pub fn backchannel_delivery(&self, client_id: &str, source: &str, outcome: &str) {
        self.backchannel_deliveries.with_label_values(&[client_label(client_id, source), outcome]).inc();
    }

    /// One sign-in outcome; [MT-4] `reason` (a `upstream::rejection::Rejection` label) only for `rejected`, empty
    /// otherwise.
    pub fn login(&self, provider: &str, outcome: &str, reason: Option<&str>) {
        self.logins.with_label_values(&[provider, outcome, reason.unwrap_or("")]).inc();
    }

    /// A cache look-up: `hit` or `miss`.
    pub fn cache_lookup(&self, cache: &str, hit: bool) {
        self.cache.with_label_values(&[cache, if hit { "hit" } else { "miss" }]).inc();
    }

    /// Adds a metric made elsewhere (the trace pipeline's drop counter, which exists before the app does) to
    /// this registry, under its `bridgekeeper_` prefix.
    pub fn adopt(&self, c: Box<dyn prometheus::core::Collector>) -> Result<(), prometheus::Error> {
        self.registry.register(c)
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

/// The `client` label of a client: its id when an admin registered it, else `self-registered`.
fn client_label<'a>(client_id: &'a str, source: &str) -> &'a str {
    match source {
        "config" | "cli" | "api" => client_id,
        _ => "self-registered",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [MT-2] A self-registered client (portal, dynamic registration) never becomes a label of its own.
    #[test]
    fn mt_2_self_registered_clients_share_one_label() {
        assert_eq!(client_label("app", "config"), "app");
        assert_eq!(client_label("ops", "api"), "ops");
        assert_eq!(client_label("c-123", "dynamic"), "self-registered");
        assert_eq!(client_label("c-456", "portal"), "self-registered");
        assert_eq!(client_label("c-789", ""), "self-registered", "unknown sources fail closed");
        let m = Metrics::new().unwrap();
        for i in 0..50 {
            m.token_issued("client_credentials", &format!("dyn-{i}"), "dynamic");
        }
        let text = String::from_utf8(m.render()).unwrap();
        assert_eq!(text.matches("bridgekeeper_tokens_issued_total{").count(), 1, "{text}");
    }

    #[test]
    fn two_registries_keep_apart_counts() {
        let (a, b) = (Metrics::new().unwrap(), Metrics::new().unwrap());
        a.request("/token", "POST", 200, 0.01);
        let text = String::from_utf8(a.render()).unwrap();
        assert!(text.contains("bridgekeeper_http_requests_total{method=\"POST\",route=\"/token\",status=\"200\"} 1"));
        assert!(!String::from_utf8(b.render()).unwrap().contains("route=\"/token\""));
    }

    /// [MT-2] A caller cannot grow the label set with methods of its own.
    #[test]
    fn mt_2_unknown_methods_share_one_label() {
        let m = Metrics::new().unwrap();
        m.request("unmatched", "FROBNICATE", 404, 0.001);
        m.request("unmatched", "XYZZY", 404, 0.001);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains("bridgekeeper_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 2")
        );
        assert!(!text.contains("FROBNICATE"));
    }
}
