//! Checking the whole log ([`EventLog::verify`]) and repairing a data
//! directory that storage damaged ([`EventLog::repair`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::files::SyncedFiles;
use super::keys::{
    EVENT_PREFIX, HEAD_PREFIX, IDEMPOTENCY_PREFIX, STREAM_PREFIX, be_u64, head_key, head_value,
    stream_key,
};
use super::open::{open_sled, remove_torn_snapshots};
use super::{EventLog, LogError, VerifyReport, record};

/// What [`EventLog::repair`] did to a data directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// sled snapshot files moved aside (into this folder) because sled could
    /// not open beside them; sled then rebuilt its index from its own log.
    pub quarantined: Option<PathBuf>,
    /// Events kept: positions 1 to this one, all checked.
    pub kept: u64,
    /// Events removed past the first missing or damaged one.
    pub removed: u64,
    /// Why the log was cut there (`None`: nothing was wrong).
    pub cut_reason: Option<String>,
    /// Idempotency entries removed because they pointed past the kept events.
    pub idempotency_removed: u64,
    /// Projection trees dropped (they rebuild from the log at the next start).
    pub projections_dropped: u64,
}

impl EventLog {
    /// Checks the whole log: every checksum, gapless positions from 1, gapless
    /// versions per stream, and that the stream index and heads agree with
    /// the events. Returns the first problem found.
    pub fn verify(&self) -> Result<VerifyReport, LogError> {
        let mut versions: HashMap<String, (u64, uuid::Uuid)> = HashMap::new();
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
            if event.version != v.0 + 1 {
                return Err(LogError::InconsistentIndex {
                    stream: event.stream,
                    version: event.version,
                    reason: "gap in stream versions",
                });
            }
            *v = (event.version, event.id);
            let indexed = self.tree.get(stream_key(&event.stream, event.version))?;
            if indexed.as_deref().and_then(be_u64) != Some(position) {
                return Err(LogError::InconsistentIndex {
                    stream: event.stream,
                    version: event.version,
                    reason: "stream index does not point at the event",
                });
            }
        }
        for (stream, head) in &versions {
            if self.stream_head(stream)? != Some(*head) {
                return Err(LogError::InconsistentIndex {
                    stream: stream.clone(),
                    version: head.0,
                    reason: "stream head differs from its last event",
                });
            }
        }
        let last = expected_position - 1;
        let mut idempotency_records = 0;
        for entry in self.tree.scan_prefix([IDEMPOTENCY_PREFIX]) {
            let (key, value) = entry?;
            let key = String::from_utf8_lossy(&key[1..]).into_owned();
            let stored = record::decode_idempotency(&key, &value)?;
            // An answer stored for events the log no longer has (storage that
            // dropped acknowledged writes): repeats would answer for nothing.
            if stored.position > last {
                return Err(LogError::CorruptIdempotency {
                    key,
                    reason: "entry points past the end of the log",
                });
            }
            idempotency_records += 1;
        }
        Ok(VerifyReport {
            events: expected_position - 1,
            streams: versions.len() as u64,
            idempotency_records,
        })
    }

    /// Repairs the log in `dir` after storage lost acknowledged data (a
    /// lying disk, an unreported fsync error). Run it with the service
    /// stopped, on a copy of the data dir when possible:
    ///
    /// 1. torn snapshots are removed; if sled still cannot open (it reports
    ///    corruption, or panics), its
    ///    snapshot files are moved aside (`<dir>.quarantine-<time>`) so sled
    ///    rebuilds its index by scanning its own log;
    /// 2. the event log is cut after the last position from which every
    ///    event is present, passes its checksum and continues its stream;
    /// 3. the stream index and heads are rebuilt from the kept events, and
    ///    idempotency entries pointing past them are removed;
    /// 4. projections are dropped (they rebuild from the log at the next
    ///    start), the outbox checkpoint is moved back to the cut, and the log
    ///    gets a new id — positions after the cut are new events, which the
    ///    outbox must publish even though old ones had the same positions.
    ///
    /// What was cut is lost here; the NATS stream may still hold it.
    pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport, LogError> {
        let dir = dir.as_ref();
        let mut report = RepairReport::default();
        remove_torn_snapshots(dir)?;
        let options = super::LogOptions {
            cache_capacity: 64 * 1024 * 1024,
            ..super::LogOptions::default()
        };
        let db = match open_sled(dir, &options) {
            Ok(db) => db,
            Err(LogError::Unreadable { .. } | LogError::Storage(_)) => {
                report.quarantined = Some(quarantine_snapshots(dir)?);
                open_sled(dir, &options)?
            }
            Err(e) => return Err(e),
        };
        let tree = db.open_tree("eventlog")?;
        // Acknowledged appends sled had not made durable come back first, so
        // the cut below keeps them when they are sound.
        let journal_dir = super::journal::dir_of(dir);
        super::journal::recover(&tree, &journal_dir)?;
        let (kept, reason) = consistent_prefix(&tree)?;
        report.kept = kept;
        report.cut_reason = reason;
        let mut batch = sled::Batch::default();
        for entry in tree.scan_prefix([EVENT_PREFIX]) {
            let (key, _) = entry?;
            if be_u64(&key[1..]).is_none_or(|p| p > kept) {
                batch.remove(key);
                report.removed += 1;
            }
        }
        for prefix in [STREAM_PREFIX, HEAD_PREFIX] {
            for entry in tree.scan_prefix([prefix]) {
                batch.remove(entry?.0);
            }
        }
        let mut heads: HashMap<String, (u64, uuid::Uuid)> = HashMap::new();
        for entry in tree.range(super::keys::event_key(1)..=super::keys::event_key(kept.max(1))) {
            let (key, value) = entry?;
            let position = be_u64(&key[1..]).unwrap_or(0);
            if position == 0 || position > kept {
                continue;
            }
            let event = record::decode_event(position, &value)?;
            batch.insert(
                stream_key(&event.stream, event.version),
                &position.to_be_bytes()[..],
            );
            heads.insert(event.stream, (event.version, event.id));
        }
        for (stream, (version, id)) in &heads {
            batch.insert(head_key(stream), &head_value(*version, *id)[..]);
        }
        for entry in tree.scan_prefix([IDEMPOTENCY_PREFIX]) {
            let (key, value) = entry?;
            let name = String::from_utf8_lossy(&key[1..]).into_owned();
            let keep = record::decode_idempotency(&name, &value).is_ok_and(|s| s.position <= kept);
            if !keep {
                batch.remove(key);
                report.idempotency_removed += 1;
            }
        }
        tree.apply_batch(batch)?;
        for name in db.tree_names() {
            if name.starts_with(b"proj/") || name.as_ref() == b"proj-checkpoints" {
                db.drop_tree(&name)?;
                report.projections_dropped += u64::from(name.starts_with(b"proj/"));
            }
        }
        let outbox = db.open_tree("outbox")?;
        if let Some(cp) = outbox.get("checkpoint")?
            && be_u64(&cp).is_none_or(|cp| cp > kept)
        {
            outbox.insert("checkpoint", &kept.to_be_bytes()[..])?;
        }
        if report.removed > 0 {
            db.open_tree("meta")?
                .insert("log-id", uuid::Uuid::now_v7().as_bytes())?;
        }
        db.flush()?;
        SyncedFiles::open(dir)?.sync().map_err(LogError::Io)?;
        super::journal::clear(&journal_dir)?;
        Ok(report)
    }
}

