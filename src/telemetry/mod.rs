//! OpenTelemetry traces (`[otel]`, off by default): the pipeline (`Telemetry`: sampler, resource, OTLP/HTTP
//! exporter behind the bounded queue of `export`) and the spans the broker makes — one server span per request
//! (`server_span`, by `server::middleware`) and one client span per upstream call (`client_span`, by
//! `upstream::http`).
//!
//! [OT-2] Only spans of the target [`TARGET`] reach the exporter, and never a log event: the attributes are the
//! ones written here (method, route template, status, request id; provider, call, host) and none of them can hold
//! a path, a query, a header, a token, a code, an email or a user id.

pub mod export;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, ShouldSample, SpanExporter as _};
use prometheus::IntCounterVec;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::settings::OtelSettings;

/// [OT-2] The target of the spans that are exported; nothing else is.
pub const TARGET: &str = "bridgekeeper::otel";

/// The running trace pipeline. Dropping it leaves the spans queued unsent: call `shutdown`.
pub struct Telemetry {
    provider: SdkTracerProvider,
    flusher: export::Flusher,
    dropped: IntCounterVec,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// Builds the pipeline when `[otel] endpoint` is set (on the current tokio runtime); `None` when it is not.
    pub fn start(s: &OtelSettings) -> Result<Option<Telemetry>, String> {
        if !s.enabled() {
            return Ok(None);
        }
        let timeout = Duration::from_secs(s.export_timeout_secs.max(1) as u64);
        let headers = s.headers.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(s.traces_url())
            .with_timeout(timeout)
            .with_http_client(export::CollectorClient::new(timeout)?)
            .with_headers(headers)
            // Without the otlp `tokio` feature a retry would sleep the runtime's thread; a lost batch is counted.
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
            .build()
            .map_err(|e| format!("otel: {e}"))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(s.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        exporter.set_resource(&resource);
        let dropped = IntCounterVec::new(
            prometheus::Opts::new(
                "otel_spans_dropped_total",
                "Finished spans not sent to the collector, by reason (queue_full, export_failed, shut_down)",
            ),
            &["reason"],
        )
        .map_err(|e| e.to_string())?;
        let cfg = export::QueueConfig {
            queue_size: s.queue_size.max(1) as usize,
            batch_size: s.batch_size.max(1) as usize,
            interval: Duration::from_millis(s.batch_interval_ms.max(1) as u64),
            export_timeout: timeout,
        };
        let (processor, flusher) = export::spawn(exporter, cfg, dropped.clone());
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler(s.sampling_ratio))
            .with_resource(resource)
            .build();
        Ok(Some(Telemetry { provider, flusher, dropped }))
    }

    /// The `tracing` layer that turns the broker's [`TARGET`] spans (and nothing else) into OpenTelemetry spans.
    pub fn layer<S>(&self) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    {
        use tracing_subscriber::Layer;
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("bridgekeeper"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(
                tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.target() == TARGET)
                    .with_max_level_hint(tracing::Level::INFO),
            )
            .boxed()
    }

    /// The counter of spans lost, for the app's registry (`bridgekeeper_otel_spans_dropped_total`).
    pub fn dropped(&self) -> IntCounterVec {
        self.dropped.clone()
    }

    /// Sends what is queued now; false if the exporter did not finish within its timeout.
    pub async fn flush(&self) -> bool {
        self.flusher.flush().await
    }

    /// Flushes (bounded by the export timeout) and ends the pipeline.
    pub async fn shutdown(self) {
        if !self.flusher.flush().await {
            tracing::warn!(target: "otel", "spans still queued at shutdown were not sent (collector slow or down)");
        }
        let _ = self.provider.shutdown();
    }
}

/// [OT-4] The sampler: a span below one of this process follows its parent's decision; every other one — a new
/// trace, or a request whose `traceparent` was trusted — is a root decision of ours, `ratio` by a random draw of
/// this process: neither the caller's sampled flag nor its trace id (which it chose) has a say, so a caller can
/// neither hide its requests from the traces (flag 00) nor have each one recorded and flood the queue (flag 01).
fn sampler(ratio: f64) -> impl ShouldSample {
    let ours = OwnDraw(ratio);
    Sampler::parent_based(ours).with_remote_parent_sampled(ours).with_remote_parent_not_sampled(ours)
}

/// Samples `.0` of the spans asked about, by a random draw (never by the trace id).
#[derive(Debug, Clone, Copy)]
struct OwnDraw(f64);

impl ShouldSample for OwnDraw {
    fn should_sample(
        &self,
        _parent: Option<&opentelemetry::Context>,
        _trace_id: opentelemetry::trace::TraceId,
        _name: &str,
        _kind: &opentelemetry::trace::SpanKind,
        _attributes: &[KeyValue],
        _links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        use opentelemetry_sdk::trace::SamplingDecision;
        let keep = self.0 >= 1.0 || (self.0 > 0.0 && rand::random::<f64>() < self.0);
        opentelemetry_sdk::trace::SamplingResult {
            decision: if keep { SamplingDecision::RecordAndSample } else { SamplingDecision::Drop },
            attributes: Vec::new(),
            // `tracestate` is never read ([OT-2]): a trusted parent brings none.
            trace_state: Default::default(),
        }
    }
}

