//! Service bootstrap: configuration, the gRPC server with health and
//! reflection, Prometheus `/metrics`, background tasks and graceful shutdown.
//!
//! A service's `main` parses its flags (flattening [`ServiceArgs`]), calls
//! [`ServiceArgs::validate`], binds its listeners and hands them to
//! [`Runtime::serve`] with its gRPC routes; tests do the same with port 0.
//! On SIGTERM/SIGINT the runtime reports NOT_SERVING, lets in-flight calls
//! finish, stops background tasks (outbox, projections, consumers) and
//! flushes the event log before exiting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::log::{EventLog, LogOptions};
use crate::outbox::{EventCodec, OutboxConfig, OutboxRelay};
use crate::telemetry::{self, LogFormat, TelemetryGuard};

/// Env var: gRPC listen address.
pub const ENV_GRPC_ADDR: &str = "LOYALTY_GRPC_ADDR";
/// Env var: Prometheus `/metrics` listen address.
pub const ENV_METRICS_ADDR: &str = "LOYALTY_METRICS_ADDR";
/// Env var: data directory (the sled event log lives in `<dir>/eventlog`).
pub const ENV_DATA_DIR: &str = "LOYALTY_DATA_DIR";
/// Env var: NATS URL; unset disables the outbox relay and consumers.
pub const ENV_NATS_URL: &str = "LOYALTY_NATS_URL";
/// Env var: JetStream duplicate window in seconds.
pub const ENV_NATS_DUPLICATE_WINDOW: &str = "LOYALTY_NATS_DUPLICATE_WINDOW_SECS";
/// Env var: log format (`text` or `json`).
pub const ENV_LOG_FORMAT: &str = "LOYALTY_LOG_FORMAT";
/// Env var: sled cache size in MiB.
pub const ENV_CACHE_MB: &str = "LOYALTY_CACHE_MB";
/// Env var: size of each event-log journal segment, in KiB.
pub const ENV_JOURNAL_SEGMENT_KB: &str = "LOYALTY_JOURNAL_SEGMENT_KB";
/// Env var: longest wait for in-flight calls on shutdown, in seconds.
pub const ENV_SHUTDOWN_GRACE: &str = "LOYALTY_SHUTDOWN_GRACE_SECS";
/// Env var: file of the callers (and their tokens) this service accepts.
pub const ENV_CALLER_TOKENS_FILE: &str = "LOYALTY_CALLER_TOKENS_FILE";
/// Env var: file holding this service's token for calls to other services.
pub const ENV_SERVICE_TOKEN_FILE: &str = "LOYALTY_SERVICE_TOKEN_FILE";

/// Settings every service shares. Each flag can also be set by its env var;
/// flags win over env vars, env vars over defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Address the gRPC server listens on.
    #[arg(long, global = true, env = ENV_GRPC_ADDR, default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Address the Prometheus `/metrics` endpoint listens on.
    #[arg(long, global = true, env = ENV_METRICS_ADDR, default_value = "127.0.0.1:9100")]
    pub metrics_addr: SocketAddr,
    /// Directory for this instance's data (event log, projections).
    #[arg(long, global = true, env = ENV_DATA_DIR, default_value = "./data")]
    pub data_dir: PathBuf,
    /// NATS server URL, e.g. nats://127.0.0.1:4222. Without it events stay in
    /// the log (the outbox relay catches up once it is configured).
    #[arg(long, global = true, env = ENV_NATS_URL)]
    pub nats_url: Option<String>,
    /// JetStream duplicate window for the LOYALTY stream, in seconds.
    #[arg(long, global = true, env = ENV_NATS_DUPLICATE_WINDOW, default_value_t = 600)]
    pub nats_duplicate_window_secs: u64,
    /// Log line format.
    #[arg(long, global = true, env = ENV_LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces; unset disables export.
    #[arg(long, global = true, env = telemetry::ENV_OTLP_ENDPOINT)]
    pub otlp_endpoint: Option<String>,
    /// sled page cache size in MiB.
    #[arg(long, global = true, env = ENV_CACHE_MB, default_value_t = 256)]
    pub cache_mb: u64,
    /// Size of each event-log journal segment, in KiB. Appends are made
    /// durable in the journal; when a segment is full, sled is flushed and
    /// fsynced (a checkpoint) and the segment deleted. Larger: fewer
    /// checkpoints, more to replay after a crash.
    #[arg(long, global = true, env = ENV_JOURNAL_SEGMENT_KB, default_value_t = 16_384)]
    pub journal_segment_kb: u64,
    /// Longest wait for in-flight calls to finish on shutdown, in seconds.
    #[arg(long, global = true, env = ENV_SHUTDOWN_GRACE, default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    /// File of the callers allowed to call this service, one `name token`
    /// per line (see `kit::auth`); every call must then carry a listed token
    /// in `x-loyalty-service-token`. Unset: calls are not checked (development
    /// only; a warning is logged).
    #[arg(long, global = true, env = ENV_CALLER_TOKENS_FILE)]
    pub caller_tokens_file: Option<PathBuf>,
    /// File holding this service's own token, sent on its calls to other
    /// services (and by operator commands).
    #[arg(long, global = true, env = ENV_SERVICE_TOKEN_FILE)]
    pub service_token_file: Option<PathBuf>,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has an unusable value.
    #[error("invalid --{flag}: {reason}")]
    Invalid {
        /// The flag (kebab case).
        flag: &'static str,
        /// Why.
        reason: String,
    },
}

