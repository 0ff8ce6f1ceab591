//! [`LocalSink`]: delivery into a JSON-lines file, for local runs and tests.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::message::{Channel, Message, NotifyError, SendFuture, Sender};

/// Where a local sink writes under a service's data directory:
/// `<data_dir>/notify/messages.jsonl`.
pub fn default_local_path(data_dir: &Path) -> PathBuf {
    data_dir.join("notify").join("messages.jsonl")
}

/// One line of a [`LocalSink`] file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// The message id.
    pub id: String,
    /// The channel.
    pub channel: Channel,
    /// The recipient, unmasked.
    pub to: String,
    /// The subject, if any.
    pub subject: Option<String>,
    /// The body, as it would have been delivered.
    pub body: String,
    /// Why it was sent.
    pub purpose: String,
    /// When the sink wrote it (RFC 3339, UTC).
    #[serde(serialize_with = "rfc3339_utc")]
    pub sent_at: DateTime<Utc>,
}

impl SentMessage {
    /// The record of `message` sent at `sent_at`.
    pub fn new(message: &Message, sent_at: DateTime<Utc>) -> Self {
        SentMessage {
            id: message.id.clone(),
            channel: message.channel,
            to: message.to.clone(),
            subject: message.subject.clone(),
            body: message.body.clone(),
            purpose: message.purpose.clone(),
            sent_at,
        }
    }
}

fn rfc3339_utc<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Reads every line a [`LocalSink`] wrote to `path`, oldest first. A file
/// that does not exist yet reads as no messages; a line that does not parse
/// is an [`io::ErrorKind::InvalidData`] error naming its line number.
pub fn read_messages(path: impl AsRef<Path>) -> io::Result<Vec<SentMessage>> {
    let file = match File::open(path.as_ref()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let msg = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("line {}: {e}", i + 1))
        })?;
        out.push(msg);
    }
    Ok(out)
}

/// Delivers by appending one JSON line per message to a file (see
/// [`SentMessage`] for the fields). Writes are serialised by a mutex and
/// flushed to disk (`sync_data`) before `send` returns `Ok`. The file is
/// opened in append mode for every message, so it may be truncated or
/// removed between messages.
#[derive(Debug, Clone)]
pub struct LocalSink {
    path: Arc<PathBuf>,
    lock: Arc<Mutex<()>>,
}

impl LocalSink {
    /// A sink writing to `path`; creates the parent directories now.
    pub fn new(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        Ok(LocalSink {
            path: Arc::new(path),
            lock: Arc::new(Mutex::new(())),
        })
    }

    /// The file this sink appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `message` synchronously (blocking I/O); what `send` runs on
    /// the blocking pool.
    pub fn append(&self, message: &Message) -> io::Result<()> {
        let mut line =
            serde_json::to_vec(&SentMessage::new(message, Utc::now())).map_err(io::Error::other)?;
        line.push(b'\n');
        // A poisoned lock only means another writer panicked; the file
        // itself holds whole lines, so carry on.
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = open_append(&self.path)?;
        file.write_all(&line)?;
        file.flush()?;
        file.sync_data()
    }
}

/// Opens `path` for appending, creating it (and its directory) if needed; a
/// newly created file's directory entry is synced too.
fn open_append(path: &Path) -> io::Result<File> {
    match OpenOptions::new().append(true).open(path) {
        Ok(f) => return Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().append(true).create(true).open(path)?;
    if let Some(dir) = parent {
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}

impl Sender for LocalSink {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        let sink = self.clone();
        let message = message.clone();
        Box::pin(async move {
            let joined = tokio::task::spawn_blocking(move || sink.append(&message)).await;
            match joined {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(NotifyError::temporary(format!(
                    "local sink {}: {e}",
                    self.path.display()
                ))),
                Err(e) => Err(NotifyError::temporary(format!(
                    "local sink task failed: {e}"
                ))),
            }
        })
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}