/// The longest prefix of positions 1.. whose events are all present, pass
/// their checksum and continue their stream's versions; and why it ends
/// where it does (`None`: at the last event, nothing wrong).
fn consistent_prefix(tree: &sled::Tree) -> Result<(u64, Option<String>), LogError> {
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut expected = 1;
    for entry in tree.scan_prefix([EVENT_PREFIX]) {
        let (key, value) = entry?;
        let Some(position) = be_u64(&key[1..]) else {
            return Ok((expected - 1, Some("malformed event key".into())));
        };
        if position != expected {
            return Ok((expected - 1, Some(format!("event {expected} is missing"))));
        }
        let event = match record::decode_event(position, &value) {
            Ok(event) => event,
            Err(e) => return Ok((expected - 1, Some(e.to_string()))),
        };
        let version = versions.entry(event.stream).or_default();
        if event.version != *version + 1 {
            return Ok((
                expected - 1,
                Some(format!("event {position} does not continue its stream")),
            ));
        }
        *version += 1;
        expected += 1;
    }
    Ok((expected - 1, None))
}

/// Moves sled's snapshot files into a sibling folder; returns it.
fn quarantine_snapshots(dir: &Path) -> Result<PathBuf, LogError> {
    let name = dir
        .file_name()
        .map_or_else(|| "eventlog".into(), |n| n.to_string_lossy().into_owned());
    let target = dir.with_file_name(format!(
        "{name}.quarantine-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S")
    ));
    std::fs::create_dir_all(&target).map_err(LogError::Io)?;
    for entry in std::fs::read_dir(dir).map_err(LogError::Io)? {
        let entry = entry.map_err(LogError::Io)?;
        if entry.file_name().to_string_lossy().starts_with("snap.") {
            std::fs::rename(entry.path(), target.join(entry.file_name())).map_err(LogError::Io)?;
        }
    }
    Ok(target)
}
