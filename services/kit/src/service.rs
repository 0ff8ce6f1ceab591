//! One declaration of a service, from which its binary, its operator
//! commands, its server and its in-process test fixture all follow.
//!
//! A service declares a [`Spec`] (name, gRPC services, default addresses from
//! the README's port table) and its [`Projections`] once. Then:
//! - [`Spec::parse`] reads the command line with the service's own default
//!   addresses (`--grpc-addr`, `--metrics-addr`);
//! - [`Projections::start`] registers every projection (metrics included)
//!   and runs them; [`Projections::rebuild`] and [`Projections::verify`]
//!   (the `rebuild-projections` and `verify` commands) use the same list, so
//!   a projection cannot be forgotten by one of them;
//! - [`Spec::serve`] serves gRPC with health and reflection for exactly the
//!   declared services;
//! - [`InProcess`] starts the service on port 0 for tests and benchmarks and
//!   returns once health answers SERVING.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bootstrap::{Runtime, ServiceArgs};
use crate::consumer::{Consumer, ConsumerConfig, HandlerError, Inbound};
use crate::log::EventLog;
use crate::projection::{Projection, ProjectionHandle, ProjectionRunner, RebuildReport};

/// What a service is, declared once.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Its name (`ledger`): telemetry's service name, log lines.
    pub name: &'static str,
    /// Full names of the gRPC services it serves (health reports each
    /// SERVING, reflection lists exactly these).
    pub grpc_services: &'static [&'static str],
    /// Default `--grpc-addr` (the README's port table).
    pub grpc_addr: &'static str,
    /// Default `--metrics-addr`.
    pub metrics_addr: &'static str,
}

impl Spec {
    /// The command line of the service's binary, with its own default
    /// addresses (and `--help` showing them).
    pub fn parse<C: clap::Parser>(&self) -> C {
        self.parse_from(std::env::args_os())
    }

    /// [`Spec::parse`] from `argv` (tests).
    pub fn parse_from<C, I, T>(&self, argv: I) -> C
    where
        C: clap::Parser,
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = self.command::<C>();
        let matches = command.get_matches_from(argv);
        C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The clap command of `C` with this service's default addresses.
    pub fn command<C: clap::CommandFactory>(&self) -> clap::Command {
        C::command()
            .mut_arg("grpc_addr", |a| a.default_value(self.grpc_addr))
            .mut_arg("metrics_addr", |a| a.default_value(self.metrics_addr))
    }

    /// Binds the configured gRPC and metrics addresses.
    pub async fn bind(&self, args: &ServiceArgs) -> anyhow::Result<(TcpListener, TcpListener)> {
        let grpc = TcpListener::bind(args.grpc_addr)
            .await
            .with_context(|| format!("{}: binding --grpc-addr {}", self.name, args.grpc_addr))?;
        let metrics = TcpListener::bind(args.metrics_addr)
            .await
            .with_context(|| {
                format!(
                    "{}: binding --metrics-addr {}",
                    self.name, args.metrics_addr
                )
            })?;
        Ok((grpc, metrics))
    }

    /// The serving part of a service's `main`: a tokio runtime, telemetry
    /// under the service's name, the configured addresses bound, shutdown
    /// on SIGTERM/SIGINT, then `run(grpc, metrics, shutdown)` until it ends.
    pub fn main<F, Fut>(&self, args: &ServiceArgs, run: F) -> anyhow::Result<()>
    where
        F: FnOnce(TcpListener, TcpListener, CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        tokio::runtime::Runtime::new()?.block_on(async move {
            let _telemetry = args.init_telemetry(self.name)?;
            let (grpc, metrics) = self.bind(args).await?;
            run(grpc, metrics, crate::bootstrap::shutdown_on_signals()).await
        })
    }

    /// Serves `routes` (the declared gRPC services) on `grpc`, plus health
    /// and reflection, and metrics on `metrics`, until shutdown.
    pub async fn serve(
        &self,
        runtime: Runtime,
        grpc: TcpListener,
        metrics: TcpListener,
        routes: tonic::service::Routes,
    ) -> anyhow::Result<()> {
        runtime
            .serve(grpc, metrics, routes, self.grpc_services)
            .await
    }
}

/// The projections a service keeps, in the order they are declared.
#[derive(Default, Clone)]
pub struct Projections(Vec<Arc<dyn Projection>>);

