//! Real service binaries run as child processes, with logs and gRPC health waits.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::proc::{self, POLL, TAIL_LINES};
use crate::log;

/// Overall time allowed for a service to answer gRPC health `SERVING`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a graceful exit after SIGTERM.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(30);

/// What to run: a binary with arguments and extra environment (added to the
/// test's own environment), and optionally the gRPC port to health-check.
#[derive(Debug, Clone, Default)]
pub struct ServiceSpec {
    /// Name used in log file names and messages.
    pub name: String,
    /// The executable (see [`binary_path`](super::binary_path)).
    pub binary: PathBuf,
    /// Command-line arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// If set, start/restart wait until `grpc.health.v1.Health/Check("")` on
    /// `127.0.0.1:<port>` answers `SERVING`.
    pub grpc_port: Option<u16>,
}

impl ServiceSpec {
    /// A spec with no arguments, no extra environment and no health check.
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            ..Self::default()
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the gRPC port to health-check.
    pub fn grpc_port(mut self, port: u16) -> Self {
        self.grpc_port = Some(port);
        self
    }
}

/// A running service binary. Its stdout and stderr are appended to a log file in
/// a temp dir it owns. Dropping it SIGKILLs the process (and its descendants).
#[derive(Debug)]
pub struct ServiceProcess {
    spec: ServiceSpec,
    dir: tempfile::TempDir,
    child: Option<Child>,
    pid: u32,
    /// Set for [`start_with_stdout_lines`](Self::start_with_stdout_lines): every
    /// incarnation's stdout lines go to this one channel.
    stdout_tx: Option<UnboundedSender<String>>,
}

impl ServiceProcess {
    /// Spawns the binary and, if `spec.grpc_port` is set, waits up to 30 s for gRPC
    /// health `SERVING`; fails with the log tail if it exits or times out first.
    pub async fn start(spec: ServiceSpec) -> anyhow::Result<Self> {
        let mut process = Self::new(spec, None)?;
        process.spawn_and_wait().await?;
        Ok(process)
    }

    /// Like [`start`](Self::start), but stdout is read line by line into the
    /// returned channel (and still appended to the log). The channel stays open
    /// while the `ServiceProcess` exists, across restarts: read it with a
    /// timeout, e.g. [`recv_line`].
    pub async fn start_with_stdout_lines(
        spec: ServiceSpec,
    ) -> anyhow::Result<(Self, UnboundedReceiver<String>)> {
        let (tx, rx) = unbounded_channel();
        let mut process = Self::new(spec, Some(tx))?;
        process.spawn_and_wait().await?;
        Ok((process, rx))
    }

