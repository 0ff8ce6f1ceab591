//! `gateway`: the public HTTP API of the loyalty platform.
#![forbid(unsafe_code)]

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The loyalty platform's public HTTP/JSON API: the seeds' paths and
/// envelope (processing for partner devices, balances, getPossibleLoyalty
/// as JSON and SOAP), OpenAPI at /openapi.json, docs at /docs; translated
/// to the services' gRPC. Stateless: run as many as needed.
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
struct Cli {
    #[command(flatten)]
    args: gateway::config::GatewayArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.args.validate()?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let _telemetry = kit::telemetry::init(
            "gateway",
            cli.args.log_format,
            cli.args.otlp_endpoint.as_deref(),
        )?;
        let http = tokio::net::TcpListener::bind(cli.args.http_addr).await?;
        let metrics = tokio::net::TcpListener::bind(cli.args.metrics_addr).await?;
        let shutdown = kit::bootstrap::shutdown_on_signals();
        gateway::run(cli.args, http, metrics, shutdown).await
    })
}
