//! The append-only event log on sled.
//!
//! One sled tree holds, under one-byte key prefixes:
//!
//! | prefix | key                           | value                          |
//! |--------|-------------------------------|--------------------------------|
//! | `E`    | global position (u64 BE)      | event record (checksummed)     |
//! | `S`    | stream id, `0x00`, version BE | global position (u64 BE)       |
//! | `H`    | stream id                     | stream head version (u64 BE)   |
//! | `I`    | idempotency key               | idempotency record (checksummed) |
//!
//! An append writes all of its keys in one atomic sled batch under the writer
//! lock, then waits for the group commit to make it durable. Readers only see
//! events up to the durable head, so nothing downstream (projections, the
//! outbox) ever acts on an event a crash could take back.

mod durability;
mod record;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sha2::Digest;
use tokio::sync::watch;
use uuid::Uuid;

pub use durability::Durable;
pub use record::StoredIdempotency;

use durability::GroupCommit;

const EVENT_PREFIX: u8 = b'E';
const STREAM_PREFIX: u8 = b'S';
const HEAD_PREFIX: u8 = b'H';
const IDEMPOTENCY_PREFIX: u8 = b'I';
/// Longest stream id, event type or metadata value, in bytes.
pub const MAX_SHORT_FIELD: usize = 1024;

/// Errors of the event log. Every one is typed; nothing is half-written when
/// one is returned from an append.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The stream moved since the caller read it (optimistic concurrency).
    #[error("stream {stream:?} is at version {current}, the append expected {expected}")]
    Conflict {
        /// The stream appended to.
        stream: String,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version.
        current: u64,
    },
    /// Reading a stream that has no events.
    #[error("stream {0:?} does not exist")]
    StreamNotFound(String),
    /// A stream id that is empty, too long or contains control characters.
    #[error("invalid stream id {stream:?}: {reason}")]
    InvalidStreamId {
        /// The rejected id.
        stream: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An event type that is empty, too long or contains control characters.
    #[error("invalid event type {0:?}")]
    InvalidEventType(String),
    /// Metadata value longer than [`MAX_SHORT_FIELD`].
    #[error("metadata field {0} is longer than {MAX_SHORT_FIELD} bytes")]
    MetadataTooLong(&'static str),
    /// An event payload above the configured maximum.
    #[error("event payload of {size} bytes exceeds the maximum of {max} bytes")]
    EventTooLarge {
        /// Payload size.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// More events in one append than allowed.
    #[error("{count} events in one append exceed the maximum of {max}")]
    TooManyEvents {
        /// Number of events given.
        count: usize,
        /// Configured maximum.
        max: usize,
    },
    /// An append of no events without an idempotency record to store.
    #[error("an append needs at least one event or an idempotency record")]
    EmptyAppend,
    /// The idempotency key was used before for a different request.
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyConflict {
        /// The reused key.
        key: String,
    },
    /// An idempotency key that is empty or too long.
    #[error("invalid idempotency key: {0}")]
    InvalidIdempotencyKey(&'static str),
    /// A stored event failed its checksum or structure checks.
    #[error("corrupt event record at position {position}: {reason}")]
    Corrupt {
        /// Global position of the bad record.
        position: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stored idempotency record failed its checks.
    #[error("corrupt idempotency record for key {key:?}: {reason}")]
    CorruptIdempotency {
        /// Key of the bad record.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The stream index disagrees with the events it points to.
    #[error("inconsistent stream index for {stream:?} at version {version}: {reason}")]
    InconsistentIndex {
        /// Stream concerned.
        stream: String,
        /// Version concerned.
        version: u64,
        /// What is inconsistent.
        reason: &'static str,
    },
    /// A flush to disk failed; the log refuses further writes.
    #[error("the event log could not be flushed to disk and refuses further writes")]
    FlushFailed,
    /// The log was closed.
    #[error("the event log is closed")]
    Closed,
    /// An error from sled.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// An I/O error (opening or syncing files).
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
}

/// The version a stream must be at for an append to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must be at exactly this version (0: must not exist yet).
    Exact(u64),
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// Correlation metadata carried by every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Id shared by everything done for one original request.
    pub correlation_id: Option<String>,
    /// Id of the command or event that caused this event.
    pub causation_id: Option<String>,
    /// W3C `traceparent` of the span that appended the event.
    pub traceparent: Option<String>,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Event type: the full name of the event's proto message.
    pub event_type: String,
    /// The encoded event message.
    pub payload: Vec<u8>,
    /// Correlation metadata.
    pub metadata: Metadata,
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global position in the log, from 1, gapless.
    pub position: u64,
    /// Stream (aggregate id) the event belongs to.
    pub stream: String,
    /// Version of the stream after this event, from 1, gapless per stream.
    pub version: u64,
    /// Unique UUIDv7 event id (also the NATS `Nats-Msg-Id`).
    pub id: Uuid,
    /// Event type (proto full name).
    pub event_type: String,
    /// When the event was appended (UTC, microseconds).
    pub time: DateTime<Utc>,
    /// The encoded event message.
    pub payload: Vec<u8>,
    /// Correlation metadata.
    pub metadata: Metadata,
}

/// An idempotency entry to store with an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The caller's idempotency key (operation id, request id, source event id).
    pub key: String,
    /// SHA-256 of the request; see [`request_hash`].
    pub request_hash: [u8; 32],
    /// The result to return for repeats of the request.
    pub result: Vec<u8>,
}

/// SHA-256 of a request's canonical bytes, for idempotency checks.
pub fn request_hash(request: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(request).into()
}

/// A successful append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub stream_version: u64,
    /// The events as recorded, with positions, versions and ids.
    pub events: Vec<RecordedEvent>,
}

/// Outcome of an idempotent append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events were appended and are durable.
    Appended(Appended),
    /// The key was used before for the same request: nothing was appended;
    /// this is the stored entry (durable).
    Duplicate(StoredIdempotency),
}

/// Tunables of the event log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Largest accepted event payload in bytes.
    pub max_event_size: usize,
    /// Most events accepted in one append.
    pub max_events_per_append: usize,
    /// sled page cache size in bytes.
    pub cache_capacity: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            max_event_size: 1024 * 1024,
            max_events_per_append: 10_000,
            cache_capacity: 256 * 1024 * 1024,
        }
    }
}