impl ServiceArgs {
    /// Checks the settings together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.grpc_addr.port() != 0 && self.grpc_addr == self.metrics_addr {
            return Err(ConfigError::Invalid {
                flag: "metrics-addr",
                reason: "must differ from --grpc-addr".into(),
            });
        }
        if let Some(url) = &self.nats_url
            && !url
                .split(',')
                .all(|u| u.starts_with("nats://") || u.starts_with("tls://") || !u.contains("://"))
        {
            return Err(ConfigError::Invalid {
                flag: "nats-url",
                reason: format!("{url:?} is not a nats:// URL"),
            });
        }
        if !(1..=86_400).contains(&self.nats_duplicate_window_secs) {
            return Err(ConfigError::Invalid {
                flag: "nats-duplicate-window-secs",
                reason: "must be between 1 and 86400".into(),
            });
        }
        if !(64..=1_048_576).contains(&self.journal_segment_kb) {
            return Err(ConfigError::Invalid {
                flag: "journal-segment-kb",
                reason: "must be between 64 and 1048576".into(),
            });
        }
        if self.cache_mb == 0 {
            return Err(ConfigError::Invalid {
                flag: "cache-mb",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// Where the event log lives.
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("eventlog")
    }

    /// Event-log options from these settings.
    pub fn log_options(&self) -> LogOptions {
        LogOptions {
            cache_capacity: self.cache_mb * 1024 * 1024,
            journal_segment_bytes: self.journal_segment_kb * 1024,
            ..LogOptions::default()
        }
    }

    /// The callers this service accepts (`--caller-tokens-file`).
    pub fn caller_tokens(&self) -> anyhow::Result<std::sync::Arc<crate::auth::CallerTokens>> {
        let tokens = crate::auth::CallerTokens::load(self.caller_tokens_file.as_deref())?;
        if !tokens.enforced() {
            tracing::warn!(
                "no --caller-tokens-file: calls are not authenticated (development only)"
            );
        }
        Ok(std::sync::Arc::new(tokens))
    }

    /// This service's own token (`--service-token-file`).
    pub fn service_token(&self) -> anyhow::Result<crate::auth::ServiceToken> {
        crate::auth::ServiceToken::load(self.service_token_file.as_deref())
    }

    /// Installs telemetry for service `name` from these settings.
    pub fn init_telemetry(&self, name: &str) -> anyhow::Result<TelemetryGuard> {
        telemetry::init(name, self.log_format, self.otlp_endpoint.as_deref())
    }
}

/// `<service> verify` (service stopped): checks the whole event log
/// (checksums, gapless positions and versions, index, heads, idempotency
/// entries) and compares every projection with a replay of the log. Prints
/// one line per check; `Ok(false)` when something is inconsistent.
pub fn verify_data_dir(
    args: &ServiceArgs,
    projections: &[&dyn crate::projection::Projection],
) -> anyhow::Result<bool> {
    use anyhow::Context;
    let log = EventLog::open_with(args.log_dir(), args.log_options()).context(
        "opening the event log (stop the service first; if it cannot open, see `repair`)",
    )?;
    let mut consistent = true;
    match log.verify() {
        Ok(r) => println!(
            "event log: {} events, {} streams, {} idempotency entries: consistent",
            r.events, r.streams, r.idempotency_records
        ),
        Err(e) => {
            consistent = false;
            println!("event log: INCONSISTENT: {e}");
        }
    }
    for projection in projections {
        match crate::projection::compare(&log, *projection) {
            Ok(r) if r.differences == 0 => {
                println!(
                    "projection {}: {} rows equal the log's replay",
                    r.projection, r.rows
                )
            }
            Ok(r) => {
                consistent = false;
                println!(
                    "projection {}: INCONSISTENT: {} rows differ from the log's replay (run rebuild-projections)",
                    r.projection, r.differences
                );
            }
            Err(e) => {
                consistent = false;
                println!("projection {}: INCONSISTENT: {e}", projection.name());
            }
        }
    }
    log.close();
    Ok(consistent)
}

/// `<service> repair` (service stopped): see [`EventLog::repair`]. Prints
/// what was done; projections rebuild at the next start.
pub fn repair_data_dir(args: &ServiceArgs) -> anyhow::Result<()> {
    let report = EventLog::repair(args.log_dir())?;
    if let Some(aside) = &report.quarantined {
        println!("sled snapshot files moved to {}", aside.display());
    }
    match &report.cut_reason {
        None => println!("event log: {} events, nothing to cut", report.kept),
        Some(reason) => println!(
            "event log cut after position {} ({reason}): {} events removed",
            report.kept, report.removed
        ),
    }
    println!(
        "{} idempotency entries removed, {} projections dropped (rebuilt at the next start)",
        report.idempotency_removed, report.projections_dropped
    );
    Ok(())
}

/// A cancellation token cancelled on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        let mut term = match term {
            Ok(term) => Some(term),
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only SIGINT stops the service");
                None
            }
        };
        let sigterm = async {
            match term.as_mut() {
                Some(term) => term.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sigterm => tracing::info!("SIGTERM received; shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
            _ = t.cancelled() => {}
        }
        t.cancel();
    });
    token
}

