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
    #[command(subcommand)]
    command: Option<Operator>,
}

/// Operator commands (run while the service is stopped).
#[derive(Debug, clap::Subcommand)]
enum Operator {
    /// Drop every projection and rebuild it by replaying the event log, with
    /// progress; reports events/s and whether the result equals what it replaced.
    RebuildProjections,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.args.validate()?;
    if let Some(Operator::RebuildProjections) = cli.command {
        let _telemetry = cli.args.service.init_telemetry("ledger")?;
        for r in ledger::rebuild_projections(&cli.args)? {
            println!(
                "{}: {} events in {:.2} s ({:.0} events/s), {} rows; {}",
                r.projection,
                r.events,
                r.elapsed.as_secs_f64(),
                r.events_per_second(),
                r.rows,
                if r.differences == 0 {
                    "identical to the projection it replaced".to_owned()
                } else {
                    format!(
                        "{} rows differed from the projection it replaced",
                        r.differences
                    )
                }
            );
        }
        return Ok(());
    }
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
