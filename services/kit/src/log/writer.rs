//! The single writer thread: group commit for every append.
//!
//! Appenders send their request over a channel and await the reply. The
//! writer takes every request waiting (up to a cap), checks each against the
//! stream heads and idempotency keys (including those earlier in the same
//! cycle), writes all of them in one atomic sled batch, makes that batch
//! durable — sled `flush()` and then `fdatasync` of sled's files, because
//! sled 0.34's flush ends in `sync_file_range`, which is not durable (sled
//! issue #1452) — and only then replies to every request of the cycle,
//! refusals included, so a caller retrying a conflict always sees the state
//! that beat it. While one cycle is on disk the next requests queue up, so
//! concurrent appenders share one flush.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

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
        let durable = self.durable;
        self.answer.await.map_err(|_| {
            if durable.borrow().failed {
                LogError::FlushFailed
            } else {
                LogError::Closed
            }
        })?
    }
}

/// Handle to the writer thread.
pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    durable: watch::Receiver<Durable>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer for `tree` of `db` (stored in `dir`), whose last
    /// event is at `last_position`.
    pub(crate) fn start(
        db: sled::Db,
        tree: sled::Tree,
        dir: &Path,
        last_position: u64,
        metrics: LogMetrics,
    ) -> Result<Self, LogError> {
        let mut files = SyncedFiles::open(dir)?;
        // What sled recovered may sit only in the page cache (e.g. after a
        // kill -9): make it durable before calling any of it durable.
        db.flush()?;
        files.sync().map_err(LogError::Io)?;
        let (tx, rx) = mpsc::channel();
        let (durable_tx, durable) = watch::channel(Durable {
            position: last_position,
            failed: false,
        });
        let mut state = WriterThread {
            db,
            tree,
            files,
            durable: durable_tx,
            metrics,
            last_position,
        };
        let thread = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || state.run(rx))
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
        let tx = self.tx.lock().expect("writer sender lock");
        let tx = tx.as_ref().ok_or(LogError::Closed)?;
        tx.send(request).map_err(|_| LogError::Closed)?;
        Ok(PendingAppend {
            ids,
            answer,
            durable: self.durable.clone(),
        })
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
        drop(self.tx.lock().expect("writer sender lock").take());
        if let Some(handle) = self.thread.lock().expect("writer thread lock").take() {
            let _ = handle.join();
        }
    }
}

/// A reply to send once the cycle is durable.
type Pending = (
    oneshot::Sender<Result<AppendOutcome, LogError>>,
    Result<AppendOutcome, LogError>,
);

/// State owned by the writer thread.
struct WriterThread {
    db: sled::Db,
    tree: sled::Tree,
    files: SyncedFiles,
    durable: watch::Sender<Durable>,
    metrics: LogMetrics,
    last_position: u64,
}

/// Decisions made so far within one cycle.
#[derive(Default)]
struct Cycle {
    batch: sled::Batch,
    heads: HashMap<String, (u64, Uuid)>,
    keys: HashMap<String, StoredIdempotency>,
    replies: Vec<Pending>,
    writes: bool,
}

impl WriterThread {
    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut bytes = first.size();
            let mut requests = vec![first];
            while requests.len() < MAX_REQUESTS_PER_CYCLE && bytes < MAX_BYTES_PER_CYCLE {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += r.size();
                        requests.push(r);
                    }
                    Err(_) => break,
                }
            }
            if !self.cycle(requests) {
                // A failed flush poisons the log: refuse everything queued.
                for r in rx.try_iter() {
                    let _ = r.reply.send(Err(LogError::FlushFailed));
                }
                return;
            }
        }
    }

    /// Runs one group-commit cycle; false when the log must stop.
    fn cycle(&mut self, requests: Vec<Request>) -> bool {
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
            let result = self
                .tree
                .apply_batch(cycle.batch)
                .and_then(|_| self.db.flush().map(|_| ()))
                .map_err(|e| e.to_string())
                .and_then(|_| self.files.sync().map_err(|e| e.to_string()));
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
            self.durable.send_replace(Durable {
                position: self.last_position,
                failed: false,
            });
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
                .batch
                .insert(&event_key(r.position)[..], record::encode_event(&r));
            cycle.batch.insert(
                stream_key(&stream, r.version),
                &r.position.to_be_bytes()[..],
            );
            recorded.push(r);
        }
        let stream_version = current + recorded.len() as u64;
        self.last_position += recorded.len() as u64;
        if let Some(last) = recorded.last() {
            cycle
                .batch
                .insert(head_key(&stream), &head_value(stream_version, last.id)[..]);
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
            };
            cycle.batch.insert(
                idempotency_key(&idem.key),
                record::encode_idempotency(&stored),
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

/// sled's files, kept open for `fdatasync`.
struct SyncedFiles {
    dir: PathBuf,
    db_file: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<(PathBuf, u64)>,
}

impl SyncedFiles {
    fn open(dir: &Path) -> Result<Self, LogError> {
        let db_file = File::open(dir.join("db")).map_err(LogError::Io)?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(LogError::Io)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            db_file,
            blobs_dir: dir.join("blobs"),
            synced_blobs: HashSet::new(),
        })
    }

    /// fsyncs the data file and any blob files written since the last call.
    fn sync(&mut self) -> std::io::Result<()> {
        self.db_file.sync_data()?;
        let Ok(entries) = std::fs::read_dir(&self.blobs_dir) else {
            return Ok(());
        };
        let mut new_files = false;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let len = match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // Keyed by length too: a blob still being written is synced again.
            if !self.synced_blobs.contains(&(path.clone(), len)) {
                match File::open(&path) {
                    Ok(f) => f.sync_all()?,
                    // sled's GC removed it meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new_files = true;
                self.synced_blobs.insert((path, len));
            }
        }
        if new_files {
            File::open(&self.blobs_dir)?.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}
