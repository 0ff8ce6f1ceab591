//! The single writer thread: group commit for every append.
//!
//! Appenders send their request over a channel and await the reply. The
//! writer takes every request waiting (up to a cap), checks each against the
//! stream heads and idempotency keys (including those earlier in the same
//! cycle), makes the cycle durable by writing their inserts as one record to
//! the journal (one `pwrite` and one `fdatasync`; see [`super::journal`]),
//! applies them to sled and only then replies to every request of the
//! cycle, refusals included, so a caller retrying a conflict always sees the
//! state that beat it. While one cycle
//! is on disk the next requests queue up, so concurrent appenders share one
//! `fdatasync`. sled itself is flushed and fsynced by the checkpointer
//! thread, off the appenders' path, each time a journal segment fills up.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::files::SyncedFiles;
use super::journal::{self, Body, Checkpointer, JOURNAL_SEQ_KEY, Journal};
use super::keys::{decode_head, event_key, head_key, head_value, idempotency_key, stream_key};
use super::record::{self, StoredIdempotency};
use super::{
    AppendOutcome, Appended, ExpectedVersion, IdempotencyRecord, LogError, LogMetrics, NewEvent,
    RecordedEvent,
};

/// Most requests taken into one cycle.
const MAX_REQUESTS_PER_CYCLE: usize = 8_192;
/// Most payload bytes taken into one cycle (a single larger request still goes alone).
const MAX_BYTES_PER_CYCLE: usize = 32 * 1024 * 1024;
/// Most requests queued for the writer; past it, appends are refused with
/// [`LogError::Overloaded`] (a retryable answer) instead of growing memory.
pub(crate) const MAX_QUEUED_REQUESTS: usize = 65_536;

/// What has been made durable so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Durable {
    /// Highest global event position known to be on disk.
    pub position: u64,
    /// Set once a flush has failed: the log refuses further writes.
    pub failed: bool,
}

/// What one append asks for.
struct Append {
    ids: Vec<Uuid>,
    stream: String,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    idempotency: Option<IdempotencyRecord>,
}

/// One append waiting for the writer.
struct Request {
    append: Append,
    reply: oneshot::Sender<Result<AppendOutcome, LogError>>,
}

impl Request {
    fn size(&self) -> usize {
        let a = &self.append;
        a.events.iter().map(|e| e.payload.len()).sum::<usize>()
            + a.idempotency.as_ref().map_or(0, |i| i.result.len())
    }
}

/// What the writer thread receives.
enum Message {
    /// An append (or a barrier) to commit.
    Append(Request),
    /// Stop committing until the sender is dropped (tests and fault drills:
    /// requests queue up behind it).
    Hold(mpsc::Receiver<()>),
    /// Panic in the writer thread (fault drills: what a bug would do).
    Crash,
}

/// Keeps the writer from committing while alive; see [`super::EventLog::hold_writer`].
#[derive(Debug)]
pub struct WriterHold {
    _release: mpsc::Sender<()>,
}

/// An append queued to the writer; await [`PendingAppend::outcome`].
#[derive(Debug)]
pub struct PendingAppend {
    ids: Vec<Uuid>,
    answer: oneshot::Receiver<Result<AppendOutcome, LogError>>,
    durable: watch::Receiver<Durable>,
}

impl PendingAppend {
    /// Ids the submitted events will have if the append succeeds.
    pub fn event_ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// Waits for the append's outcome, given once it is durable.
    pub async fn outcome(self) -> Result<AppendOutcome, LogError> {
        let mut durable = self.durable;
        match self.answer.await {
            Ok(result) => result,
            // The writer dropped the request: it stopped (closed), or died
            // (panicked; it marks the log failed before it goes away).
            Err(_) => {
                let failed = durable.wait_for(|d| d.failed).await.is_ok();
                if failed || durable.borrow().failed {
                    Err(LogError::FlushFailed)
                } else {
                    Err(LogError::Closed)
                }
            }
        }
    }
}