/// Running projections: their handles by name.
pub struct Started(HashMap<&'static str, ProjectionHandle>);

impl Started {
    /// The handle of the projection named `name`.
    pub fn handle(&self, name: &str) -> anyhow::Result<ProjectionHandle> {
        self.0
            .get(name)
            .cloned()
            .with_context(|| format!("no projection {name:?} was declared"))
    }
}

impl Projections {
    /// No projections yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also `projection`.
    pub fn with(mut self, projection: impl Projection) -> Self {
        self.0.push(Arc::new(projection));
        self
    }

    /// Every declared projection.
    pub fn list(&self) -> Vec<&dyn Projection> {
        self.0.iter().map(|p| p.as_ref()).collect()
    }

    /// Registers every projection on `runtime`'s log with its metrics and
    /// runs them in the background until shutdown.
    pub fn start(&self, runtime: &mut Runtime) -> anyhow::Result<Started> {
        let mut runner = ProjectionRunner::new(Arc::clone(runtime.log()));
        let mut handles = HashMap::new();
        for p in &self.0 {
            handles.insert(p.name(), runner.add(Arc::clone(p))?);
        }
        runner.register_metrics(runtime.registry_mut());
        let token = runtime.tasks_token();
        runtime.spawn(runner.run(token));
        Ok(Started(handles))
    }

    /// `rebuild-projections` (service stopped): drops and rebuilds every
    /// projection by replaying the log; one report per projection.
    pub fn rebuild(&self, args: &ServiceArgs) -> anyhow::Result<Vec<RebuildReport>> {
        let log = EventLog::open_with(args.log_dir(), args.log_options()).context(
            "opening the event log: stop the service first, a rebuild needs its data dir to itself",
        )?;
        let mut reports = Vec::new();
        for p in &self.0 {
            reports.push(crate::projection::rebuild(&log, p.as_ref())?);
        }
        log.close();
        Ok(reports)
    }

    /// `verify` (service stopped): the log and every projection against a
    /// replay ([`crate::bootstrap::verify_data_dir`]); false when inconsistent.
    pub fn verify(&self, args: &ServiceArgs) -> anyhow::Result<bool> {
        crate::bootstrap::verify_data_dir(args, &self.list())
    }
}

/// A durable JetStream consumer a service runs.
#[derive(Debug, Clone, Copy)]
pub struct Subscription {
    /// Durable consumer name (`ledger-social`); its dead letters go to
    /// `loyalty.dlq.<name>`.
    pub name: &'static str,
    /// Subject filter (`loyalty.social.>`).
    pub filter: &'static str,
    /// Prefix of its metrics (`social` → `loyalty_social_consumer_messages`).
    pub metrics_prefix: &'static str,
}

/// Runs `subscription` on `runtime` with `handler` until shutdown: the
/// NATS URL and duplicate window from the service's flags, metrics
/// registered. False (and a warning) when no NATS URL is configured.
pub fn consume<H, F>(runtime: &mut Runtime, subscription: Subscription, handler: H) -> bool
where
    H: Fn(Inbound) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let Some(url) = runtime.args().nats_url.clone() else {
        tracing::warn!(
            consumer = subscription.name,
            "no NATS URL configured: not consuming {}",
            subscription.filter
        );
        return false;
    };
    let mut config = ConsumerConfig::new(subscription.name, &url, subscription.filter);
    config.duplicate_window =
        std::time::Duration::from_secs(runtime.args().nats_duplicate_window_secs);
    let consumer = Consumer::new(config);
    consumer.register_metrics(
        runtime
            .registry_mut()
            .sub_registry_with_prefix(subscription.metrics_prefix),
    );
    let token = runtime.tasks_token();
    runtime.spawn(consumer.run(handler, token));
    true
}

/// The operator commands every stateful service has (run while it is
/// stopped); flatten them into the binary's subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Maintenance {
    /// Drop every projection and rebuild it by replaying the event log, with
    /// progress; reports events/s and whether the result equals what it
    /// replaced.
    RebuildProjections,
    /// Check the event log (checksums, positions, versions, index,
    /// idempotency entries) and compare every projection with a replay of
    /// the log. Exit code 3 when something is inconsistent.
    Verify,
    /// Repair a data dir whose storage lost acknowledged data (work on a
    /// copy): set damaged sled snapshots aside, cut the log after its last
    /// consistent position, drop the projections so they rebuild at the
    /// next start.
    Repair,
}

