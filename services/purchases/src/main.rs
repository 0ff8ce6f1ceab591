//! `purchases`: purchase processing of the loyalty platform.
#![forbid(unsafe_code)]

use clap::Parser;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use purchases::config::PurchasesArgs;

/// The purchases service: Calculate, Available, Payment, Bonus, Confirm,
/// Cancel, Refund and Balance for tills and e-shops, over gRPC; members are
/// found through identity, points are held, accrued and refunded in the
/// ledger; events go to NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "purchases", version)]
struct Cli {
    #[command(flatten)]
    args: PurchasesArgs,
    #[command(subcommand)]
    command: Option<Operator>,
}

/// Operator commands.
#[derive(Debug, clap::Subcommand)]
enum Operator {
    /// Maintenance of a stopped service's data dir.
    #[command(flatten)]
    Maintenance(kit::service::Maintenance),
}

fn main() -> anyhow::Result<()> {
    let cli: Cli = purchases::SPEC.parse();
    cli.args.validate()?;
    if let Some(Operator::Maintenance(m)) = cli.command {
        let code = m.run(
            &purchases::SPEC,
            &cli.args.service,
            &purchases::projections(),
        )?;
        std::process::exit(code);
    }
    purchases::SPEC.main(&cli.args.service.clone(), |grpc, metrics, shutdown| {
        purchases::run(cli.args, grpc, metrics, shutdown, kit::clock::system())
    })
}
