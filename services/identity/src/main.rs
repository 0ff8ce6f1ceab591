//! `identity`: member registration, tokens, cards and profiles of the loyalty platform.
#![forbid(unsafe_code)]

use std::sync::Arc;

use clap::Parser;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The identity service: registration by phone or by card with the seed's
/// steps, tokens, confirm codes (SMS / e-mail), the card stock, member
/// profiles, social and bank-card links, served over gRPC; public events go
/// to NATS JetStream on `loyalty.identity.*`.
#[derive(Debug, Parser)]
#[command(name = "identity", version)]
struct Cli {
    #[command(flatten)]
    args: identity::config::IdentityArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.args.validate()?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let _telemetry = cli.args.service.init_telemetry("identity")?;
        let grpc = tokio::net::TcpListener::bind(cli.args.service.grpc_addr).await?;
        let metrics = tokio::net::TcpListener::bind(cli.args.service.metrics_addr).await?;
        let shutdown = kit::bootstrap::shutdown_on_signals();
        identity::run(
            cli.args,
            grpc,
            metrics,
            shutdown,
            Arc::new(chrono::Utc::now),
        )
        .await
    })
}
