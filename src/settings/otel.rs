//! `[otel]`: OpenTelemetry traces sent by OTLP/HTTP ([OT-1]); off while `endpoint` is empty.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::SettingsError;
use crate::secret::Secret;

/// [OT-1] [OT-3] [OT-4] Where and how traces are sent (what each key means is in `config/default.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtelSettings {
    /// The collector's OTLP/HTTP base URL (`/v1/traces` is appended unless already there); empty = off.
    pub endpoint: String,
    pub service_name: String,
    /// Share of requests sampled (0.0–1.0), our decision for every request ([OT-4]: a trusted `traceparent`'s
    /// sampled flag is not followed).
    pub sampling_ratio: f64,
    /// [OT-4] Continue the trace (id and parent span) of an incoming W3C `traceparent`; off by default.
    pub trust_traceparent: bool,
    /// Extra headers for the collector (API keys: `${ENV}` allowed); printed as `[redacted]`.
    pub headers: BTreeMap<String, Secret>,
    /// [OT-3] Finished spans waiting for export at most; more are dropped and counted.
    pub queue_size: i64,
    pub batch_size: i64,
    pub batch_interval_ms: i64,
    pub export_timeout_secs: i64,
}

impl OtelSettings {
    /// Tracing is configured.
    pub fn enabled(&self) -> bool {
        !self.endpoint.is_empty()
    }

    /// The URL the spans are posted to.
    pub fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") { base.to_string() } else { format!("{base}/v1/traces") }
    }

    pub(super) fn interpolate(&mut self, env: &[(String, String)]) -> Result<(), SettingsError> {
        for (name, value) in self.headers.iter_mut() {
            let v = super::interpolate(value.expose(), env)
                .map_err(|v| SettingsError(format!("otel.headers.{name}: environment variable {v} is not set")))?;
            *value = Secret::new(v);
        }
        Ok(())
    }

    pub(super) fn validate(&self, err: &dyn Fn(&str, String) -> SettingsError) -> Result<(), SettingsError> {
        if self.enabled() {
            let url = url::Url::parse(&self.endpoint).map_err(|e| err("otel.endpoint", format!("not a URL ({e})")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(err("otel.endpoint", "must be an http(s) URL with a host".into()));
            }
            if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
                return Err(err("otel.endpoint", "no query, fragment or credentials (use otel.headers)".into()));
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(err("otel.service_name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return Err(err("otel.sampling_ratio", "must be between 0.0 and 1.0".into()));
        }
        for (key, v, range) in [
            ("otel.queue_size", self.queue_size, 1..=1_000_000),
            ("otel.batch_size", self.batch_size, 1..=self.queue_size.max(1)),
            ("otel.batch_interval_ms", self.batch_interval_ms, 10..=60_000),
            ("otel.export_timeout_secs", self.export_timeout_secs, 1..=60),
        ] {
            if !range.contains(&v) {
                return Err(err(key, format!("must be between {} and {}", range.start(), range.end())));
            }
        }
        for (name, value) in &self.headers {
            let bad_name = name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if bad_name {
                return Err(err(&format!("otel.headers.{name}"), "not a header name".into()));
            }
            if value.expose().bytes().any(|b| b.is_ascii_control()) {
                return Err(err(&format!("otel.headers.{name}"), "the value holds a control character".into()));
            }
        }
        Ok(())
    }
}