/// One running service: its log, metrics registry, background tasks and
/// shutdown token.
pub struct Runtime {
    name: &'static str,
    args: ServiceArgs,
    log: Arc<EventLog>,
    registry: Registry,
    shutdown: CancellationToken,
    tasks_token: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    callers: Arc<crate::auth::CallerTokens>,
    /// Set when a background task ended (returned or panicked) before it was
    /// asked to stop: the service shuts down and exits non-zero.
    task_failed: Arc<std::sync::atomic::AtomicBool>,
}

impl Runtime {
    /// Opens the service's event log under the data dir. `shutdown` ends the
    /// service (see [`shutdown_on_signals`]).
    pub fn open(
        name: &'static str,
        args: ServiceArgs,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let callers = args.caller_tokens()?;
        let log = EventLog::open_with(args.log_dir(), args.log_options())?;
        let mut registry = Registry::with_prefix("loyalty");
        log.register_metrics(&mut registry);
        Ok(Self {
            name,
            args,
            log,
            registry,
            shutdown,
            tasks_token: CancellationToken::new(),
            tasks: Vec::new(),
            callers,
            task_failed: Arc::default(),
        })
    }

    /// The service's event log.
    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    /// The settings.
    pub fn args(&self) -> &ServiceArgs {
        &self.args
    }

    /// The metrics registry, to register more instruments.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Token cancelled when background tasks must stop (after the gRPC server
    /// has drained).
    pub fn tasks_token(&self) -> CancellationToken {
        self.tasks_token.clone()
    }

