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
    /// Maintenance of a stopped identity's data dir.
    #[command(flatten)]
    Maintenance(kit::service::Maintenance),
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
    let cli: Cli = identity::SPEC.parse();
    cli.args.validate()?;
    match cli.command {
        Some(Operator::Maintenance(m)) => {
            let code = m.run(&identity::SPEC, &cli.args.service, &identity::projections())?;
            std::process::exit(code);
        }
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
    identity::SPEC.main(&cli.args.service.clone(), |grpc, metrics, shutdown| {
        identity::run(cli.args, grpc, metrics, shutdown, kit::clock::system())
    })
}