/// The method as an attribute: a standard one, else `_OTHER` (semantic conventions; a caller cannot choose it).
fn method_name(method: &str) -> &'static str {
    const KNOWN: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.iter().find(|m| **m == method).copied().unwrap_or("_OTHER")
}

/// [OT-1] The server span of one request, named and completed by `finish_server_span` once the route is known.
/// [OT-4] With `trust_traceparent` (off by default), an incoming W3C `traceparent` names its trace and parent span
/// (`tracestate` is never read); whether it is sampled is still ours to decide (`sampler`).
pub fn server_span(
    method: &str,
    traceparent: Option<&str>,
    request_id: &str,
    trust_traceparent: bool,
) -> tracing::Span {
    let method = method_name(method);
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = method,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = Empty,
        http.response.status_code = Empty,
        request_id = %request_id,
    );
    if trust_traceparent
        && !span.is_disabled()
        && let Some(cx) = remote_parent(traceparent)
    {
        let _ = span.set_parent(cx);
    }
    span
}

/// [MT-2] [OT-2] The route template (`/login/{provider}`, `unmatched`), never the path.
pub fn finish_server_span(span: &tracing::Span, method: &str, route: &str, status: u16) {
    if !span.is_disabled() {
        // The OpenTelemetry span has started by now: its name is changed on it (a recorded `otel.name` is not).
        span.context().span().update_name(format!("{} {route}", method_name(method)));
    }
    span.record("http.route", route);
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// [OT-1] The client span of one upstream call: the provider id, the call (discovery, jwks, token, userinfo), the
/// method and the upstream's host — never its URL (paths and queries may carry values).
pub fn client_span(provider: &str, call: &str, method: &str, host: &str) -> tracing::Span {
    tracing::info_span!(
        target: TARGET,
        "upstream",
        otel.name = format!("upstream {call}"),
        otel.kind = "client",
        otel.status_code = Empty,
        bridgekeeper.provider = provider,
        bridgekeeper.upstream_call = call,
        http.request.method = method_name(method),
        server.address = host,
        http.response.status_code = Empty,
    )
}

/// The answer of an upstream call: its status, or an error without one.
pub fn finish_client_span(span: &tracing::Span, status: Option<u16>) {
    match status {
        Some(s) => {
            span.record("http.response.status_code", i64::from(s));
            if s >= 400 {
                span.record("otel.status_code", "error");
            }
        }
        None => {
            span.record("otel.status_code", "error");
        }
    }
}

/// The remote parent named by a `traceparent` value (W3C Trace Context), if it is a valid one.
fn remote_parent(traceparent: Option<&str>) -> Option<opentelemetry::Context> {
    struct Only<'a>(&'a str);
    impl opentelemetry::propagation::Extractor for Only<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == "traceparent").then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent"]
        }
    }
    use opentelemetry::propagation::TextMapPropagator;
    let cx = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&Only(traceparent?));
    cx.span().span_context().is_valid().then_some(cx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [OT-4] A valid traceparent is a remote parent; a malformed or all-zero one is none.
    #[test]
    fn ot_4_traceparent_is_read_only_when_valid() {
        let cx = remote_parent(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).unwrap();
        let sc = cx.span().span_context().clone();
        assert_eq!(format!("{:032x}", sc.trace_id()), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(sc.is_remote() && sc.is_sampled());
        for bad in ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-xyz-abc-01"] {
            assert!(remote_parent(Some(bad)).is_none(), "{bad}");
        }
        assert!(remote_parent(None).is_none());
    }

    /// [OT-4] A trusted remote parent's sampled flag decides nothing (`sampling_ratio` does); a parent of this
    /// process is followed.
    #[test]
    fn ot_4_a_remote_parent_never_decides_the_sampling() {
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
        use opentelemetry_sdk::trace::SamplingDecision;
        let parent = |remote: bool, sampled: bool| {
            let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
            let sc = SpanContext::new(TraceId::from(7u128), SpanId::from(9u64), flags, remote, TraceState::default());
            opentelemetry::Context::new().with_remote_span_context(sc)
        };
        let decide = |ratio: f64, cx: Option<&opentelemetry::Context>| {
            sampler(ratio).should_sample(cx, TraceId::from(7u128), "request", &SpanKind::Server, &[], &[]).decision
        };
        let (keep, drop) = (SamplingDecision::RecordAndSample, SamplingDecision::Drop);
        assert_eq!(decide(0.0, Some(&parent(true, true))), drop, "flag 01 cannot force sampling on");
        assert_eq!(decide(1.0, Some(&parent(true, false))), keep, "flag 00 cannot hide a request");
        assert_eq!(decide(0.0, None), drop);
        assert_eq!(decide(1.0, None), keep);
        assert_eq!(decide(1.0, Some(&parent(false, false))), drop, "a span below an unsampled one of ours");
        assert_eq!(decide(0.0, Some(&parent(false, true))), keep, "a span below a sampled one of ours");
        let kept = (0..2000).filter(|_| decide(0.25, Some(&parent(true, true))) == keep).count();
        assert!((300..700).contains(&kept), "the ratio applies to trusted parents too: {kept} of 2000");
    }

    /// [OT-2] A method a caller made up never becomes an attribute.
    #[test]
    fn ot_2_unknown_methods_are_other() {
        assert_eq!(method_name("GET"), "GET");
        assert_eq!(method_name("FROBNICATE"), "_OTHER");
    }
}