/// Summary of a full [`EventLog::verify`] pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// Streams seen.
    pub streams: u64,
    /// Idempotency records checked.
    pub idempotency_records: u64,
}

/// Prometheus instruments of the log.
#[derive(Clone)]
struct LogMetrics {
    appends: Counter,
    events: Counter,
    conflicts: Counter,
    flushes: Counter,
    flush_seconds: Histogram,
    head: Gauge,
}

impl LogMetrics {
    fn new() -> Self {
        Self {
            appends: Counter::default(),
            events: Counter::default(),
            conflicts: Counter::default(),
            flushes: Counter::default(),
            flush_seconds: Histogram::new([
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5,
            ]),
            head: Gauge::default(),
        }
    }
}

/// Writer-side state, guarded by one lock.
#[derive(Debug)]
struct WriterState {
    /// Last position written (0: empty log).
    last_position: u64,
    /// Number of batches written; the group commit tracks this.
    write_seq: u64,
}

/// The event log of one service instance. Cheap to share in an `Arc`.
pub struct EventLog {
    db: sled::Db,
    tree: sled::Tree,
    dir: PathBuf,
    writer: Arc<Mutex<WriterState>>,
    commit: GroupCommit,
    options: LogOptions,
    metrics: LogMetrics,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn validate_short(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_SHORT_FIELD && !value.chars().any(char::is_control)
}

fn validate_stream(stream: &str) -> Result<(), LogError> {
    let reason = if stream.is_empty() {
        "empty"
    } else if stream.len() > MAX_SHORT_FIELD {
        "longer than 1024 bytes"
    } else if stream.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(());
    };
    Err(LogError::InvalidStreamId {
        stream: stream.chars().take(64).collect(),
        reason,
    })
}

fn event_key(position: u64) -> [u8; 9] {
    let mut k = [EVENT_PREFIX; 9];
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

fn stream_prefix(stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 10);
    k.push(STREAM_PREFIX);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k
}

fn stream_key(stream: &str, version: u64) -> Vec<u8> {
    let mut k = stream_prefix(stream);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn head_key(stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 1);
    k.push(HEAD_PREFIX);
    k.extend_from_slice(stream.as_bytes());
    k
}

fn idempotency_key(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(IDEMPOTENCY_PREFIX);
    k.extend_from_slice(key.as_bytes());
    k
}

fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

