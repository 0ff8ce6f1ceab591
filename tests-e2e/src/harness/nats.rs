//! A real `nats-server` with JetStream, owned by a test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use super::free_port;
use super::proc::{self, POLL, TAIL_LINES};
use crate::log;

/// Overall time allowed for `nats-server` to accept connections with JetStream ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Time allowed for a graceful shutdown after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts with a fresh port when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// Finds the `nats-server` binary: env `NATS_SERVER_BIN`, else `/usr/sbin/nats-server`,
/// else `nats-server` on `PATH`; fails with an install hint if none exists.
pub fn nats_server_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        let p = PathBuf::from(p);
        ensure!(p.is_file(), "NATS_SERVER_BIN={} is not a file", p.display());
        return Ok(p);
    }
    let sbin = Path::new("/usr/sbin/nats-server");
    if sbin.is_file() {
        return Ok(sbin.to_path_buf());
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(found) = std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|c| c.is_file())
    {
        return Ok(found);
    }
    bail!(
        "nats-server not found: set NATS_SERVER_BIN, or `apt-get install -y nats-server` \
         (/usr/sbin/nats-server), or put nats-server on PATH"
    )
}

/// A `nats-server -js` child process on 127.0.0.1 with its JetStream store and log
/// in a temp dir it owns. Dropping it SIGKILLs the server and removes the dir.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `nats-server -a 127.0.0.1 -p <free port> -js -sd <tempdir>/store` and
    /// waits (up to 20 s) until it accepts TCP and answers a JetStream account query.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = nats_server_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("e2e-nats-")
            .tempdir()
            .context("creating temp dir for nats-server")?;
        std::fs::create_dir_all(dir.path().join("store")).context("creating store dir")?;
        let mut server = Self {
            binary,
            port: free_port(),
            dir,
            child: None,
        };
        let mut attempt = 1;
        loop {
            match server.spawn_and_wait_ready().await {
                Ok(()) => return Ok(server),
                Err(e)
                    if attempt < PORT_ATTEMPTS
                        && format!("{e:#}").contains("address already in use") =>
                {
                    log!("nats port {} was taken, retrying on another", server.port);
                    server.port = free_port();
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port (unchanged across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory passed as `-sd` (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The file that receives the server's stdout and stderr (appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// The whole server log so far.
    pub fn read_log(&self) -> String {
        proc::read_lossy(&self.log_path())
    }

    /// Connects a fresh `async_nats::Client` to this server.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.url())
            .await
            .with_context(|| format!("connecting to {}", self.url()))
    }

    /// Whether the server process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(proc::alive)
    }

    /// Graceful stop: SIGTERM and wait for exit (so JetStream flushes its store).
    /// A no-op if not running; SIGKILLs and fails if it takes longer than 20 s.
    /// The exit status is not checked: nats-server 2.9 exits with 1 after a clean
    /// SIGTERM shutdown.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = proc::terminate(&mut child, "nats-server", STOP_TIMEOUT).await?;
        log!("nats-server on port {} stopped: {status}", self.port);
        Ok(())
    }

    /// Abrupt stop: SIGKILL and reap. A no-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            proc::kill_and_reap(&mut child);
            log!("nats-server on port {} killed", self.port);
        }
    }

    /// Starts the server again on the same port and store dir (stopping it
    /// gracefully first if it still runs) and waits until JetStream is ready.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        proc::log_marker(&self.log_path(), "restart");
        self.spawn_and_wait_ready().await
    }

    async fn spawn_and_wait_ready(&mut self) -> anyhow::Result<()> {
        let log_path = self.log_path();
        let offset = proc::file_len(&log_path);
        let log_file = proc::open_log(&log_path)?;
        let started = Instant::now();
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store_dir())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("spawning {}", self.binary.display()))?;
        let pid = child.id();
        self.child = Some(child);
        loop {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait()?,
                None => bail!("nats-server child handle vanished during startup"),
            };
            if let Some(status) = exited {
                self.child = None;
                bail!(
                    "nats-server (port {}) exited during startup with {status}; log:\n{}",
                    self.port,
                    proc::tail_since(&log_path, offset, TAIL_LINES)
                );
            }
            if jetstream_ready(self.port).await {
                log!(
                    "nats-server pid {pid} ready at {} in {:?} (log {})",
                    self.url(),
                    started.elapsed(),
                    log_path.display()
                );
                return Ok(());
            }
            if started.elapsed() >= READY_TIMEOUT {
                self.kill();
                bail!(
                    "nats-server (port {}) not ready with JetStream within {READY_TIMEOUT:?}; log:\n{}",
                    self.port,
                    proc::tail_since(&log_path, offset, TAIL_LINES)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// One readiness probe: TCP accept, then an async-nats connect and a JetStream
/// account-info request (`$JS.API.INFO`), each bounded by a short timeout.
///
/// The raw request is used instead of `Context::query_account()` because
/// async-nats 0.51 fails to deserialise nats-server 2.9's reply (it requires
/// `reserved_memory`, which 2.9 does not send).
async fn jetstream_ready(port: u16) -> bool {
    let tcp = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await;
    if !matches!(tcp, Ok(Ok(_))) {
        return false;
    }
    let probe = async {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(1))
            .connect(format!("nats://127.0.0.1:{port}"))
            .await
            .ok()?;
        let reply = client.request("$JS.API.INFO", "".into()).await.ok()?;
        let info: serde_json::Value = serde_json::from_slice(&reply.payload).ok()?;
        let ok = info["type"] == "io.nats.jetstream.api.v1.account_info_response"
            && info.get("error").is_none();
        Some(ok)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let log_path = self.log_path();
        proc::drop_process(self.child.as_mut(), "nats-server", &log_path, &mut self.dir);
    }
}
