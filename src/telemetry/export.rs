//! [OT-3] The span queue: `on_end` hands a finished span to a bounded channel (never waits; a full queue drops the
//! span and counts it); one tokio task sends batches to the exporter, each under a timeout, and answers flushes.
//! The OTLP exporter posts with [`CollectorClient`], our own reqwest client (no second HTTP client or TLS stack).

use std::time::Duration;

use oauth2::reqwest;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use prometheus::IntCounterVec;
use tokio::sync::{mpsc, oneshot};

/// How many spans and how often.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    pub queue_size: usize,
    pub batch_size: usize,
    pub interval: Duration,
    pub export_timeout: Duration,
}

enum Control {
    /// Send everything queued now; answer when done.
    Flush(oneshot::Sender<()>),
}

/// The processor the tracer provider calls; cheap, never blocking.
#[derive(Debug)]
pub struct QueueProcessor {
    spans: mpsc::Sender<SpanData>,
    control: mpsc::Sender<Control>,
    dropped: IntCounterVec,
}

/// A handle to flush the queue from async code (shutdown, tests).
#[derive(Debug, Clone)]
pub struct Flusher {
    control: mpsc::Sender<Control>,
    timeout: Duration,
}

impl Flusher {
    /// Sends what is queued and waits (at most the export timeout plus a second) until it has been sent.
    pub async fn flush(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        let asked = async {
            self.control.send(Control::Flush(tx)).await.ok()?;
            rx.await.ok()
        };
        tokio::time::timeout(self.timeout + Duration::from_secs(1), asked).await.ok().flatten().is_some()
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flush")
    }
}

/// Starts the export task on the current tokio runtime; `dropped` counts lost spans by reason
/// (`queue_full`, `export_failed`).
pub fn spawn<E: SpanExporter + 'static>(
    exporter: E,
    cfg: QueueConfig,
    dropped: IntCounterVec,
) -> (QueueProcessor, Flusher) {
    let (spans, rx) = mpsc::channel(cfg.queue_size.max(1));
    let (control, control_rx) = mpsc::channel(4);
    tokio::spawn(run(exporter, rx, control_rx, cfg, dropped.clone()));
    (QueueProcessor { spans, control: control.clone(), dropped }, Flusher { control, timeout: cfg.export_timeout })
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if let Err(e) = self.spans.try_send(span) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "queue_full",
                mpsc::error::TrySendError::Closed(_) => "shut_down",
            };
            self.dropped.with_label_values(&[reason]).inc();
        }
    }

    /// Asks for a flush without waiting (this is called from synchronous code, maybe on the runtime's only
    /// thread); `Flusher::flush` waits.
    fn force_flush(&self) -> OTelSdkResult {
        let (tx, _rx) = oneshot::channel();
        self.control.try_send(Control::Flush(tx)).map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()
    }
}

async fn run<E: SpanExporter>(
    exporter: E,
    mut spans: mpsc::Receiver<SpanData>,
    mut control: mpsc::Receiver<Control>,
    cfg: QueueConfig,
    dropped: IntCounterVec,
) {
    let mut batch = Vec::with_capacity(cfg.batch_size);
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            c = control.recv() => {
                let Some(Control::Flush(done)) = c else { break };
                while let Ok(s) = spans.try_recv() {
                    batch.push(s);
                    if batch.len() >= cfg.batch_size {
                        send(&exporter, std::mem::take(&mut batch), &cfg, &dropped).await;
                    }
                }
                send(&exporter, std::mem::take(&mut batch), &cfg, &dropped).await;
                let _ = done.send(());
            }
            s = spans.recv() => {
                let Some(s) = s else { break };
                batch.push(s);
                if batch.len() >= cfg.batch_size {
                    send(&exporter, std::mem::take(&mut batch), &cfg, &dropped).await;
                }
            }
            _ = tick.tick() => send(&exporter, std::mem::take(&mut batch), &cfg, &dropped).await,
        }
    }
    send(&exporter, batch, &cfg, &dropped).await;
}