impl EventLog {
    /// Opens (or creates) the log in directory `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Arc<Self>, LogError> {
        Self::open_with(dir, LogOptions::default())
    }

    /// Opens (or creates) the log in directory `dir`.
    pub fn open_with(dir: impl AsRef<Path>, options: LogOptions) -> Result<Arc<Self>, LogError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(LogError::Io)?;
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(options.cache_capacity)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let tree = db.open_tree("eventlog")?;
        let last_position = match tree.scan_prefix([EVENT_PREFIX]).next_back() {
            Some(entry) => {
                let (key, value) = entry?;
                let position = be_u64(&key[1..]).ok_or(LogError::Corrupt {
                    position: 0,
                    reason: "malformed event key",
                })?;
                // The newest record is the one a crash is most likely to have damaged.
                record::decode_event(position, &value)?;
                position
            }
            None => 0,
        };
        let writer = Arc::new(Mutex::new(WriterState {
            last_position,
            write_seq: 0,
        }));
        let metrics = LogMetrics::new();
        metrics.head.set(last_position as i64);
        let written_writer = Arc::clone(&writer);
        let flush_metrics = metrics.clone();
        let commit = GroupCommit::start(
            db.clone(),
            dir.clone(),
            Durable {
                seq: 0,
                position: last_position,
                failed: false,
            },
            Arc::new(move || {
                let w = written_writer.lock().expect("writer lock");
                (w.write_seq, w.last_position)
            }),
            Arc::new(move |_events, elapsed| {
                flush_metrics.flushes.inc();
                flush_metrics.flush_seconds.observe(elapsed.as_secs_f64());
            }),
        )?;
        Ok(Arc::new(Self {
            db,
            tree,
            dir,
            writer,
            commit,
            options,
            metrics,
        }))
    }

    /// The sled database, for projections and checkpoints kept beside the log.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Registers the log's metrics (appends, events, conflicts, flushes, flush latency, head).
    pub fn register_metrics(&self, registry: &mut Registry) {
        let m = &self.metrics;
        registry.register("eventlog_appends", "Successful appends", m.appends.clone());
        registry.register("eventlog_events", "Events appended", m.events.clone());
        registry.register(
            "eventlog_conflicts",
            "Appends refused by optimistic concurrency",
            m.conflicts.clone(),
        );
        registry.register(
            "eventlog_flushes",
            "Group-commit flushes",
            m.flushes.clone(),
        );
        registry.register(
            "eventlog_flush_seconds",
            "Duration of one flush + fsync",
            m.flush_seconds.clone(),
        );
        registry.register(
            "eventlog_head_position",
            "Last durable position",
            m.head.clone(),
        );
    }

    /// Appends `events` to `stream` if it is at `expected`; returns once the
    /// events are durable on disk.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, LogError> {
        match self.append_inner(stream, expected, events, None).await? {
            AppendOutcome::Appended(a) => Ok(a),
            AppendOutcome::Duplicate(_) => unreachable!("no idempotency record given"),
        }
    }

    /// Appends `events` to `stream` together with an idempotency record, in
    /// one atomic step. When the key was used before for the same request the
    /// stored entry is returned and nothing is appended; for a different
    /// request, [`LogError::IdempotencyConflict`].
    pub async fn append_idempotent(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        idempotency: IdempotencyRecord,
    ) -> Result<AppendOutcome, LogError> {
        self.append_inner(stream, expected, events, Some(idempotency))
            .await
    }

    /// Looks up an idempotency key. A found entry is returned only once it is
    /// durable; a different request hash is [`LogError::IdempotencyConflict`].
    pub async fn check_idempotency(
        &self,
        key: &str,
        request_hash: &[u8; 32],
    ) -> Result<Option<StoredIdempotency>, LogError> {
        let Some(entry) = self.lookup_idempotency(key)? else {
            return Ok(None);
        };
        if &entry.request_hash != request_hash {
            return Err(LogError::IdempotencyConflict {
                key: key.to_owned(),
            });
        }
        self.wait_durable_position(entry.position).await?;
        Ok(Some(entry))
    }

    /// Reads an idempotency entry as stored (possibly not yet durable).
    pub fn lookup_idempotency(&self, key: &str) -> Result<Option<StoredIdempotency>, LogError> {
        self.tree
            .get(idempotency_key(key))?
            .map(|v| record::decode_idempotency(key, &v))
            .transpose()
    }

    fn validate(&self, stream: &str, events: &[NewEvent]) -> Result<(), LogError> {
        validate_stream(stream)?;
        if events.len() > self.options.max_events_per_append {
            return Err(LogError::TooManyEvents {
                count: events.len(),
                max: self.options.max_events_per_append,
            });
        }
        for e in events {
            if !validate_short(&e.event_type) {
                return Err(LogError::InvalidEventType(
                    e.event_type.chars().take(64).collect(),
                ));
            }
            if e.payload.len() > self.options.max_event_size {
                return Err(LogError::EventTooLarge {
                    size: e.payload.len(),
                    max: self.options.max_event_size,
                });
            }
            let md = &e.metadata;
            for (name, value) in [
                ("correlation_id", &md.correlation_id),
                ("causation_id", &md.causation_id),
                ("traceparent", &md.traceparent),
            ] {
                if value.as_ref().is_some_and(|v| v.len() > MAX_SHORT_FIELD) {
                    return Err(LogError::MetadataTooLong(name));
                }
            }
        }
        Ok(())
    }

    async fn append_inner(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<AppendOutcome, LogError> {
        self.validate(stream, &events)?;
        if events.is_empty() && idempotency.is_none() {
            return Err(LogError::EmptyAppend);
        }
        if let Some(idem) = &idempotency
            && (idem.key.is_empty() || idem.key.len() > MAX_SHORT_FIELD)
        {
            return Err(LogError::InvalidIdempotencyKey(
                "empty or longer than 1024 bytes",
            ));
        }
        if self.commit.current().failed {
            return Err(LogError::FlushFailed);
        }
        let (seq, outcome) = {
            let mut w = self.writer.lock().expect("writer lock");
            if let Some(idem) = &idempotency
                && let Some(stored) = self.lookup_idempotency(&idem.key)?
            {
                drop(w);
                if stored.request_hash != idem.request_hash {
                    return Err(LogError::IdempotencyConflict {
                        key: idem.key.clone(),
                    });
                }
                self.wait_durable_position(stored.position).await?;
                return Ok(AppendOutcome::Duplicate(stored));
            }
            let current = match self.tree.get(head_key(stream))? {
                Some(v) => be_u64(&v).ok_or_else(|| LogError::InconsistentIndex {
                    stream: stream.to_owned(),
                    version: 0,
                    reason: "malformed head record",
                })?,
                None => 0,
            };
            if let ExpectedVersion::Exact(v) = expected
                && v != current
            {
                self.metrics.conflicts.inc();
                return Err(LogError::Conflict {
                    stream: stream.to_owned(),
                    expected,
                    current,
                });
            }
            let now = Utc::now();
            let time = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
            let mut batch = sled::Batch::default();
            let mut recorded = Vec::with_capacity(events.len());
            for (i, e) in events.into_iter().enumerate() {
                let r = RecordedEvent {
                    position: w.last_position + 1 + i as u64,
                    stream: stream.to_owned(),
                    version: current + 1 + i as u64,
                    id: Uuid::now_v7(),
                    event_type: e.event_type,
                    time,
                    payload: e.payload,
                    metadata: e.metadata,
                };
                batch.insert(&event_key(r.position)[..], record::encode_event(&r));
                batch.insert(stream_key(stream, r.version), &r.position.to_be_bytes()[..]);
                recorded.push(r);
            }
            let stream_version = current + recorded.len() as u64;
            let last_position = w.last_position + recorded.len() as u64;
            if !recorded.is_empty() {
                batch.insert(head_key(stream), &stream_version.to_be_bytes()[..]);
            }
            if let Some(idem) = idempotency {
                let stored = StoredIdempotency {
                    request_hash: idem.request_hash,
                    stream: stream.to_owned(),
                    position: last_position,
                    recorded_at: time,
                    result: idem.result,
                };
                batch.insert(
                    idempotency_key(&idem.key),
                    record::encode_idempotency(&stored),
                );
            }
            self.tree.apply_batch(batch)?;
            w.last_position = last_position;
            w.write_seq += 1;
            (
                w.write_seq,
                Appended {
                    stream_version,
                    events: recorded,
                },
            )
        };
        let durable = self.commit.wait(seq).await?;
        self.metrics.appends.inc();
        self.metrics.events.inc_by(outcome.events.len() as u64);
        self.metrics.head.set(durable.position as i64);
        Ok(AppendOutcome::Appended(outcome))
    }

    /// Waits until everything up to `position` is durable.
    pub async fn wait_durable_position(&self, position: u64) -> Result<(), LogError> {
        let mut rx = self.commit.subscribe();
        if rx.borrow().position >= position {
            return Ok(());
        }
        // Ask for a flush of everything written so far.
        let seq = self.writer.lock().expect("writer lock").write_seq;
        self.commit.wait(seq).await?;
        let d = *rx
            .wait_for(|d| d.position >= position || d.failed)
            .await
            .map_err(|_| LogError::Closed)?;
        if d.position >= position {
            Ok(())
        } else {
            Err(LogError::FlushFailed)
        }
    }

    /// Position of the last durable event (0 for an empty log).
    pub fn head(&self) -> u64 {
        self.commit.current().position
    }

    /// A receiver that changes whenever more events become durable; for
    /// following the log live.
    pub fn subscribe(&self) -> watch::Receiver<Durable> {
        self.commit.subscribe()
    }

    /// Current version of `stream` (0 when it has no events).
    pub fn stream_version(&self, stream: &str) -> Result<u64, LogError> {
        validate_stream(stream)?;
        Ok(match self.tree.get(head_key(stream))? {
            Some(v) => be_u64(&v).unwrap_or(0),
            None => 0,
        })
    }

    /// Reads the events of `stream` with version > `after_version`, oldest
    /// first. An unknown stream is [`LogError::StreamNotFound`].
    pub fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        validate_stream(stream)?;
        if self.tree.get(head_key(stream))?.is_none() {
            return Err(LogError::StreamNotFound(stream.to_owned()));
        }
        let prefix = stream_prefix(stream);
        let from = stream_key(stream, after_version + 1);
        let mut out = Vec::new();
        for entry in self.tree.range(from..) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            let version = be_u64(&key[prefix.len()..]).unwrap_or(0);
            let inconsistent = |reason| LogError::InconsistentIndex {
                stream: stream.to_owned(),
                version,
                reason,
            };
            let position = be_u64(&value).ok_or_else(|| inconsistent("malformed index value"))?;
            let bytes = self
                .tree
                .get(event_key(position))?
                .ok_or_else(|| inconsistent("index points at a missing event"))?;
            let event = record::decode_event(position, &bytes)?;
            if event.stream != stream || event.version != version {
                return Err(inconsistent("index points at another stream's event"));
            }
            out.push(event);
        }
        Ok(out)
    }

    /// Iterates durable events with position >= `from`, oldest first, up to
    /// the durable head at the time of the call. Every record's checksum is
    /// verified; a bad record is an error naming its position.
    pub fn iter_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<RecordedEvent, LogError>> + use<> {
        let head = self.head();
        let from = from.max(1);
        let range = if from > head {
            None
        } else {
            Some(self.tree.range(event_key(from)..=event_key(head)))
        };
        range.into_iter().flatten().map(|entry| {
            let (key, value) = entry?;
            let position = be_u64(&key[1..]).ok_or(LogError::Corrupt {
                position: 0,
                reason: "malformed event key",
            })?;
            record::decode_event(position, &value)
        })
    }

    /// Reads up to `max` durable events with position >= `from`.
    pub fn read_all(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>, LogError> {
        self.iter_from(from).take(max).collect()
    }

    /// Checks the whole log: every checksum, gapless positions from 1, gapless
    /// versions per stream, and that the stream index and heads agree with
    /// the events. Returns the first problem found.
    pub fn verify(&self) -> Result<VerifyReport, LogError> {
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut expected_position = 1;
        for entry in self.tree.scan_prefix([EVENT_PREFIX]) {
            let (key, value) = entry?;
            let position = be_u64(&key[1..]).unwrap_or(0);
            let event = record::decode_event(position, &value)?;
            if position != expected_position {
                return Err(LogError::Corrupt {
                    position,
                    reason: "gap in global positions",
                });
            }
            expected_position += 1;
            let v = versions.entry(event.stream.clone()).or_default();
            if event.version != *v + 1 {
                return Err(LogError::InconsistentIndex {
                    stream: event.stream,
                    version: event.version,
                    reason: "gap in stream versions",
                });
            }
            *v = event.version;
            let indexed = self.tree.get(stream_key(&event.stream, event.version))?;
            if indexed.as_deref().and_then(be_u64) != Some(position) {
                return Err(LogError::InconsistentIndex {
                    stream: event.stream,
                    version: event.version,
                    reason: "stream index does not point at the event",
                });
            }
        }
        for (stream, version) in &versions {
            if self.stream_version(stream)? != *version {
                return Err(LogError::InconsistentIndex {
                    stream: stream.clone(),
                    version: *version,
                    reason: "stream head differs from its last event",
                });
            }
        }
        let mut idempotency_records = 0;
        for entry in self.tree.scan_prefix([IDEMPOTENCY_PREFIX]) {
            let (key, value) = entry?;
            let key = String::from_utf8_lossy(&key[1..]).into_owned();
            record::decode_idempotency(&key, &value)?;
            idempotency_records += 1;
        }
        Ok(VerifyReport {
            events: expected_position - 1,
            streams: versions.len() as u64,
            idempotency_records,
        })
    }

    /// Flushes everything written and stops the flusher. Appends after this
    /// fail with [`LogError::Closed`] or [`LogError::FlushFailed`].
    pub fn close(&self) {
        let seq = self.writer.lock().expect("writer lock").write_seq;
        self.commit.shutdown(seq);
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.close();
    }
}