/// Handle to the writer thread.
pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::SyncSender<Message>>>,
    durable: watch::Receiver<Durable>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer for `tree` of `db` (stored in `dir`), whose last
    /// event is at `last_position`, after [`journal::recover`] brought sled up
    /// to journalled cycle `recovered`.
    pub(crate) fn start(
        db: sled::Db,
        tree: sled::Tree,
        dir: &Path,
        start: Start,
        metrics: LogMetrics,
    ) -> Result<Self, LogError> {
        let mut files = SyncedFiles::open(dir)?;
        // What sled recovered or replayed may sit only in memory or the page
        // cache (e.g. after a kill -9): make it durable in sled before
        // calling any of it durable, and before the journal that held it goes.
        db.flush()?;
        files.sync().map_err(LogError::Io)?;
        let journal_dir = journal::dir_of(dir);
        journal::clear(&journal_dir)?;
        let journal = Journal::create(
            &journal_dir,
            start.recovered.generation + 1,
            start.segment_bytes,
        )
        .map_err(LogError::Io)?;
        let (tx, rx) = mpsc::sync_channel(MAX_QUEUED_REQUESTS);
        let (durable_tx, durable) = watch::channel(Durable {
            position: start.last_position,
            failed: false,
        });
        let (full_tx, full_rx) = mpsc::channel();
        let checkpointer = Checkpointer {
            db: db.clone(),
            files,
            dir: journal_dir,
            durable: durable_tx.clone(),
            metrics: metrics.clone(),
        };
        let checkpoints = std::thread::Builder::new()
            .name("eventlog-checkpoint".into())
            .spawn(move || checkpointer.run(full_rx))
            .map_err(LogError::Io)?;
        let on_panic = durable_tx.clone();
        let mut state = WriterThread {
            tree,
            journal,
            seq: start.recovered.seq,
            full: full_tx,
            durable: durable_tx,
            metrics,
            last_position: start.last_position,
        };
        let thread = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || {
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.run(rx)));
                match run {
                    Ok(true) => {
                        // Closed cleanly: sled takes over the journal's records.
                        let _ = state.full.send(Segment::Close);
                    }
                    Ok(false) => {}
                    Err(_) => {
                        // Whatever the cycle in progress wrote, its outcome is
                        // unknown: poison the log like a failed flush, before
                        // the last sender of the watch goes away.
                        tracing::error!("event log writer panicked; refusing further writes");
                        on_panic.send_modify(|d| d.failed = true);
                    }
                }
                drop(state);
                let _ = checkpoints.join();
            })
            .map_err(LogError::Io)?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            durable,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues an append; the returned [`PendingAppend`] resolves to its
    /// durable outcome. Appends are committed in the order they are queued.
    pub(crate) fn submit(
        &self,
        stream: String,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<PendingAppend, LogError> {
        let (reply, answer) = oneshot::channel();
        let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        let request = Request {
            append: Append {
                ids: ids.clone(),
                stream,
                expected,
                events,
                idempotency,
            },
            reply,
        };
        self.send(Message::Append(request))?;
        Ok(PendingAppend {
            ids,
            answer,
            durable: self.durable.clone(),
        })
    }

    fn send(&self, message: Message) -> Result<(), LogError> {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let tx = tx.as_ref().ok_or(LogError::Closed)?;
        match tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(_)) => Err(LogError::Overloaded),
            Err(mpsc::TrySendError::Disconnected(_)) => {
                if self.current().failed {
                    Err(LogError::FlushFailed)
                } else {
                    Err(LogError::Closed)
                }
            }
        }
    }

    /// Makes the writer thread panic once it reaches this request.
    pub(crate) fn crash(&self) -> Result<(), LogError> {
        self.send(Message::Crash)
    }

    /// Stops the writer from committing until the returned hold is dropped.
    pub(crate) fn hold(&self) -> Result<WriterHold, LogError> {
        let (release, held) = mpsc::channel();
        self.send(Message::Hold(held))?;
        Ok(WriterHold { _release: release })
    }

    /// A receiver of durability progress.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Durable> {
        self.durable.clone()
    }

    /// Current durability state.
    pub(crate) fn current(&self) -> Durable {
        *self.durable.borrow()
    }

    /// Finishes queued appends and stops the thread.
    pub(crate) fn shutdown(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(handle) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

/// A reply to send once the cycle is durable.
type Pending = (
    oneshot::Sender<Result<AppendOutcome, LogError>>,
    Result<AppendOutcome, LogError>,
);

/// Where the writer starts.
pub(crate) struct Start {
    /// Position of the log's last event.
    pub(crate) last_position: u64,
    /// What the journal's replay left (last cycle, last segment).
    pub(crate) recovered: journal::Recovered,
    /// Size of each new journal segment.
    pub(crate) segment_bytes: u64,
}

/// What the writer tells the checkpointer.
pub(crate) enum Segment {
    /// This segment is full: delete it once sled durably holds its records.
    Full(u64),
    /// The writer stopped cleanly: make sled durable and delete every
    /// segment.
    Close,
}

/// State owned by the writer thread.
struct WriterThread {
    tree: sled::Tree,
    journal: Journal,
    /// Sequence number of the last journalled cycle.
    seq: u64,
    full: mpsc::Sender<Segment>,
    /// Durability progress; the checkpointer sets `failed` too.
    durable: watch::Sender<Durable>,
    metrics: LogMetrics,
    last_position: u64,
}

/// Decisions made so far within one cycle.
#[derive(Default)]
struct Cycle {
    /// The cycle's inserts: journalled, then applied to sled.
    body: Body,
    heads: HashMap<String, (u64, Uuid)>,
    keys: HashMap<String, StoredIdempotency>,
    replies: Vec<Pending>,
    writes: bool,
}

impl WriterThread {
    /// Commits until every sender is gone (true) or the log is poisoned (false).
    fn run(&mut self, rx: mpsc::Receiver<Message>) -> bool {
        let mut next = None;
        loop {
            let first = match next.take() {
                Some(m) => m,
                None => match rx.recv() {
                    Ok(m) => m,
                    Err(_) => return true,
                },
            };
            let first = match first {
                Message::Hold(held) => {
                    // Returns once the hold is dropped.
                    let _ = held.recv();
                    continue;
                }
                Message::Crash => panic!("event log writer crash requested (fault drill)"),
                Message::Append(r) => r,
            };
            let mut bytes = first.size();
            let mut requests = vec![first];
            while requests.len() < MAX_REQUESTS_PER_CYCLE && bytes < MAX_BYTES_PER_CYCLE {
                match rx.try_recv() {
                    Ok(Message::Append(r)) => {
                        bytes += r.size();
                        requests.push(r);
                    }
                    Ok(hold) => {
                        // Commit what came before the hold first.
                        next = Some(hold);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !self.cycle(requests) {
                // A failed flush poisons the log: refuse everything queued.
                for m in rx.try_iter() {
                    if let Message::Append(r) = m {
                        let _ = r.reply.send(Err(LogError::FlushFailed));
                    }
                }
                return false;
            }
        }
    }

    /// Runs one group-commit cycle; false when the log must stop.
    fn cycle(&mut self, requests: Vec<Request>) -> bool {
        if self.durable.borrow().failed {
            // The checkpointer could not make sled durable.
            for r in requests {
                let _ = r.reply.send(Err(LogError::FlushFailed));
            }
            return false;
        }
        let now = Utc::now();
        let time = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let mut cycle = Cycle::default();
        let start_position = self.last_position;
        for Request { append, reply } in requests {
            let result = if append.events.is_empty() && append.idempotency.is_none() {
                // A barrier: answered, like everything, after the cycle.
                Ok(AppendOutcome::Appended(Appended {
                    stream_version: 0,
                    events: Vec::new(),
                }))
            } else {
                self.stage(&mut cycle, append, time)
            };
            cycle.replies.push((reply, result));
        }
        if cycle.writes {
            let started = Instant::now();
            let seq = self.seq + 1;
            // Durable first: once the record is on disk the cycle survives a
            // crash whatever sled holds of it (the replay at open applies
            // every record after sled's sequence number). Then sled gets the
            // inserts one by one, in staging order (an event before its index
            // entry, the stream head after both, the idempotency record after
            // the events), the sequence number last: a sled batch would roll
            // sled's I/O buffer twice per cycle, each roll a write and a
            // `sync_file_range` on sled's I/O threads.
            let result = self
                .journal
                .append(seq, &cycle.body)
                .map_err(|e| e.to_string())
                .and_then(|full| {
                    cycle
                        .body
                        .apply(&self.tree)
                        .and_then(|_| self.tree.insert(JOURNAL_SEQ_KEY, &seq.to_be_bytes()[..]))
                        .map_err(|e| e.to_string())?;
                    self.seq = seq;
                    if let Some(generation) = full {
                        // The checkpointer is gone only if it failed, which
                        // the next cycle sees.
                        let _ = self.full.send(Segment::Full(generation));
                    }
                    Ok(())
                });
            if let Err(error) = result {
                tracing::error!(%error, "event log flush failed; refusing further writes");
                self.durable.send_modify(|d| d.failed = true);
                for (reply, _) in cycle.replies {
                    let _ = reply.send(Err(LogError::FlushFailed));
                }
                return false;
            }
            self.metrics.flushes.inc();
            self.metrics
                .flush_seconds
                .observe(started.elapsed().as_secs_f64());
            self.metrics
                .events
                .inc_by(self.last_position - start_position);
            self.metrics.head.set(self.last_position as i64);
            // Only the position: the checkpointer may have set `failed`.
            let position = self.last_position;
            self.durable.send_modify(|d| d.position = position);
        }
        for (reply, result) in cycle.replies {
            match &result {
                Ok(AppendOutcome::Appended(_)) => self.metrics.appends.inc(),
                Err(LogError::Conflict { .. }) => self.metrics.conflicts.inc(),
                _ => 0,
            };
            let _ = reply.send(result);
        }
        true
    }

    /// Checks one request against the state (including earlier requests of
    /// this cycle) and stages its writes.
    fn stage(
        &mut self,
        cycle: &mut Cycle,
        append: Append,
        time: DateTime<Utc>,
    ) -> Result<AppendOutcome, LogError> {
        let Append {
            ids,
            stream,
            expected,
            events,
            idempotency,
        } = append;
        if let Some(idem) = &idempotency {
            let stored = match cycle.keys.get(&idem.key) {
                Some(s) => Some(s.clone()),
                None => self
                    .tree
                    .get(idempotency_key(&idem.key))?
                    .map(|v| record::decode_idempotency(&idem.key, &v))
                    .transpose()?,
            };
            if let Some(stored) = stored {
                if stored.request_hash != idem.request_hash {
                    return Err(LogError::IdempotencyConflict {
                        key: idem.key.clone(),
                    });
                }
                return Ok(AppendOutcome::Duplicate(stored));
            }
        }
        let head = match cycle.heads.get(&stream) {
            Some(h) => Some(*h),
            None => match self.tree.get(head_key(&stream))? {
                Some(v) => Some(decode_head(&v).ok_or_else(|| LogError::InconsistentIndex {
                    stream: stream.clone(),
                    version: 0,
                    reason: "malformed head record",
                })?),
                None => None,
            },
        };
        let current = head.map_or(0, |(v, _)| v);
        let matches = match expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::Exact(v) => v == current,
            ExpectedVersion::ExactAfter(v, id) => head == Some((v, id)),
        };
        if !matches {
            return Err(LogError::Conflict {
                stream,
                expected,
                current,
            });
        }
        let mut recorded = Vec::with_capacity(events.len());
        for (i, (e, id)) in events.into_iter().zip(ids).enumerate() {
            let r = RecordedEvent {
                position: self.last_position + 1 + i as u64,
                stream: stream.clone(),
                version: current + 1 + i as u64,
                id,
                event_type: e.event_type,
                time,
                payload: e.payload,
                metadata: e.metadata,
            };
            cycle
                .body
                .insert(&event_key(r.position), &record::encode_event(&r));
            cycle
                .body
                .insert(&stream_key(&stream, r.version), &r.position.to_be_bytes());
            recorded.push(r);
        }
        let stream_version = current + recorded.len() as u64;
        self.last_position += recorded.len() as u64;
        if let Some(last) = recorded.last() {
            cycle
                .body
                .insert(&head_key(&stream), &head_value(stream_version, last.id));
            cycle
                .heads
                .insert(stream.clone(), (stream_version, last.id));
        }
        if let Some(idem) = idempotency {
            let stored = StoredIdempotency {
                request_hash: idem.request_hash,
                stream,
                position: self.last_position,
                recorded_at: time,
                result: idem.result,
                refused: idem.refused,
            };
            cycle.body.insert(
                &idempotency_key(&idem.key),
                &record::encode_idempotency(&stored),
            );
            cycle.keys.insert(idem.key, stored);
        }
        cycle.writes = true;
        Ok(AppendOutcome::Appended(Appended {
            stream_version,
            events: recorded,
        }))
    }
}
