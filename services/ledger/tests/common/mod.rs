//! Shared test harness: the ledger on a real socket with its log on disk,
//! and (see [`nats`]) a real nats-server.
#![allow(dead_code)]

pub mod clocked;
pub mod nats;
pub mod requests;

use std::sync::Arc;

use clap::Parser;
use ledger::config::LedgerArgs;
use loyalty_proto::ledger::v1::catalog_service_client::CatalogServiceClient;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LedgerArgs,
}

pub struct Ledger {
    pub client: LedgerServiceClient<Channel>,
    /// The catalog service on the same port.
    pub catalog: CatalogServiceClient<Channel>,
    /// `http://host:port` of the gRPC server.
    pub url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    dir: tempfile::TempDir,
}

impl Ledger {
    /// The ledger resolving `memberNo` as the member id itself (the
    /// identity service is tested end to end elsewhere).
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Ledger::start`] with more flags, e.g. `--nats-url`.
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::start_with_clock(extra, Arc::new(chrono::Utc::now)).await
    }

    /// [`Ledger::start_with`] reading time from `clock`.
    pub async fn start_with_clock(extra: &[&str], clock: ledger::grpc::Clock) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), extra, clock)
            .await
            .unwrap()
    }

    /// The ledger on the data dir `dir` (e.g. one a stopped ledger left,
    /// see [`Ledger::stop_keeping_data`]): an error when it cannot start.
    pub async fn start_in(
        dir: tempfile::TempDir,
        extra: &[&str],
        clock: ledger::grpc::Clock,
    ) -> Result<Self, anyhow::Error> {
        let mut argv = vec![
            "ledger",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--member-directory",
            "member-id",
        ];
        argv.extend_from_slice(extra);
        let args = Cli::parse_from(argv).args;
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = grpc.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let mut task = tokio::spawn(ledger::run(args, grpc, metrics, shutdown.clone(), clock));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        // Ready when health answers SERVING; a start that fails ends the task.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        loop {
            tokio::select! {
                ended = &mut task => {
                    ended??;
                    anyhow::bail!("the ledger stopped during its start");
                }
                answer = health.check(tonic_health::pb::HealthCheckRequest {
                    service: ledger::SERVICE_NAME.into(),
                }) => {
                    if answer.is_ok_and(|a| a.into_inner().status == 1) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
        Ok(Self {
            client: LedgerServiceClient::new(channel.clone()),
            catalog: CatalogServiceClient::new(channel),
            url: format!("http://{addr}"),
            shutdown,
            task,
            dir,
        })
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    /// Stops the ledger and hands back its data dir.
    pub async fn stop_keeping_data(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        self.dir
    }

    /// The data dir.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
