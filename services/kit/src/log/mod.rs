//! The append-only event log on sled.
//!
//! One sled tree holds, under one-byte key prefixes:
//!
//! | prefix | key                           | value                          |
//! |--------|-------------------------------|--------------------------------|
//! | `E`    | global position (u64 BE)      | event record (checksummed)     |
//! | `S`    | stream id, `0x00`, version BE | global position (u64 BE)       |
//! | `H`    | stream id                     | head version (u64 BE), last event id |
//! | `I`    | idempotency key               | idempotency record (checksummed) |
//! | `W`    | (one key)                     | sequence number of the last journalled cycle |
//!
//! Appends go to one writer thread that commits every waiting append as one
//! journal record (one `pwrite` and one `fdatasync`: group commit; see
//! `journal`), then applies it to sled, and answers each append only then.
//! The log-wide readers ([`EventLog::iter_from`], [`EventLog::read_all`],
//! [`EventLog::subscribe`]) stop at the durable head, so projections and the
//! outbox never act on an event a crash could take back. Stream reads
//! ([`EventLog::read_stream`], [`EventLog::stream_head`]) see only durable
//! appends; the repository still confirms what it reads (see
//! [`EventLog::barrier`]) before answering from it.

mod check;
mod files;
mod journal;
mod keys;
mod open;
mod record;
mod types;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

pub use journal::DEFAULT_SEGMENT_BYTES;
pub use record::StoredIdempotency;
pub use types::*;
pub use writer::{Durable, PendingAppend, WriterHold};

pub use check::RepairReport;
use keys::{
    be_u64, decode_head, event_key, head_key, idempotency_key, stream_key, stream_prefix,
    validate_short, validate_stream,
};
use open::{check_tail, log_id, open_sled, remove_torn_snapshots};
use writer::Writer;

/// Prometheus instruments of the log.
#[derive(Clone)]
pub(crate) struct LogMetrics {
    pub(crate) appends: Counter,
    pub(crate) events: Counter,
    pub(crate) conflicts: Counter,
    pub(crate) flushes: Counter,
    pub(crate) flush_seconds: Histogram,
    pub(crate) checkpoints: Counter,
    pub(crate) head: Gauge,
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
            checkpoints: Counter::default(),
            head: Gauge::default(),
        }
    }
}

/// The event log of one service instance. Cheap to share in an `Arc`.
pub struct EventLog {
    db: sled::Db,
    tree: sled::Tree,
    dir: PathBuf,
    id: uuid::Uuid,
    /// sled's files, for [`EventLog::persist`] (the writer has its own).
    side_files: Arc<std::sync::Mutex<files::SyncedFiles>>,
    writer: Writer,
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

impl EventLog {
    /// Opens (or creates) the log in directory `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Arc<Self>, LogError> {
        Self::open_with(dir, LogOptions::default())
    }

