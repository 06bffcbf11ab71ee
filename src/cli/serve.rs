//! `bridgekeeper serve`.

use super::CliError;
use crate::clock::Clock;
use crate::server::{AppState, StartError};
use crate::settings::Settings;

pub async fn serve(settings: Settings) -> Result<(), CliError> {
    // [OT-1] Traces, when `[otel] endpoint` is set; a collector that is down changes nothing but the count of
    // dropped spans.
    let telemetry = crate::telemetry::Telemetry::start(&settings.otel).map_err(CliError::Config)?;
    super::init_logging_with(&settings, telemetry.as_ref());
    if settings.dev_mode {
        tracing::warn!("DEV MODE is on: the `dev` upstream lets anyone sign in as anyone. Never use it in production.");
    }
    let listener = std::net::TcpListener::bind(&settings.bind)
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", settings.bind)))?;
    let issuer = settings.issuer.clone();
    let metrics_listener = match settings.metrics_bind.as_str() {
        "" => None,
        addr => Some(
            std::net::TcpListener::bind(addr)
                .map_err(|e| CliError::Failed(format!("cannot listen on metrics_bind {addr}: {e}")))?,
        ),
    };
    // Listening for SIGHUP from the start: a reload asked while migrations or keys are still loading must not end
    // the process (the default action); it is answered once the broker is up.
    let hangups = hangups();
    let state = AppState::prepare(settings, Clock::System).await.map_err(|e| match e {
        StartError::Templates(m) => CliError::Config(m),
        other => CliError::Failed(other.to_string()),
    })?;
    if let Some(t) = &telemetry {
        state.metrics.adopt(Box::new(t.dropped())).map_err(|e| CliError::Failed(format!("metrics: {e}")))?;
        tracing::info!(endpoint = %state.settings().otel.traces_url(), "sending traces by OTLP/HTTP");
    }
    spawn_reload_on_hangup(state.clone(), hangups);
    crate::reload::watch::spawn(state.clone());
    let server = crate::server::start(state.clone(), listener, None).map_err(|e| CliError::Failed(e.to_string()))?;
    if let Some(l) = metrics_listener {
        let metrics = crate::server::start_metrics(state.clone(), l).map_err(|e| CliError::Failed(e.to_string()))?;
        tokio::spawn(metrics);
    }
    crate::sweeper::spawn(state);
    tracing::info!(%issuer, "bridgekeeper is ready");
    let served = server.await.map_err(|e| CliError::Failed(e.to_string()));
    // [OT-3] What is still queued is sent before the process ends (bounded by the export timeout).
    if let Some(t) = telemetry {
        t.shutdown().await;
    }
    served
}

fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP; reload needs a restart"))
        .ok()
}

/// [HR-1] SIGHUP re-reads and validates the files (`reload`); a bad set leaves the broker serving as it was.
fn spawn_reload_on_hangup(state: std::sync::Arc<crate::state::AppState>, hangups: Option<tokio::signal::unix::Signal>) {
    let Some(mut hangups) = hangups else { return };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            crate::reload::reload(&state).await;
        }
    });
}