/// One export under the timeout; a failed or late one loses its spans (counted), never retried.
async fn send<E: SpanExporter>(exporter: &E, batch: Vec<SpanData>, cfg: &QueueConfig, dropped: &IntCounterVec) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    match tokio::time::timeout(cfg.export_timeout, exporter.export(batch)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(target: "otel", error = %e, spans = n, "span export failed");
            dropped.with_label_values(&["export_failed"]).inc_by(n);
        }
        Err(_) => {
            tracing::debug!(target: "otel", spans = n, "span export timed out");
            dropped.with_label_values(&["export_failed"]).inc_by(n);
        }
    }
}

/// The HTTP client the OTLP exporter posts with: our reqwest (the one the upstream calls use), with a timeout,
/// no redirects and a bounded answer.
#[derive(Debug, Clone)]
pub struct CollectorClient(reqwest::Client);

/// The largest collector answer read (a partial-success message at most).
const MAX_ANSWER: usize = 64 * 1024;

impl CollectorClient {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("bridgekeeper/", env!("CARGO_PKG_VERSION")))
            .build()
            .map(CollectorClient)
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for CollectorClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<opentelemetry_http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let mut response = self.0.execute(request).await.map_err(|e| e.without_url())?;
        let mut answer = opentelemetry_http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url())? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err("collector answer too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(answer.body(body.into())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An exporter that keeps what it gets, and can be made to wait until released.
    #[derive(Debug, Clone, Default)]
    struct Keep {
        got: Arc<Mutex<Vec<String>>>,
        gate: Option<Arc<tokio::sync::Semaphore>>,
    }

    impl SpanExporter for Keep {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            if let Some(g) = &self.gate {
                let _ = g.acquire().await;
            }
            self.got.lock().unwrap().extend(batch.into_iter().map(|s| s.name.to_string()));
            Ok(())
        }
    }

    fn span(name: &str) -> SpanData {
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(7u128),
                SpanId::from(9u64),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: name.to_string().into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: vec![],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    fn counter() -> IntCounterVec {
        IntCounterVec::new(prometheus::Opts::new("dropped", "d"), &["reason"]).unwrap()
    }

    const CFG: QueueConfig = QueueConfig {
        queue_size: 4,
        batch_size: 2,
        interval: Duration::from_secs(3600),
        export_timeout: Duration::from_secs(5),
    };

    /// [OT-3] A stuck collector never holds up `on_end`: past the queue's bound spans are dropped and counted.
    #[tokio::test]
    async fn ot_3_a_full_queue_drops_and_counts_without_waiting() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let keep = Keep { gate: Some(gate.clone()), ..Default::default() };
        let dropped = counter();
        let (p, flusher) = spawn(keep.clone(), CFG, dropped.clone());
        for i in 0..20 {
            p.on_end(span(&format!("s{i}")));
        }
        // The export task took at most one batch out before it blocked on the gate; the queue holds 4.
        let lost = dropped.with_label_values(&["queue_full"]).get();
        assert!((14..=16).contains(&lost), "dropped {lost}");
        gate.add_permits(100);
        assert!(flusher.flush().await);
        let got = keep.got.lock().unwrap().len() as u64;
        assert_eq!(got + lost, 20, "every span is either sent or counted");
    }

    /// [OT-3] A flush sends what is queued; unsampled spans are never queued.
    #[tokio::test]
    async fn ot_3_flush_sends_the_queue_and_unsampled_spans_stay_out() {
        let keep = Keep::default();
        let (p, flusher) = spawn(keep.clone(), CFG, counter());
        p.on_end(span("a"));
        let mut unsampled = span("b");
        unsampled.span_context = opentelemetry::trace::SpanContext::empty_context();
        p.on_end(unsampled);
        p.on_end(span("c"));
        assert!(flusher.flush().await);
        assert_eq!(*keep.got.lock().unwrap(), vec!["a".to_string(), "c".to_string()]);
    }

    /// [OT-3] An export that fails loses its batch, counted as `export_failed`; the next one goes on.
    #[tokio::test]
    async fn ot_3_a_failing_export_is_counted() {
        #[derive(Debug)]
        struct Fail;
        impl SpanExporter for Fail {
            async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
                Err(OTelSdkError::InternalFailure("down".into()))
            }
        }
        let dropped = counter();
        let (p, flusher) = spawn(Fail, CFG, dropped.clone());
        for _ in 0..3 {
            p.on_end(span("x"));
        }
        assert!(flusher.flush().await);
        assert_eq!(dropped.with_label_values(&["export_failed"]).get(), 3);
    }
}
