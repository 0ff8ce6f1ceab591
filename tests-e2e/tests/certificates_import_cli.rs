//! `certificates import FILE`, the real binary (into an issue created over
//! gRPC before, the service then stopped): the seed's first file then
//! its update file load with seed-004 reports, the same file again skips
//! every line, a refused line is reported with its line number and reason,
//! and a file whose every line is refused exits 1 with code 185.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::process::Command;

use tests_e2e::certificates::{FIRST, UPDATE, issue, start};
use tests_e2e::harness::binary_path;

/// Runs `certificates import` on `contents`; (exit code, stdout lines).
fn import(data: &std::path::Path, name: &str, contents: &str, id: &str) -> (i32, Vec<String>) {
    let file = data.join(name);
    std::fs::write(&file, contents).unwrap();
    let out = Command::new(binary_path("certificates"))
        .args(["--data-dir", data.join("svc").to_str().unwrap(), "import"])
        .arg(&file)
        .args(["--issue", "issue-1", "--format", "csv", "--import-id", id])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (
        out.status.code().unwrap_or(-1),
        stdout.lines().map(str::to_owned).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_files_load_with_seed_004_reports() {
    let dir = tempfile::tempdir().unwrap();
    // The issue is created with the service running; the import runs with
    // it stopped (one writer per data dir).
    let unknown = import(dir.path(), "first.csv", FIRST, "job-0");
    assert_eq!(unknown.0, 1, "no issue yet: {unknown:?}");
    let (mut service, mut c) = start(&dir.path().join("svc")).await;
    issue(&mut c, "gift", "issue-1").await;
    service.kill9();
    let (code, lines) = import(dir.path(), "first.csv", FIRST, "job-1");
    assert_eq!(code, 0);
    assert_eq!(lines, ["0;job-1;2000.00", "errors;job-1;0"]);

    // The same file again: every line skipped, nothing accepted.
    let (code, lines) = import(dir.path(), "first.csv", FIRST, "job-2");
    assert_eq!((code, lines[0].as_str()), (0, "0;job-2;0.00"));

    // The update: …0002 redeemed, …0004 activated; …0001 cannot go back to
    // Prepared, and says so on its line.
    let update = format!(
        "{UPDATE}7770002105606220001;7770002105606220001;7770002105606227847=26067229740000001;Prepared;555;2022-11-25;2023-11-25\n"
    );
    let (code, lines) = import(dir.path(), "update.csv", &update, "job-3");
    assert_eq!(code, 0);
    assert_eq!(lines[0], "0;job-3;1000.00");
    assert_eq!(lines[1], "errors;job-3;1");
    assert_eq!(
        lines[2], "errorAtLine;3;\"the certificate is Activated: it cannot become Prepared\"",
        "{lines:?}"
    );

    let (code, lines) = import(
        dir.path(),
        "bad.csv",
        "Number;Status\nZ1;Sold\nZ2;Sold\n",
        "job-4",
    );
    assert_eq!(code, 1);
    assert!(lines[0].starts_with("185;"), "{lines:?}");
    assert_eq!(lines[1], "errors;job-4;2");
}