    fn new(spec: ServiceSpec, stdout_tx: Option<UnboundedSender<String>>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("e2e-{}-", spec.name))
            .tempdir()
            .with_context(|| format!("creating temp dir for {}", spec.name))?;
        Ok(Self {
            spec,
            dir,
            child: None,
            pid: 0,
            stdout_tx,
        })
    }

    /// The spec this process was started with.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    /// The log file (stdout and stderr of every incarnation, appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.spec.name))
    }

    /// The whole log so far (lossy UTF-8).
    pub fn read_log(&self) -> String {
        proc::read_lossy(&self.log_path())
    }

    /// Pid of the current (or last) incarnation.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(proc::alive)
    }

    /// SIGKILLs the process and its descendants and waits for it. No-op if not running.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = proc::kill_and_reap(&mut child);
            log!("{} (pid {}) killed: {status:?}", self.spec.name, self.pid);
        }
    }

    /// SIGTERMs the process (and its descendants) and waits up to 30 s for it to
    /// exit; returns its exit status. Fails if it was not started or (after a
    /// SIGKILL) if it did not exit in time. Returns the earlier status if it had
    /// already exited on its own.
    pub async fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!(
                "{} is not running (already killed or terminated)",
                self.spec.name
            );
        };
        let status = proc::terminate(&mut child, &self.spec.name, TERMINATE_TIMEOUT).await?;
        log!("{} (pid {}) terminated: {status}", self.spec.name, self.pid);
        Ok(status)
    }

    /// Starts the process again with the same spec (terminating it first if it
    /// still runs) and waits for health as in [`start`](Self::start).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            self.terminate().await?;
        }
        self.child = None;
        proc::log_marker(&self.log_path(), "restart");
        self.spawn_and_wait().await
    }

    async fn spawn_and_wait(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let log_path = self.log_path();
        let offset = proc::file_len(&log_path);
        let log_file = proc::open_log(&log_path)?;
        let mut cmd = Command::new(&self.spec.binary);
        cmd.args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(log_file.try_clone()?);
        if self.stdout_tx.is_some() {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(log_file);
        }
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "spawning {} ({})",
                self.spec.name,
                self.spec.binary.display()
            )
        })?;
        self.pid = child.id();
        let stdout = child.stdout.take();
        self.child = Some(child);
        if let (Some(stdout), Some(tx)) = (stdout, &self.stdout_tx) {
            let log_file = proc::open_log(&log_path)?;
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("{}-stdout", self.spec.name))
                .spawn(move || pump_lines(stdout, log_file, tx))
                .context("spawning stdout reader thread")?;
        }
        log!(
            "{} spawned, pid {} (log {})",
            self.spec.name,
            self.pid,
            log_path.display()
        );
        let Some(port) = self.spec.grpc_port else {
            return Ok(());
        };
        loop {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait()?,
                None => bail!("{} child handle vanished during startup", self.spec.name),
            };
            if let Some(status) = exited {
                self.child = None;
                bail!(
                    "{} exited with {status} before gRPC health on port {port} was SERVING; log:\n{}",
                    self.spec.name,
                    proc::tail_since(&log_path, offset, TAIL_LINES)
                );
            }
            let last = match health_check(port).await {
                Ok(ServingStatus::Serving) => {
                    log!(
                        "{} healthy on port {port} after {:?}",
                        self.spec.name,
                        started.elapsed()
                    );
                    return Ok(());
                }
                Ok(other) => format!("status {}", other.as_str_name()),
                Err(e) => format!("{e:#}"),
            };
            if started.elapsed() >= HEALTH_TIMEOUT {
                self.kill9();
                bail!(
                    "{} not SERVING on port {port} within {HEALTH_TIMEOUT:?} (last: {last}); log:\n{}",
                    self.spec.name,
                    proc::tail_since(&log_path, offset, TAIL_LINES)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// One `grpc.health.v1.Health/Check` with the empty service name.
async fn health_check(port: u16) -> anyhow::Result<ServingStatus> {
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?;
        anyhow::Ok(response.into_inner().status())
    };
    tokio::time::timeout(Duration::from_secs(3), check)
        .await
        .context("health check timed out")?
}

/// Reads stdout lines until EOF, appending each to the log and sending it on.
fn pump_lines(stdout: ChildStdout, mut log: std::fs::File, tx: UnboundedSender<String>) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let _ = log.write_all(&buf);
                if !buf.ends_with(b"\n") {
                    let _ = log.write_all(b"\n");
                }
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']).to_owned();
                // The test may have dropped the receiver; keep logging regardless.
                let _ = tx.send(line);
            }
        }
    }
}

/// Receives the next stdout line, failing after `timeout` (or if the channel closed).
pub async fn recv_line(
    rx: &mut UnboundedReceiver<String>,
    timeout: Duration,
) -> anyhow::Result<String> {
    match tokio::time::timeout(timeout, rx.recv()).await {
        Ok(Some(line)) => Ok(line),
        Ok(None) => bail!("stdout channel closed"),
        Err(_) => bail!("no stdout line within {timeout:?}"),
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let log_path = self.log_path();
        let name = self.spec.name.clone();
        proc::drop_process(self.child.as_mut(), &name, &log_path, &mut self.dir);
    }
}
