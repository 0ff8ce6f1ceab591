//! Certificate import benchmark (`scripts/bench.sh certificates`): prints
//! figures, asserts nothing.
//!
//! Writes a seed-000 file of `CERTIFICATES_BENCH_LINES` (100 000) new
//! certificates (Number, BarCode, Strip2, Status, Amount, dates) under the
//! target dir, imports it into a fresh event log on disk, then imports it
//! again (every line skipped): lines/s of each, and the process's peak
//! resident memory (flat memory means it does not grow with the file).
//! `CERTIFICATES_BENCH_WINDOW` (256) lines are in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use certificates::app::import::Importer;
use certificates::domain::issue::{IssueCreated, IssueSpec, TypeSpec};
use kit::bench::env;
use kit::log::EventLog;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A memory figure of this process from /proc/self/status, in MiB
/// (`VmHWM`: peak resident; `VmRSS`: resident now).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Peak resident memory of this process, in MiB.
fn peak_mib() -> f64 {
    status_mib("VmHWM:")
}

fn main() {
    let lines: u64 = env("CERTIFICATES_BENCH_LINES", 100_000);
    let window: usize = env("CERTIFICATES_BENCH_WINDOW", 256);
    let root = kit::bench::root("certificates-import");
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join("certificates.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(
            w,
            "Number;BarCode;Strip2;Status;Amount;ActivationDate;ExpirationDate"
        )
        .unwrap();
        for i in 0..lines {
            let n = 7_770_002_100_000_000_000u64 + i;
            writeln!(
                w,
                "{n};{n};{n}={i:017};Activated;{}.{:02};2022-11-25;2023-11-25",
                100 + i % 900,
                i % 100
            )
            .unwrap();
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::Builder::new()
            .prefix("log-")
            .tempdir_in(&root)
            .unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let importer = Importer::new(Arc::clone(&log)).with_window(window);
        let issue = IssueCreated {
            issue: IssueSpec {
                issue_id: "bench".into(),
                type_id: "bench".into(),
                ..IssueSpec::default()
            },
            certificate_type: TypeSpec {
                type_id: "bench".into(),
                currency: "RUB".into(),
                ..TypeSpec::default()
            },
        };
        println!(
            "certificate import on {} cores: {lines} lines, 3 identifiers each, into an event log on disk, {window} lines in flight",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        for (run, what) in [("bench-1", "new certificates"), ("bench-2", "the same file again (skipped)")] {
            let started = Instant::now();
            let input = std::io::BufReader::new(std::fs::File::open(&file).unwrap());
            // Resident memory at each tenth of the file: flat memory means
            // these stop growing once the caches are full.
            let tenth = (lines / 10).max(1);
            let mut resident = Vec::new();
            let report = importer
                .import(run, &issue, input, |n, _| {
                    if n % tenth == 0 {
                        resident.push(format!("{:.0}", status_mib("VmRSS:")));
                    }
                })
                .await
                .unwrap();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  {what}: {:.1} s, {:.0} lines/s (created {}, updated {}, skipped {}, refused {}); peak memory so far {:.0} MiB",
                secs,
                report.lines as f64 / secs,
                report.created,
                report.updated,
                report.unchanged,
                report.refused,
                peak_mib()
            );
            println!(
                "    resident memory at each tenth of the file (MiB): {}",
                resident.join(", ")
            );
        }
    });
}
