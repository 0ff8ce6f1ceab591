//! `social-poller`: social-network activity of the loyalty platform.
#![forbid(unsafe_code)]

use clap::Parser;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The social poller: polls the program's groups in social networks (VK),
/// turns members' activity (joins, leaves, likes, comments, reposts and
/// their removal) into events, and promotions into points published for
/// the ledger; over gRPC, events to NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "social-poller", version)]
struct Cli {
    #[command(flatten)]
    args: social_poller::config::SocialArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Maintenance of a stopped service's data dir.
    #[command(flatten)]
    Maintenance(kit::service::Maintenance),
}

fn main() -> anyhow::Result<()> {
    let cli: Cli = social_poller::SPEC.parse();
    cli.args.validate()?;
    match cli.command {
        Some(Command::Maintenance(m)) => {
            let code = m.run(
                &social_poller::SPEC,
                &cli.args.service,
                &social_poller::projections(),
            )?;
            std::process::exit(code);
        }
        None => social_poller::SPEC.main(&cli.args.service.clone(), |grpc, metrics, shutdown| {
            social_poller::run(cli.args, grpc, metrics, shutdown, kit::clock::system())
        }),
    }
}
