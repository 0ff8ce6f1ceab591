//! Shared test harness: the ledger on a real socket with its log on disk,
//! and (see [`nats`]) a real nats-server.
#![allow(dead_code)]

pub mod batch;
pub mod clocked;
pub mod commands;
pub mod requests;

use std::sync::Arc;

use clap::Parser;
use kit::service::InProcess;
use ledger::config::LedgerArgs;
use loyalty_proto::ledger::v1::catalog_service_client::CatalogServiceClient;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tonic::transport::Channel;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LedgerArgs,
}

/// The ledger's flags in `argv` (its name first), parsed as the binary
/// parses them.
pub fn parse_args<'a>(argv: impl IntoIterator<Item = &'a str>) -> LedgerArgs {
    Cli::parse_from(argv).args
}

pub struct Ledger {
    pub client: LedgerServiceClient<Channel>,
    /// The catalog service on the same port.
    pub catalog: CatalogServiceClient<Channel>,
    /// `http://host:port` of the gRPC server.
    pub url: String,
    service: InProcess,
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
        let args = parse_args(argv);
        let service = InProcess::start(&ledger::SPEC, |grpc, metrics, shutdown| {
            ledger::run(args, grpc, metrics, shutdown, clock)
        })
        .await?;
        Ok(Self {
            client: LedgerServiceClient::new(service.channel.clone()),
            catalog: CatalogServiceClient::new(service.channel.clone()),
            url: service.url.clone(),
            service,
            dir,
        })
    }

    pub async fn stop(self) {
        self.service.stop().await.unwrap();
    }

    /// Stops the ledger and hands back its data dir.
    pub async fn stop_keeping_data(self) -> tempfile::TempDir {
        self.service.stop().await.unwrap();
        self.dir
    }

    /// The data dir.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
