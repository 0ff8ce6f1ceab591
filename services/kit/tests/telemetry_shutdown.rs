//! A process with `RUST_LOG=trace` exits cleanly even when sled logs from a
//! thread's TLS destructors (crossbeam-epoch runs sled's deferred functions
//! there, after the fmt layer's thread-local buffer is gone).
//!
//! The test runs itself as a child process with the log filter set, because
//! the failure it guards against is an abort of the whole process.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

const CHILD: &str = "KIT_TELEMETRY_SHUTDOWN_CHILD";

/// Logs like sled does from crossbeam-epoch's deferred functions: a `debug`
/// record through the `log` facade, from a TLS destructor.
struct LogsOnDrop;

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        log::debug!(target: "sled::pagecache::iobuf", "storing lsn 42 in beginning of buffer");
    }
}

thread_local! {
    static DEFERRED: LogsOnDrop = const { LogsOnDrop };
}

fn child() {
    let _guard = kit::telemetry::init("kit-test", kit::telemetry::LogFormat::Text, None).unwrap();
    std::thread::spawn(|| {
        // Registered first, so destroyed after the fmt layer's buffer.
        DEFERRED.with(|_| ());
        tracing::info!("a thread that has formatted an event");
        log::info!(target: "sled::config", "sled's info records still reach the log");
    })
    .join()
    .unwrap();
}

#[test]
fn sled_debug_records_from_tls_destructors_do_not_abort_the_process() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sled_debug_records_from_tls_destructors_do_not_abort_the_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env(kit::telemetry::ENV_LOG_FILTER, "trace")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child exited with {}:\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("a thread that has formatted an event"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sled's info records still reach the log"),
        "{stderr}"
    );
    assert!(!stderr.contains("storing lsn 42"), "{stderr}");
}