    /// Runs `task` in the background until shutdown; it must return soon
    /// after [`Runtime::tasks_token`] is cancelled.
    ///
    /// A task that ends before that — it returned, or it panicked — is a
    /// failure, never hidden: it is logged, the service shuts down and
    /// [`Runtime::serve`] returns an error (the process exits non-zero).
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        use futures::FutureExt;
        let stopping = self.tasks_token.clone();
        let shutdown = self.shutdown.clone();
        let failed = Arc::clone(&self.task_failed);
        self.tasks.push(tokio::spawn(async move {
            let ended = std::panic::AssertUnwindSafe(task).catch_unwind().await;
            if stopping.is_cancelled() {
                return;
            }
            match ended {
                Ok(()) => tracing::error!("a background task stopped on its own; shutting down"),
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("(no message)");
                    tracing::error!(panic = message, "a background task panicked; shutting down");
                }
            }
            failed.store(true, std::sync::atomic::Ordering::SeqCst);
            shutdown.cancel();
        }));
    }

    /// Starts the outbox relay when a NATS URL is configured.
    pub fn start_outbox(&mut self, codec: Arc<dyn EventCodec>) -> anyhow::Result<()> {
        let Some(url) = self.args.nats_url.clone() else {
            tracing::warn!("no NATS URL configured: events stay in the log until one is");
            return Ok(());
        };
        let mut config = OutboxConfig::new(self.name, &url);
        config.duplicate_window = Duration::from_secs(self.args.nats_duplicate_window_secs);
        let relay = OutboxRelay::new(Arc::clone(&self.log), config, codec)?;
        relay.register_metrics(&mut self.registry);
        let token = self.tasks_token();
        self.spawn(relay.run(token));
        Ok(())
    }

    /// Serves gRPC `routes` (plus health and reflection) on `grpc`, each
    /// call checked against `--caller-tokens-file` (see [`crate::auth`]), and
    /// `/metrics` on `metrics` until shutdown; then drains, stops the
    /// background tasks and flushes the log. `services` are the full names
    /// of the gRPC services in `routes`, reported SERVING by health.
    pub async fn serve(
        self,
        grpc: TcpListener,
        metrics: TcpListener,
        routes: tonic::service::Routes,
        services: &[&str],
    ) -> anyhow::Result<()> {
        let Runtime {
            name,
            args,
            log,
            registry,
            shutdown,
            tasks_token,
            tasks,
            callers,
            task_failed,
        } = self;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        for s in services {
            health
                .set_service_status(*s, tonic_health::ServingStatus::Serving)
                .await;
        }
        // Reflection lists only what this process serves (plus health and
        // reflection themselves), though the descriptor sets hold every
        // service of the platform.
        let reflection = || {
            let listed = services.iter().copied().chain([
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ]);
            listed
                .fold(tonic_reflection::server::Builder::configure(), |b, name| {
                    b.with_service_name(name)
                })
                .register_encoded_file_descriptor_set(loyalty_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                )
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let routes = routes
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        let metrics_app = telemetry::metrics_router(Arc::new(registry));
        let metrics_addr = metrics.local_addr()?;
        let metrics_token = tasks_token.clone();
        let metrics_task = tokio::spawn(async move {
            let _ = axum::serve(metrics, metrics_app)
                .with_graceful_shutdown(metrics_token.cancelled_owned())
                .await;
        });

        tracing::info!(
            service = name,
            grpc = %grpc.local_addr()?,
            metrics = %metrics_addr,
            data = %args.data_dir.display(),
            "serving"
        );
        // A log that cannot flush must not keep serving: stop, let the
        // orchestrator restart the process on its (recovered) data.
        let log_failed = {
            let mut durable = log.subscribe();
            let shutdown = shutdown.clone();
            let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = Arc::clone(&failed);
            tokio::spawn(async move {
                tokio::select! {
                    r = durable.wait_for(|d| d.failed) => {
                        if r.is_ok() {
                            tracing::error!("event log failed; shutting down");
                            flag.store(true, std::sync::atomic::Ordering::SeqCst);
                            shutdown.cancel();
                        }
                    }
                    _ = shutdown.cancelled() => {}
                }
            });
            failed
        };
        let grace = Duration::from_secs(args.shutdown_grace_secs);
        let drain_signal = shutdown.clone();
        let health_on_stop = health.clone();
        let server = tonic::transport::Server::builder()
            .layer(telemetry::GrpcTraceLayer)
            .layer(crate::auth::AuthLayer::new(callers))
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY a small answer written in parts waits
                // for the peer's delayed ACK: ~40 ms on every call.
                tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true)),
                async move {
                    drain_signal.cancelled().await;
                    health_on_stop
                        .set_service_status("", tonic_health::ServingStatus::NotServing)
                        .await;
                },
            );
        tokio::pin!(server);
        let served = tokio::select! {
            r = &mut server => r,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("in-flight calls did not finish within the grace period");
                Ok(())
            }
        };
        tasks_token.cancel();
        for t in tasks {
            let _ = t.await;
        }
        let _ = metrics_task.await;
        log.close();
        tracing::info!(
            service = name,
            head = log.head(),
            "stopped; event log flushed"
        );
        served?;
        anyhow::ensure!(
            !log_failed.load(std::sync::atomic::Ordering::SeqCst),
            "stopped because the event log could not be flushed"
        );
        anyhow::ensure!(
            !task_failed.load(std::sync::atomic::Ordering::SeqCst),
            "stopped because a background task failed"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        service: ServiceArgs,
    }

    fn parse(args: &[&str]) -> ServiceArgs {
        Cli::try_parse_from(std::iter::once("svc").chain(args.iter().copied()))
            .unwrap()
            .service
    }

    #[test]
    fn defaults_are_valid() {
        let a = parse(&[]);
        a.validate().unwrap();
        assert_eq!(a.log_dir(), PathBuf::from("./data/eventlog"));
    }

    #[test]
    fn validate_rejects_unusable_settings() {
        let same = parse(&[
            "--grpc-addr",
            "127.0.0.1:7000",
            "--metrics-addr",
            "127.0.0.1:7000",
        ]);
        assert!(matches!(
            same.validate(),
            Err(ConfigError::Invalid {
                flag: "metrics-addr",
                ..
            })
        ));
        let url = parse(&["--nats-url", "http://x"]);
        assert!(matches!(
            url.validate(),
            Err(ConfigError::Invalid {
                flag: "nats-url",
                ..
            })
        ));
        let window = parse(&["--nats-duplicate-window-secs", "0"]);
        assert!(window.validate().is_err());
    }
}
