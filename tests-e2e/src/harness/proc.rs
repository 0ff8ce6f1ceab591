//! Low-level helpers shared by [`super::NatsServer`] and [`super::ServiceProcess`]:
//! log files, signalling a process tree, waiting for exit, log tails.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

/// Interval between readiness / exit polls.
pub(crate) const POLL: Duration = Duration::from_millis(25);

/// Lines of log shown in error messages and panic dumps.
pub(crate) const TAIL_LINES: usize = 40;

/// Opens (creating if needed) a log file in append mode.
pub(crate) fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log file {}", path.display()))
}

/// Appends one harness marker line (e.g. "restart") to a log file, best effort.
pub(crate) fn log_marker(path: &Path, what: &str) {
    if let Ok(mut f) = open_log(path) {
        let now = chrono::Utc::now().format("%H:%M:%S%.3f");
        let _ = writeln!(f, "==== e2e harness {now}: {what} ====");
    }
}

/// Current length of a file (0 if missing): the offset where the next run's output starts.
pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Whole file as (lossy) UTF-8; empty if missing.
pub(crate) fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `lines` lines of the file from byte `offset` on.
pub(crate) fn tail_since(path: &Path, offset: u64, lines: usize) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.read_to_end(&mut buf);
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let tail = all[start..].join("\n");
    if tail.is_empty() {
        "(log empty)".to_owned()
    } else {
        tail
    }
}

/// Pids of all descendants of `root` (children, grandchildren, ...), read from `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may contain spaces and ')', so split at the last ')'.
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
            .and_then(|s| s.parse().ok());
        if let Some(ppid) = ppid {
            pairs.push((pid, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &pairs {
            if ppid == parent && !out.contains(&pid) {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

fn send(pid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = signal::kill(Pid::from_raw(raw), sig);
    }
}

/// Sends `sig` to `pid` and to all its descendants (collected before signalling).
/// The caller must know `pid` is not reaped yet (so it cannot have been reused).
pub(crate) fn signal_tree(pid: u32, sig: Signal) {
    let kids = descendants(pid);
    send(pid, sig);
    for kid in kids {
        send(kid, sig);
    }
}

/// Whether the child has not exited yet.
pub(crate) fn alive(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

/// SIGKILLs the child and its descendants and reaps the child (blocking, but a
/// SIGKILLed process exits at once). Returns its exit status.
pub(crate) fn kill_and_reap(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    signal_tree(child.id(), Signal::SIGKILL);
    child.wait().ok()
}

/// Polls for the child's exit until `timeout`; `None` if still running then.
pub(crate) async fn wait_exit(
    child: &mut Child,
    timeout: Duration,
) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("waiting for child")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// SIGTERMs the child's tree and waits up to `timeout` for it to exit; on timeout
/// SIGKILLs it and fails. Returns the exit status.
pub(crate) async fn terminate(
    child: &mut Child,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    signal_tree(child.id(), Signal::SIGTERM);
    match wait_exit(child, timeout).await? {
        Some(status) => Ok(status),
        None => {
            kill_and_reap(child);
            anyhow::bail!("{name} did not exit within {timeout:?} after SIGTERM; SIGKILLed it")
        }
    }
}

/// What a harness process does on drop: SIGKILL and reap; if the thread is
/// panicking, print the log tail and keep the temp dir for inspection.
pub(crate) fn drop_process(child: Option<&mut Child>, name: &str, log: &Path, dir: &mut TempDir) {
    if let Some(child) = child {
        kill_and_reap(child);
    }
    if std::thread::panicking() {
        dir.disable_cleanup(true);
        eprintln!(
            "---- e2e harness: {name} log tail ({}, dir kept) ----\n{}\n---- end of {name} log ----",
            log.display(),
            tail_since(log, 0, TAIL_LINES)
        );
    }
}