/// Exit code of `verify` when something is inconsistent.
pub const EXIT_INCONSISTENT: i32 = 3;

impl Maintenance {
    /// Runs the command on `args`' data dir with `projections`; the process
    /// exit code.
    pub fn run(
        self,
        spec: &Spec,
        args: &ServiceArgs,
        projections: &Projections,
    ) -> anyhow::Result<i32> {
        match self {
            Maintenance::RebuildProjections => {
                let _telemetry = args.init_telemetry(spec.name)?;
                for report in projections.rebuild(args)? {
                    println!("{report}");
                }
                Ok(0)
            }
            Maintenance::Verify => Ok(if projections.verify(args)? {
                0
            } else {
                EXIT_INCONSISTENT
            }),
            Maintenance::Repair => {
                crate::bootstrap::repair_data_dir(args)?;
                Ok(0)
            }
        }
    }
}

/// A service started in this process on loopback port 0 (tests, benches):
/// returns once gRPC health answers SERVING for its first declared service.
pub struct InProcess {
    /// `http://127.0.0.1:<port>` of its gRPC server.
    pub url: String,
    /// A channel to it.
    pub channel: tonic::transport::Channel,
    /// Its metrics address.
    pub metrics_addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Starts `run(grpc, metrics, shutdown)` (the service's `run`) for
    /// `spec`; an error when it ends before serving.
    pub async fn start<F, Fut>(spec: &Spec, run: F) -> anyhow::Result<Self>
    where
        F: FnOnce(TcpListener, TcpListener, CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let grpc = TcpListener::bind("127.0.0.1:0").await?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let addr = grpc.local_addr()?;
        let metrics_addr = metrics.local_addr()?;
        let shutdown = CancellationToken::new();
        let mut task = tokio::spawn(run(grpc, metrics, shutdown.clone()));
        let url = format!("http://{addr}");
        let channel = tonic::transport::Endpoint::from_shared(url.clone())?.connect_lazy();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let service = spec.grpc_services.first().copied().unwrap_or_default();
        loop {
            tokio::select! {
                ended = &mut task => {
                    ended??;
                    anyhow::bail!("{} stopped during its start", spec.name);
                }
                answer = health.check(tonic_health::pb::HealthCheckRequest {
                    service: service.to_owned(),
                }) => {
                    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving;
                    if answer.is_ok_and(|a| a.into_inner().status == serving as i32) {
                        break;
                    }
                    // Not serving yet: the server answers as soon as it is.
                    tokio::task::yield_now().await;
                }
            }
        }
        Ok(Self {
            url,
            channel,
            metrics_addr,
            shutdown,
            task,
        })
    }

    /// Stops the service and waits for it: its error, if it failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await?
    }
}

/// How long connecting to another service may take.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A channel to another service at `url` (`http://host:port`) that
/// connects lazily, on the first call, and reconnects as needed (a service
/// starts and serves while the other is down); each call may take up to
/// `call_timeout`.
pub fn lazy_channel(
    url: &str,
    call_timeout: std::time::Duration,
) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("URL {url:?}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(call_timeout)
        .connect_lazy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        service: ServiceArgs,
        #[command(subcommand)]
        command: Option<Maintenance>,
    }

    const SPEC: Spec = Spec {
        name: "probe",
        grpc_services: &["loyalty.kit.v1.Probe"],
        grpc_addr: "127.0.0.1:50059",
        metrics_addr: "127.0.0.1:9109",
    };

    #[test]
    fn a_service_listens_on_its_own_default_addresses() {
        let cli: Cli = SPEC.parse_from(["probe"]);
        assert_eq!(cli.service.grpc_addr.to_string(), "127.0.0.1:50059");
        assert_eq!(cli.service.metrics_addr.to_string(), "127.0.0.1:9109");
        assert_eq!(cli.command, None);
        let cli: Cli = SPEC.parse_from(["probe", "--grpc-addr", "127.0.0.1:1", "verify"]);
        assert_eq!(cli.service.grpc_addr.to_string(), "127.0.0.1:1");
        assert_eq!(cli.command, Some(Maintenance::Verify));
    }
}
