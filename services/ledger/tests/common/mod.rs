//! Shared test harness: the ledger on a real socket with its log on disk,
//! and (see [`nats`]) a real nats-server.
#![allow(dead_code)]

pub mod clocked;
pub mod nats;
pub mod requests;

use std::sync::Arc;

use clap::Parser;
use ledger::config::LedgerArgs;
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
    /// `http://host:port` of the gRPC server.
    pub url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().unwrap();
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
        let task = tokio::spawn(ledger::run(args, grpc, metrics, shutdown.clone(), clock));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        Self {
            client: LedgerServiceClient::new(channel),
            url: format!("http://{addr}"),
            shutdown,
            task,
            _dir: dir,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}
