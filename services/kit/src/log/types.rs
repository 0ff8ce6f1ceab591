//! Public types of the event log: errors, expected versions, events,
//! idempotency records, options and reports.

use chrono::{DateTime, Utc};
use sha2::Digest;
use uuid::Uuid;

use super::StoredIdempotency;

/// Longest stream id, event type, idempotency key or metadata value, in bytes.
pub const MAX_SHORT_FIELD: usize = 1024;

/// Errors of the event log. Every one is typed; an append that returns one
/// wrote nothing (except [`LogError::FlushFailed`], whose outcome is unknown).
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
    /// Metadata value longer than [`MAX_SHORT_FIELD`] or with control characters.
    #[error(
        "metadata field {0} is longer than {MAX_SHORT_FIELD} bytes or contains control characters"
    )]
    InvalidMetadata(&'static str),
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
    /// A flush to disk failed: the outcome of this append is unknown (its
    /// batch may or may not be on disk after a restart); the log refuses
    /// further writes and the service stops.
    #[error("the event log could not be flushed to disk and refuses further writes")]
    FlushFailed,
    /// The log was closed.
    #[error("the event log is closed")]
    Closed,
    /// Too many appends are queued for the writer; nothing was written:
    /// retry shortly (backpressure instead of unbounded memory).
    #[error("the event log has too many appends queued; retry shortly")]
    Overloaded,
    /// An error from sled.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// sled could not open its files (it panicked reading them: e.g. data a
    /// lying disk dropped). See the operator notes on repairing a data dir.
    #[error("cannot open the event log in {}: {reason}", dir.display())]
    Unreadable {
        /// The log's directory.
        dir: std::path::PathBuf,
        /// What sled reported (a short prefix).
        reason: String,
    },
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
    /// The stream must be at exactly this version and its last event must be
    /// this one. Used to append behind an append that is not committed yet:
    /// if that one fails, this one cannot land on top of someone else's event.
    ExactAfter(u64, Uuid),
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
            ExpectedVersion::ExactAfter(v, id) => write!(f, "version {v} ending with event {id}"),
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
    /// True when `result` is a refusal (a domain error) rather than a reply:
    /// a repeat gets the same refusal, even after the state changed.
    pub refused: bool,
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
    /// Size each journal segment is preallocated to; when one is full, sled
    /// is checkpointed and the segment deleted.
    pub journal_segment_bytes: u64,
    /// How often sled writes its dirty pages in the background (`None`:
    /// only at checkpoints). Not needed for durability — the journal gives
    /// that — but it keeps checkpoints short.
    pub sled_flush_every_ms: Option<u64>,
}

/// Default largest event payload: 64 KiB. Well under sled's blob threshold
/// (a quarter of its 512 KiB segment), and its rendering on NATS (proto3
/// JSON: base64 bytes, escaped strings, at worst 6× the payload) plus the
/// headers stays under NATS's default `max_payload` of 1 MiB, so every event
/// the log accepts can be published.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 64 * 1024;

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            max_events_per_append: 10_000,
            cache_capacity: 256 * 1024 * 1024,
            journal_segment_bytes: super::DEFAULT_SEGMENT_BYTES,
            sled_flush_every_ms: Some(500),
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
