//! `ledger`: bonus-point and cash accounts of the loyalty platform.
#![forbid(unsafe_code)]

use clap::Parser;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
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

/// Operator commands.
#[derive(Debug, clap::Subcommand)]
enum Operator {
    /// Maintenance of a stopped ledger's data dir.
    #[command(flatten)]
    Maintenance(kit::service::Maintenance),
    /// Batch balance changes.
    #[command(subcommand)]
    Batch(BatchCommand),
}

/// `ledger batch ...`.
#[derive(Debug, clap::Subcommand)]
enum BatchCommand {
    /// Stream a batch file (the seed's JSON, or CSV with a header row) to a
    /// running ledger and print its per-line report (seed 004) as JSON or CSV.
    Apply {
        /// The batch file; `.csv` files are CSV, anything else JSON.
        file: std::path::PathBuf,
        /// The ledger's gRPC URL.
        #[arg(long, env = ledger::config::ENV_LEDGER_URL, default_value = "http://127.0.0.1:50052")]
        ledger_url: String,
        /// CSV only: `requestId` of the batch.
        #[arg(long, default_value = "")]
        request_id: String,
        /// CSV only: batch `type` (2 accrue, 3 return, 4 manual accrue, 5 manual return).
        #[arg(long = "type", default_value_t = 2)]
        kind: i32,
        /// CSV only: `accrueDescription`.
        #[arg(long, default_value = "")]
        description: String,
        /// CSV only: `currencyExternalId` (empty: the default bonus currency).
        #[arg(long, default_value = "")]
        currency: String,
        /// CSV only: `lifeTimeDefinitionExternalId` (empty: the default).
        #[arg(long, default_value = "")]
        lifetime: String,
        /// The operator's id, stored with every line's event (audit):
        /// required for manual batches (types 4 and 5). A JSON file's own
        /// `operatorId` takes precedence.
        #[arg(long, env = ledger::config::ENV_OPERATOR_ID, default_value = "")]
        operator_id: String,
        /// Report format: `json` (the service's answer, proto3 JSON), `csv`
        /// (seed 004) or `seed-json` (seed 004's JSON: code, message, data).
        #[arg(long, value_parser = ["json", "csv", "seed-json"], default_value = "json")]
        format: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli: Cli = ledger::SPEC.parse();
    cli.args.validate()?;
    if let Some(Operator::Batch(BatchCommand::Apply {
        file,
        ledger_url,
        request_id,
        kind,
        description,
        currency,
        lifetime,
        operator_id,
        format,
    })) = cli.command
    {
        let _telemetry = cli.args.service.init_telemetry("ledger")?;
        let header = ledger::batch_file::CsvHeader {
            request_id,
            r#type: kind,
            description,
            currency,
            lifetime,
            operator_id,
        };
        let report = tokio::runtime::Runtime::new()?.block_on(ledger::batch_file::apply(
            &ledger_url,
            &file,
            header,
            &cli.args.service.service_token()?,
        ))?;
        if format == "csv" {
            print!("{}", ledger::batch_file::report_csv(&report));
        } else if format == "seed-json" {
            println!("{}", ledger::batch_file::report_json(&report));
        } else {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        std::process::exit(if report.code == 0 { 0 } else { 1 });
    }
    if let Some(Operator::Maintenance(m)) = cli.command {
        let code = m.run(&ledger::SPEC, &cli.args.service, &ledger::projections())?;
        std::process::exit(code);
    }
    ledger::SPEC.main(&cli.args.service.clone(), |grpc, metrics, shutdown| {
        ledger::run(cli.args, grpc, metrics, shutdown, kit::clock::system())
    })
}
