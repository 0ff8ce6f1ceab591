//! A real `nats-server -js` for a test (the same pattern as tests-e2e's
//! harness): a free port on 127.0.0.1, its store in a temp dir, ready once
//! it answers a JetStream request; killed when dropped. Plus helpers to
//! publish platform events and to wait on observable outcomes (consumer ack
//! floors, messages on a subject), always with a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use tokio::time::Instant;

/// How long anything the tests wait for may take.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two polls of an outcome.
const POLL: Duration = Duration::from_millis(25);

/// Finds `nats-server`: env `NATS_SERVER_BIN`, else `/usr/sbin/nats-server`,
/// else on `PATH`.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let sbin = Path::new("/usr/sbin/nats-server");
    if sbin.is_file() {
        return sbin.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nats-server"))
                .find(|c| c.is_file())
        })
        .expect("nats-server not found: set NATS_SERVER_BIN or `apt-get install -y nats-server`")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A nats-server child process with JetStream.
pub struct Nats {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    /// Starts a server and waits until JetStream answers.
    pub async fn start() -> Self {
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("ledger-nats-")
                .tempdir()
                .unwrap();
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("nats.log")).unwrap();
            let child = Command::new(binary())
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(dir.path().join("store"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawning nats-server");
            let mut server = Self { child, port, dir };
            if server.wait_ready().await {
                return server;
            }
            // The port was taken meanwhile, or the server died: try another
            // (dropping this one kills it).
        }
        panic!("nats-server did not become ready");
    }

    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            let probe = async {
                let client = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(1))
                    .connect(self.url())
                    .await
                    .ok()?;
                let reply = client.request("$JS.API.INFO", "".into()).await.ok()?;
                let info: serde_json::Value = serde_json::from_slice(&reply.payload).ok()?;
                Some(info.get("error").is_none())
            };
            if let Ok(Some(true)) = tokio::time::timeout(Duration::from_secs(2), probe).await {
                return true;
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A JetStream context with the `LOYALTY` stream in place.
    pub async fn jetstream(&self) -> jetstream::Context {
        let client = async_nats::connect(self.url()).await.unwrap();
        let js = jetstream::new(client);
        kit::outbox::ensure_stream(&js, Duration::from_secs(600))
            .await
            .unwrap();
        js
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default();
            eprintln!("nats-server log:\n{log}");
        }
    }
}

/// Publishes `payload` on `subject` as a platform event with `ce-id` =
/// `event_id` and `Nats-Msg-Id` = `msg_id` (a republish under a new
/// message id is stored again); returns its stream sequence.
pub async fn publish(
    js: &jetstream::Context,
    subject: &str,
    event_type: &str,
    event_id: &str,
    msg_id: &str,
    payload: Vec<u8>,
) -> u64 {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", msg_id);
    h.insert("ce-specversion", "1.0");
    h.insert("ce-id", event_id);
    h.insert("ce-type", event_type);
    h.insert("ce-source", "/loyalty/test");
    h.insert("content-type", "application/json");
    js.publish_with_headers(subject.to_owned(), h, payload.into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

/// Waits until durable consumer `name` has acknowledged (or dead-lettered)
/// every message up to stream sequence `sequence`.
pub async fn wait_handled(js: &jetstream::Context, name: &str, sequence: u64) {
    let stream = js.get_stream("LOYALTY").await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        // The consumer exists once the ledger has connected.
        if let Ok(info) = stream.consumer_info(name).await
            && info.ack_floor.stream_sequence >= sequence
            && info.num_ack_pending == 0
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "consumer {name} did not handle up to sequence {sequence} within {DEADLINE:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Reads the messages on `filter` from the start of the stream, in order,
/// until one satisfies `last` (included); fails after [`DEADLINE`].
pub async fn read_until(
    js: &jetstream::Context,
    filter: &str,
    last: impl Fn(&jetstream::Message) -> bool,
) -> Vec<jetstream::Message> {
    let consumer = js
        .get_stream("LOYALTY")
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        let m = tokio::time::timeout_at(deadline, messages.next())
            .await
            .unwrap_or_else(|_| panic!("no matching message on {filter} within {DEADLINE:?}"))
            .expect("message stream ended")
            .unwrap();
        let done = last(&m);
        seen.push(m);
        if done {
            return seen;
        }
    }
}

/// The first `n` messages on `filter`, in order; fails after [`DEADLINE`].
pub async fn read_count(
    js: &jetstream::Context,
    filter: &str,
    n: usize,
) -> Vec<jetstream::Message> {
    let seen = std::sync::atomic::AtomicUsize::new(0);
    read_until(js, filter, |_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= n
    })
    .await
}

/// The value of header `name` of `m`.
pub fn header(m: &jetstream::Message, name: &str) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// Number of messages stored on `subject` now.
pub async fn count_on(js: &jetstream::Context, subject: &str) -> u64 {
    let stream = js.get_stream("LOYALTY").await.unwrap();
    let info = stream.info_with_subjects(subject).await.unwrap();
    let mut total = 0;
    futures::pin_mut!(info);
    while let Some(entry) = info.next().await {
        total += entry.unwrap().1 as u64;
    }
    total
}
