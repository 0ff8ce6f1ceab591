//! Process harness for end-to-end tests: a real `nats-server` with JetStream
//! ([`NatsServer`]), real service binaries ([`ServiceProcess`]), and small helpers
//! ([`free_port`], [`binary_path`], [`init_test_logging`], [`log!`](crate::log)).
//!
//! Everything here synchronises on observable readiness (a TCP accept, a JetStream
//! account query, a gRPC health `SERVING`, a process exit) by polling with short
//! intervals under an overall timeout, never on fixed sleeps.
//!
//! Children stay in the test's process group (so nextest's timeout kill reaches
//! them too); signals are sent to the child and all its descendants, so a
//! `sh -c '...; sleep 30'` wrapper does not leave its `sleep` behind.
//!
//! When a test panics, dropping a harness process prints the tail of its log to
//! stderr and keeps its temp dir (the path is printed), so failures can be read.

pub mod metrics;
mod nats;
pub mod otlp;
mod proc;
mod service;
pub mod stream;

use std::fmt;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;

pub use crate::log;
pub use nats::{NatsServer, nats_server_binary};
pub use service::{ServiceProcess, ServiceSpec, recv_line};

/// Polls `probe` until it answers `Some`, with a short pause between polls,
/// and returns that answer; panics naming `what` once `deadline` has passed.
/// The one way tests wait for an observable outcome (never a fixed sleep).
pub async fn eventually<T, F, Fut>(deadline: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        if let Some(answer) = probe().await {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not within {deadline:?}: {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(100));
    }
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0,
/// read the port, release it). Another process may still take it before use.
///
/// # Panics
/// If binding 127.0.0.1:0 fails (no loopback interface).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local_addr of bound listener")
        .port()
}

/// Path of a workspace binary `name` built by `cargo build --workspace --bins`.
///
/// Uses `CARGO_BIN_EXE_<name>` when set at run time; otherwise goes from
/// `std::env::current_exe()` (`target/<profile>/deps/<test>-<hash>`) up to
/// `target/<profile>/` and joins `name`.
///
/// # Panics
/// If the binary does not exist, with a hint to run `cargo build --workspace --bins`.
pub fn binary_path(name: &str) -> PathBuf {
    let path = match std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().expect("std::env::current_exe() of the test binary");
            let mut dir = exe
                .parent()
                .expect("test binary has a parent directory")
                .to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
        }
    };
    assert!(
        path.is_file(),
        "binary `{name}` not found at {}: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

static LOG_ENABLED: OnceLock<bool> = OnceLock::new();

/// Sets up test logging: nothing is printed unless the `TEST_LOG` environment
/// variable is set (and non-empty). Idempotent; [`log!`](crate::log) calls it lazily too.
pub fn init_test_logging() {
    let _ = log_enabled();
}

/// Whether harness logging is on (`TEST_LOG` set and non-empty), read once.
pub fn log_enabled() -> bool {
    *LOG_ENABLED.get_or_init(|| std::env::var_os("TEST_LOG").is_some_and(|v| !v.is_empty()))
}

/// Prints one timestamped harness log line to stderr if [`log_enabled`];
/// used by [`log!`](crate::log).
pub fn log_line(args: fmt::Arguments<'_>) {
    if log_enabled() {
        eprintln!("[e2e {}] {args}", chrono::Utc::now().format("%H:%M:%S%.3f"));
    }
}

/// `log!("fmt", args..)`: a harness log line on stderr, printed only when the
/// `TEST_LOG` environment variable is set (see [`harness::init_test_logging`](crate::harness::init_test_logging)).
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::harness::log_line(::std::format_args!($($arg)*))
    };
}
