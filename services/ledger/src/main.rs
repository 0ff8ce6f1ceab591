//! `ledger`: bonus-point and cash accounts of the loyalty platform.
#![forbid(unsafe_code)]

use std::sync::Arc;

use clap::Parser;
use ledger::config::LedgerArgs;

/// The ledger service: accounts per member and currency, lifetime buckets,
/// holds, refunds and expiry, served over gRPC; events go to NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "ledger", version)]
struct Cli {
    #[command(flatten)]
    args: LedgerArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.args.validate()?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let _telemetry = cli.args.service.init_telemetry("ledger")?;
        let grpc = tokio::net::TcpListener::bind(cli.args.service.grpc_addr).await?;
        let metrics = tokio::net::TcpListener::bind(cli.args.service.metrics_addr).await?;
        let shutdown = kit::bootstrap::shutdown_on_signals();
        ledger::run(
            cli.args,
            grpc,
            metrics,
            shutdown,
            Arc::new(chrono::Utc::now),
        )
        .await
    })
}
