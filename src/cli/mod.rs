//! Command line: `serve`, `check-config`, `migrate`, `clients …`, `providers …`, `keys …`, `users …`, `audit`, `gc`.

mod admin;
mod check;
mod gc;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::settings::Settings;

#[derive(Debug, Parser)]
#[command(name = "bridgekeeper", version, about = "Federated identity broker (OAuth 2.0 / OpenID Connect)")]
pub struct Cli {
    /// Configuration file layered over the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker.
    Serve,
    /// Validate the configuration, every provider file and every template; contacts nothing unless --online.
    /// One line per problem (file and key); exit status 2 when there is any.
    CheckConfig {
        /// Also fetch each enabled OIDC provider's discovery document and JWKS.
        #[arg(long)]
        online: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage downstream clients (apps).
    #[command(subcommand)]
    Clients(admin::ClientsCmd),
    /// Inspect upstream provider files.
    #[command(subcommand)]
    Providers(admin::ProvidersCmd),
    /// Inspect and rotate signing keys.
    #[command(subcommand)]
    Keys(admin::KeysCmd),
    /// Inspect local users.
    #[command(subcommand)]
    Users(admin::UsersCmd),
    /// Show recent security events (logins, links, consents, revocations, reuse detections, admin actions).
    Audit {
        /// How many events, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only this event type (e.g. login, link, refresh_reuse).
        #[arg(long)]
        event: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete expired rows now (what the sweeper does every `gc_interval_secs`); prints rows removed per table.
    Gc {
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

/// A command failure: configuration mistakes exit with 2, everything else with 1.
#[derive(Debug)]
pub enum CliError {
    Config(String),
    Failed(String),
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        CliError::Failed(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Config(msg)) => {
            eprintln!("configuration error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| CliError::Config(e.0))?;
    match cli.command {
        Command::Serve => serve::serve(settings).await,
        Command::CheckConfig { online } => check::check_config(&settings, online).await,
        Command::Migrate => admin::migrate(&settings).await,
        Command::Clients(c) => admin::clients(&settings, c).await,
        Command::Providers(c) => admin::providers(&settings, c).await,
        Command::Keys(c) => admin::keys(&settings, c).await,
        Command::Users(c) => admin::users(&settings, c).await,
        Command::Audit { limit, event, json } => admin::audit_log(&settings, limit, event, json).await,
        Command::Gc { dry_run } => gc::gc(&settings, dry_run).await,
    }
}

/// Logging: human-readable or JSON on stderr, filter from RUST_LOG or `log_level`.
pub fn init_logging(settings: &Settings) {
    init_logging_with(settings, None);
}

/// Logging, and with `[otel]` the trace layer beside it ([OT-2]: the log filter never shows the trace spans, the
/// trace layer never sees a log event).
pub fn init_logging_with(settings: &Settings, telemetry: Option<&crate::telemetry::Telemetry>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, Registry};
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = match format!("{}=off", crate::telemetry::TARGET).parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match settings.log_format {
        crate::settings::LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        crate::settings::LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    let mut layers = vec![logs];
    layers.extend(telemetry.map(|t| t.layer::<Registry>()));
    let _ = tracing_subscriber::registry().with(layers).try_init();
}
