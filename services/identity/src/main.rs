//! `identity`: member registration, tokens, cards and profiles of the loyalty platform.
#![forbid(unsafe_code)]

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
    #[command(subcommand)]
    command: Option<Operator>,
}

/// Operator commands.
#[derive(Debug, clap::Subcommand)]
enum Operator {
    /// Drop every projection (member directory, card stock) and rebuild it by
    /// replaying the event log, with progress; reports events/s and whether
    /// the result equals what it replaced. Run while the service is stopped.
    RebuildProjections,
    /// Check the event log and compare every projection with a replay of
    /// the log (service stopped). Exit code 3 when something is inconsistent.
    Verify,
    /// Repair a data dir whose storage lost acknowledged data (service
    /// stopped; work on a copy): set damaged sled snapshots aside, cut the
    /// log after its last consistent position, drop projections to rebuild.
    Repair,
    /// The card stock of a running identity service.
    #[command(subcommand)]
    Cards(CardsCommand),
}

/// `identity cards ...`.
#[derive(Debug, clap::Subcommand)]
enum CardsCommand {
    /// Load physical card numbers from a text file: one number or range
    /// (`FIRST-LAST`) per line, `#` comments. Loading twice is harmless.
    /// Exit code 0: every number loaded or known; 2: some were rejected
    /// (listed, masked); 1: the file or the service failed.
    Load {
        /// The file.
        file: std::path::PathBuf,
        /// The identity service's gRPC URL.
        #[arg(long, env = identity::config::ENV_IDENTITY_URL, default_value = "http://127.0.0.1:50051")]
        identity_url: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.args.validate()?;
    match cli.command {
        Some(Operator::RebuildProjections) => return rebuild(&cli.args),
        Some(Operator::Verify) => {
            if !identity::verify(&cli.args)? {
                std::process::exit(3);
            }
            return Ok(());
        }
        Some(Operator::Repair) => return kit::bootstrap::repair_data_dir(&cli.args.service),
        Some(Operator::Cards(CardsCommand::Load { file, identity_url })) => {
            let answer = tokio::runtime::Runtime::new()?.block_on(identity::cards_file::load(
                &identity_url,
                &file,
                &cli.args.service.service_token()?,
            ))?;
            println!(
                "loaded {}, already known {}, rejected {}",
                answer.loaded,
                answer.already_known,
                answer.rejected.len()
            );
            for r in &answer.rejected {
                println!("rejected {} ({})", r.card_number_masked, r.reason);
            }
            std::process::exit(if answer.rejected.is_empty() { 0 } else { 2 });
        }
        None => {}
    }
    tokio::runtime::Runtime::new()?.block_on(async move {
        let _telemetry = cli.args.service.init_telemetry("identity")?;
        let grpc = tokio::net::TcpListener::bind(cli.args.service.grpc_addr).await?;
        let metrics = tokio::net::TcpListener::bind(cli.args.service.metrics_addr).await?;
        let shutdown = kit::bootstrap::shutdown_on_signals();
        identity::run(cli.args, grpc, metrics, shutdown, kit::clock::system()).await
    })
}

/// `identity rebuild-projections`.
fn rebuild(args: &identity::config::IdentityArgs) -> anyhow::Result<()> {
    let _telemetry = args.service.init_telemetry("identity")?;
    for r in identity::rebuild_projections(args)? {
        println!("{r}");
    }
    Ok(())
}
