//! `certificates`: gift (money) certificates of the loyalty platform.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Seek, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use sha2::{Digest, Sha256};

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The certificates service: gift (money) certificates imported from
/// files (seed 000) with a per-line report (seed 004), found by any of
/// their identifiers, over gRPC; events go to NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "certificates", version)]
struct Cli {
    #[command(flatten)]
    args: certificates::config::CertificatesArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Report formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Counts and the refused lines, for people.
    Text,
    /// Seed 004's CSV: `0;<importId>;<sum>`, `errors;<importId>;<count>`,
    /// `errorAtLine;<line>;"<reason>"`.
    Csv,
    /// Seed 004's JSON: `{"code", "message", "data": {"id", "summary",
    /// "errors"}}`.
    Json,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Maintenance of a stopped service's data dir.
    #[command(flatten)]
    Maintenance(kit::service::Maintenance),
    /// Imports, into a stopped service's data dir, a `;`-separated certificate file (seed 000: a header row
    /// naming any of Number, BarCode, Strip1, Strip2, Strip3, QRcode,
    /// Status, Amount, ActivationDate, ExpirationDate, RedemptionDate),
    /// showing progress, then prints the report. Lines loaded before,
    /// unchanged, are skipped; a refused line is reported with its reason
    /// and the others still load. Exit code 0 when any line was accepted or
    /// skipped, 1 when every line was refused.
    Import {
        /// The file.
        file: PathBuf,
        /// The issue the new certificates join (created before with
        /// `CreateIssue`; its type says whether they are one-time and bounds
        /// their amount when its value is fixed).
        #[arg(long)]
        issue: String,
        /// The import's id (default: `file-` and the first 16 hex digits of
        /// the file's SHA-256, so importing the same file again after a
        /// crash continues the same job).
        #[arg(long)]
        import_id: Option<String>,
        /// How to print the report.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Counts the file's lines and names the job by its content.
fn survey(file: &PathBuf) -> anyhow::Result<(u64, String)> {
    let mut reader = BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let mut hasher = Sha256::new();
    let mut lines = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        hasher.update(buf);
        lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let n = buf.len();
        reader.consume(n);
    }
    let digest = hex::encode(&hasher.finalize()[..8]);
    Ok((lines.saturating_sub(1), format!("file-{digest}")))
}

fn main() -> anyhow::Result<()> {
    let cli: Cli = certificates::SPEC.parse();
    cli.args.validate()?;
    let (file, issue, import_id, format) = match cli.command {
        Some(Command::Maintenance(m)) => {
            let code = m.run(
                &certificates::SPEC,
                &cli.args.service,
                &certificates::projections(),
            )?;
            std::process::exit(code);
        }
        Some(Command::Import {
            file,
            issue,
            import_id,
            format,
        }) => (file, issue, import_id, format),
        None => {
            return certificates::SPEC.main(
                &cli.args.service.clone(),
                |grpc, metrics, shutdown| {
                    certificates::run(cli.args, grpc, metrics, shutdown, kit::clock::system())
                },
            );
        }
    };
    let log_dir = cli.args.service.log_dir();
    let (total, default_id) = survey(&file)?;
    let import_id = import_id.unwrap_or(default_id);
    let runtime = tokio::runtime::Runtime::new()?;
    let (report, mut errors) = runtime.block_on(async {
        let log = kit::log::EventLog::open(&log_dir)
            .with_context(|| format!("opening the event log in {}", log_dir.display()))?;
        let catalog = certificates::app::catalog::Catalog::new(std::sync::Arc::clone(&log));
        let Some(issue) = catalog.issue(&issue).map_err(|e| anyhow::anyhow!("{e}"))? else {
            anyhow::bail!(
                "no issue {issue:?} in {}: create it first (CreateIssue, with the service running)",
                log_dir.display()
            );
        };
        let importer = certificates::app::import::Importer::new(log);
        let progress = kit::progress::Progress::new(total, "certificate lines");
        // Refused lines go to a temporary file as they come, so a file of
        // a million bad lines needs no memory for them.
        let mut errors = std::io::BufWriter::new(tempfile::tempfile()?);
        let mut failed = None;
        let input = BufReader::new(std::fs::File::open(&file)?);
        let report = importer
            .import(&import_id, &issue, input, |line, outcome| {
                progress.inc(1);
                if let certificates::app::import::Outcome::Refused(reason) = outcome
                    && let Err(e) = writeln!(errors, "{line}\t{}", reason.replace('\n', " "))
                {
                    failed.get_or_insert(e);
                }
            })
            .await?;
        progress.finish();
        if let Some(e) = failed {
            return Err(e.into());
        }
        let mut errors = errors.into_inner().map_err(|e| e.into_error())?;
        errors.rewind()?;
        anyhow::Ok((report, errors))
    })?;
    let sum = format!("{:.2}", report.accepted_amount);
    let head = kit::report::Head {
        code: report.code(),
        message: "every line of the file was refused",
        id: &report.import_id,
        sums: vec![("RUR", sum.as_str())],
        error_count: report.refused,
    };
    // The refused lines are read back one at a time from the temporary
    // file (only the JSON form, one document, holds them all).
    let mut refused = BufReader::new(&mut errors).lines().map(|l| {
        let l = l?;
        let (n, reason) = l.split_once('\t').unwrap_or(("0", l.as_str()));
        anyhow::Ok((n.parse::<u64>().unwrap_or(0), reason.to_owned()))
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Csv => {
            out.write_all(kit::report::csv_head(&head).as_bytes())?;
            for line in refused {
                let (n, reason) = line?;
                out.write_all(kit::report::csv_error(n, &reason).as_bytes())?;
            }
        }
        Format::Json => {
            let all = refused.collect::<anyhow::Result<Vec<_>>>()?;
            let lines = all.iter().map(|(n, r)| (*n, r.as_str()));
            writeln!(out, "{}", kit::report::json(&head, lines))?;
        }
        Format::Text => {
            writeln!(
                out,
                "import {}: {} lines: {} created, {} updated, {} skipped (unchanged), {} refused; amount accepted {sum}",
                report.import_id,
                report.lines,
                report.created,
                report.updated,
                report.unchanged,
                report.refused
            )?;
            refused.try_for_each(|line| {
                let (n, reason) = line?;
                writeln!(out, "  line {n}: {reason}")?;
                anyhow::Ok(())
            })?;
        }
    }
    out.flush()?;
    drop(out);
    std::process::exit(if report.code() == kit::report::CODE_OK {
        0
    } else {
        1
    });
}
