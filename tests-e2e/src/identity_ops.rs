//! The real `identity` binary's operator commands (`identity
//! rebuild-projections`, `identity cards load FILE`), and any other
//! service binary's ([`run_operator`]), run to completion as child processes
//! under [`DEADLINE`], and a random block of consecutive physical card
//! numbers for the stock tests.

use std::process::Stdio;

use rand::Rng;

use crate::harness::binary_path;
use crate::identity::DEADLINE;

/// What an operator command did.
#[derive(Debug, Clone)]
pub struct Ran {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error (logs, errors).
    pub stderr: String,
}

/// Runs `identity <args>` with the extra `env` in `dir` and waits for it
/// to exit (killed after [`DEADLINE`]).
pub async fn run_identity(args: &[String], env: &[(String, String)], dir: &std::path::Path) -> Ran {
    run_operator("identity", args, env, dir).await
}

/// Runs the workspace binary `name` with `args` and the extra `env` in
/// `dir` and waits for it to exit (killed after [`DEADLINE`]).
pub async fn run_operator(
    name: &str,
    args: &[String],
    env: &[(String, String)],
    dir: &std::path::Path,
) -> Ran {
    let mut cmd = tokio::process::Command::new(binary_path(name));
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LIB_BACKTRACE", "0")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(DEADLINE, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} did not exit within {DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("{name} runs: {e}"));
    let ran = Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    crate::log!("{name} {args:?} → {ran:?}");
    ran
}

/// `n` consecutive random 16-digit physical card numbers (outside the
/// virtual range 777...), as (first, last, all).
pub fn random_block(n: u64) -> (String, String, Vec<String>) {
    assert!((1..=10_000).contains(&n));
    let base = 9_117_000_000_000_000u64 + rand::rng().random_range(0..100_000_000u64) * 10_000;
    let all: Vec<String> = (base..base + n).map(|v| v.to_string()).collect();
    (all[0].clone(), all[all.len() - 1].clone(), all)
}