    /// Opens (or creates) the log in directory `dir`.
    pub fn open_with(dir: impl AsRef<Path>, options: LogOptions) -> Result<Arc<Self>, LogError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(LogError::Io)?;
        remove_torn_snapshots(&dir)?;
        let db = open_sled(&dir, &options)?;
        let tree = db.open_tree("eventlog")?;
        let recovered = journal::recover(&tree, &journal::dir_of(&dir))?;
        if recovered.replayed > 0 {
            tracing::info!(
                cycles = recovered.replayed,
                "replayed journalled appends sled had not yet made durable"
            );
        }
        let last_position = check_tail(&tree)?;
        let id = log_id(&db)?;
        let metrics = LogMetrics::new();
        metrics.head.set(last_position as i64);
        let writer = Writer::start(
            db.clone(),
            tree.clone(),
            &dir,
            writer::Start {
                last_position,
                recovered,
                segment_bytes: options.journal_segment_bytes,
            },
            metrics.clone(),
        )?;
        let side_files = Arc::new(std::sync::Mutex::new(files::SyncedFiles::open(&dir)?));
        Ok(Arc::new(Self {
            db,
            tree,
            dir,
            id,
            side_files,
            writer,
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

    /// This log's id, made when the log was created and kept with it:
    /// positions are only comparable between events of the same log.
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }

    /// Makes everything written to the log's database so far durable — the
    /// other trees too (checkpoints, projections) — with sled's flush and then
    /// an fsync of its files (sled's own flush is not durable).
    pub async fn persist(&self) -> Result<(), LogError> {
        self.db.flush_async().await?;
        let files = Arc::clone(&self.side_files);
        tokio::task::spawn_blocking(move || {
            files
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .sync()
                .map_err(LogError::Io)
        })
        .await
        .map_err(|_| LogError::Closed)?
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
            "Duration of one group commit (journal write, fdatasync, apply to sled)",
            m.flush_seconds.clone(),
        );
        registry.register(
            "eventlog_checkpoints",
            "Checkpoints: sled flushed and fsynced behind full journal segments",
            m.checkpoints.clone(),
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
        // The entry may belong to the cycle being committed right now (an
        // entry without events carries the previous head as its position).
        self.barrier()?.outcome().await?;
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
                // Metadata travels in NATS headers: no control characters.
                if value
                    .as_ref()
                    .is_some_and(|v| v.len() > MAX_SHORT_FIELD || v.chars().any(char::is_control))
                {
                    return Err(LogError::InvalidMetadata(name));
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
        self.submit(stream, expected, events, idempotency)?
            .outcome()
            .await
    }

    /// Queues an append without waiting: appends are committed in the order
    /// they are submitted, so a caller may decide its next command on the
    /// state this append will produce and submit it right away (with the
    /// matching expected version) — if this one fails, that one conflicts.
    /// Await [`PendingAppend::outcome`] for the durable result.
    pub fn submit(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<PendingAppend, LogError> {
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
        if self.writer.current().failed {
            return Err(LogError::FlushFailed);
        }
        self.writer
            .submit(stream.to_owned(), expected, events, idempotency)
    }

    /// Stops the writer from committing until the returned hold is dropped;
    /// appends submitted meanwhile queue up behind it. For tests and fault
    /// drills that need an append to stay in flight.
    #[doc(hidden)]
    pub fn hold_writer(&self) -> Result<WriterHold, LogError> {
        self.writer.hold()
    }

    /// Makes the writer thread panic when it reaches this request, as a bug
    /// would: the log must then refuse writes and report itself failed.
    /// Fault drills only.
    #[doc(hidden)]
    pub fn crash_writer(&self) -> Result<(), LogError> {
        self.writer.crash()
    }

    /// Resolves once everything submitted before it has been committed (or
    /// refused): the writer answers requests in order, after their cycle is
    /// durable.
    pub fn barrier(&self) -> Result<PendingAppend, LogError> {
        self.writer
            .submit(String::new(), ExpectedVersion::Any, Vec::new(), None)
    }

    /// Waits until everything up to `position` is durable.
    pub async fn wait_durable_position(&self, position: u64) -> Result<(), LogError> {
        let mut rx = self.writer.subscribe();
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
        self.writer.current().position
    }

    /// A receiver that changes whenever more events become durable; for
    /// following the log live.
    pub fn subscribe(&self) -> watch::Receiver<Durable> {
        self.writer.subscribe()
    }

    /// Current version of `stream` (0 when it has no events).
    pub fn stream_version(&self, stream: &str) -> Result<u64, LogError> {
        Ok(self.stream_head(stream)?.map_or(0, |(v, _)| v))
    }

    /// Version of `stream` and the id of its last event (`None`: no events).
    pub fn stream_head(&self, stream: &str) -> Result<Option<(u64, uuid::Uuid)>, LogError> {
        validate_stream(stream)?;
        self.tree
            .get(head_key(stream))?
            .map(|v| {
                decode_head(&v).ok_or_else(|| LogError::InconsistentIndex {
                    stream: stream.to_owned(),
                    version: 0,
                    reason: "malformed head record",
                })
            })
            .transpose()
    }

    /// Reads the events of `stream` with version > `after_version`, oldest
    /// first. An unknown stream is [`LogError::StreamNotFound`].
    pub fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let Some((head, _)) = self.stream_head(stream)? else {
            return Err(LogError::StreamNotFound(stream.to_owned()));
        };
        let prefix = stream_prefix(stream);
        let from = stream_key(stream, after_version + 1);
        let mut out = Vec::new();
        // Up to the head read first: the writer applies a cycle's inserts to
        // sled one by one and moves the head after its events, so versions up
        // to the head are whole while a later append may be half applied.
        for entry in self.tree.range(from..=stream_key(stream, head)) {
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
        let mut entries = range.into_iter().flatten();
        // Positions are gapless: a missing one is corruption, never skipped.
        let mut expected = from;
        let mut done = false;
        std::iter::from_fn(move || {
            if done || expected > head {
                return None;
            }
            let result = match entries.next() {
                None => Err(LogError::Corrupt {
                    position: expected,
                    reason: "missing event (the log ends before its durable head)",
                }),
                Some(Err(e)) => Err(e.into()),
                Some(Ok((key, value))) => match be_u64(&key[1..]) {
                    None => Err(LogError::Corrupt {
                        position: expected,
                        reason: "malformed event key",
                    }),
                    Some(position) if position != expected => Err(LogError::Corrupt {
                        position: expected,
                        reason: "missing event (gap in positions)",
                    }),
                    Some(position) => record::decode_event(position, &value),
                },
            };
            match &result {
                Ok(_) => expected += 1,
                Err(_) => done = true,
            }
            Some(result)
        })
    }

    /// Reads up to `max` durable events with position >= `from`.
    pub fn read_all(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>, LogError> {
        self.iter_from(from).take(max).collect()
    }

    /// Flushes everything written and stops the flusher. Appends after this
    /// fail with [`LogError::Closed`] or [`LogError::FlushFailed`].
    pub fn close(&self) {
        self.writer.shutdown();
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.close();
    }
}
