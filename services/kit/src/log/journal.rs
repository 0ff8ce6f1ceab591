//! The log's journal: what makes a group commit durable.
//!
//! sled's own `flush()` costs a hand-off to sled's I/O threads, a
//! `sync_file_range` that waits for the device, a hand-off back, and then
//! our `fdatasync` of sled's files (sled issue #1452) and a scan of its
//! `blobs/` directory — about 35 times one `fdatasync` of the disk. So the
//! writer makes each cycle durable differently: it writes the cycle's
//! inserts as one checksummed record to the journal, a preallocated segment
//! file, with one `pwrite` and one `fdatasync`, and then applies them to
//! sled (in memory). sled's data is made durable later, off the appenders' path:
//! when a segment is full the writer moves to the next one and the
//! checkpointer thread flushes and fsyncs sled, then deletes the full
//! segment, whose records sled now holds.
//!
//! Every cycle also writes its sequence number into the log tree
//! ([`JOURNAL_SEQ_KEY`], after its other inserts; sled recovers a prefix of
//! its writes), so at open [`recover`] replays the records sled may lack:
//! those after the sequence number sled recovered (a record sled holds part
//! of is applied again whole; its inserts are idempotent). A record torn by a crash fails its
//! checksum and ends the replay; it was never acknowledged.
//!
//! A record: magic (u32), body length (u32), sequence number (u64), CRC-32 of
//! the sequence number and body (u32), then the body: per insert, key length
//! (u32), key, value length (u32), value. Integers are big-endian.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::watch;

use super::files::SyncedFiles;
use super::keys::be_u64;
use super::writer::{Durable, Segment};
use super::{LogError, LogMetrics};

/// Key of the last journalled cycle's sequence number in the log tree.
pub(crate) const JOURNAL_SEQ_KEY: &[u8] = b"W";
/// Default size a journal segment is preallocated to.
pub const DEFAULT_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Marks the start of a record (zeros of a preallocated segment never do).
const MAGIC: u32 = 0x4C4A_524E;
/// Bytes before a record's body.
const HEADER: usize = 20;
/// Name suffix of segment files.
const SUFFIX: &str = ".wal";

/// The journal's directory inside the log's directory.
pub(crate) fn dir_of(log_dir: &Path) -> PathBuf {
    log_dir.join("journal")
}

fn segment_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:020}{SUFFIX}"))
}

/// The segments in `dir`, oldest first (files of other names are not ours).
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let generation = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(generation) = generation {
            found.push((generation, entry.path()));
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The inserts of one cycle, encoded as a record body.
#[derive(Default)]
pub(crate) struct Body {
    bytes: Vec<u8>,
}

impl Body {
    /// Adds one insert.
    pub(crate) fn insert(&mut self, key: &[u8], value: &[u8]) {
        for part in [key, value] {
            // Keys and values are bounded far below 4 GiB by the log's limits.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            self.bytes.extend_from_slice(&len.to_be_bytes());
            self.bytes.extend_from_slice(part);
        }
    }
}

impl Body {
    /// Inserts every key and value into `tree`, in the order they were added.
    pub(crate) fn apply(&self, tree: &sled::Tree) -> Result<(), sled::Error> {
        let inserts = inserts(&self.bytes)
            .ok_or_else(|| sled::Error::ReportableBug("malformed journal body".into()))?;
        for (key, value) in inserts {
            tree.insert(key, value)?;
        }
        Ok(())
    }
}

fn checksum(seq: u64, body: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_be_bytes());
    crc.update(body);
    crc.finalize()
}

/// The records of one segment's bytes, up to the first that is not whole
/// and intact (the end of what was written).
fn records(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = bytes.get(at..at.checked_add(HEADER)?)?;
        let magic = u32::from_be_bytes(header[0..4].try_into().ok()?);
        let len = u32::from_be_bytes(header[4..8].try_into().ok()?) as usize;
        let seq = be_u64(&header[8..16])?;
        let crc = u32::from_be_bytes(header[16..20].try_into().ok()?);
        let start = at + HEADER;
        let body = bytes.get(start..start.checked_add(len)?)?;
        if magic != MAGIC || checksum(seq, body) != crc {
            return None;
        }
        at = start + len;
        Some((seq, body))
    })
}

/// The inserts of a record body; `None` if the body is malformed.
fn inserts(body: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let next = |at: &mut usize| -> Option<&[u8]> {
        let len = u32::from_be_bytes(body.get(*at..*at + 4)?.try_into().ok()?) as usize;
        let part = body.get(*at + 4..(*at + 4).checked_add(len)?)?;
        *at += 4 + len;
        Some(part)
    };
    while at < body.len() {
        let key = next(&mut at)?;
        let value = next(&mut at)?;
        out.push((key, value));
    }
    Some(out)
}

/// What [`recover`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Sequence number of the last cycle now in sled.
    pub(crate) seq: u64,
    /// Records replayed into sled.
    pub(crate) replayed: u64,
    /// Highest segment generation found (0: none).
    pub(crate) generation: u64,
}

/// Replays into `tree` every journalled cycle sled does not hold (those after
/// the sequence number in sled), in order, each as one atomic batch. Does
/// not make them durable in sled or remove the segments: the caller flushes
/// and then calls [`clear`].
pub(crate) fn recover(tree: &sled::Tree, dir: &Path) -> Result<Recovered, LogError> {
    let mut seq = match tree.get(JOURNAL_SEQ_KEY)? {
        Some(v) => be_u64(&v).ok_or(LogError::Corrupt {
            position: 0,
            reason: "malformed journal sequence number",
        })?,
        None => 0,
    };
    let mut recovered = Recovered {
        seq,
        replayed: 0,
        generation: 0,
    };
    for (generation, path) in segments(dir).map_err(LogError::Io)? {
        recovered.generation = generation;
        let bytes = std::fs::read(&path).map_err(LogError::Io)?;
        for (record_seq, body) in records(&bytes) {
            if record_seq <= seq {
                continue;
            }
            if record_seq != seq + 1 {
                return Err(LogError::Corrupt {
                    position: 0,
                    reason: "gap in the journal's records",
                });
            }
            let mut batch = sled::Batch::default();
            for (key, value) in inserts(body).ok_or(LogError::Corrupt {
                position: 0,
                reason: "malformed journal record",
            })? {
                batch.insert(key, value);
            }
            batch.insert(JOURNAL_SEQ_KEY, &record_seq.to_be_bytes()[..]);
            tree.apply_batch(batch)?;
            seq = record_seq;
            recovered.replayed += 1;
        }
    }
    recovered.seq = seq;
    Ok(recovered)
}

/// Removes every segment in `dir` (once sled durably holds their records).
pub(crate) fn clear(dir: &Path) -> Result<(), LogError> {
    for (_, path) in segments(dir).map_err(LogError::Io)? {
        remove_segment(&path)?;
    }
    Ok(())
}

fn remove_segment(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::Io(e)),
    }
}

/// The segment being written, owned by the writer thread.
pub(crate) struct Journal {
    dir: PathBuf,
    file: File,
    generation: u64,
    offset: u64,
    segment_bytes: u64,
    record: Vec<u8>,
}

impl Journal {
    /// Starts segment `generation` in `dir`: created, preallocated, and its
    /// name made durable before any record is written to it.
    pub(crate) fn create(dir: &Path, generation: u64, segment_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(segment_path(dir, generation))?;
        // Overwriting allocated blocks makes `fdatasync` cheaper than
        // growing the file with each record. Where the file system cannot
        // preallocate, records simply extend the file.
        let _ = nix::fcntl::fallocate(
            &file,
            nix::fcntl::FallocateFlags::empty(),
            0,
            i64::try_from(segment_bytes).unwrap_or(i64::MAX),
        );
        file.sync_all()?;
        File::open(dir)?.sync_all()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            generation,
            offset: 0,
            segment_bytes,
            record: Vec::new(),
        })
    }

    /// Writes cycle `seq` and waits until it is on disk. When the record
    /// does not fit the segment, a new segment is started first and the
    /// generation of the full one returned (for the checkpointer).
    pub(crate) fn append(&mut self, seq: u64, body: &Body) -> io::Result<Option<u64>> {
        let len = HEADER + body.bytes.len();
        let mut closed = None;
        if self.offset > 0 && self.offset + len as u64 > self.segment_bytes {
            let next = Self::create(&self.dir, self.generation + 1, self.segment_bytes)?;
            closed = Some(self.generation);
            *self = next;
        }
        self.record.clear();
        self.record.extend_from_slice(&MAGIC.to_be_bytes());
        let body_len = u32::try_from(body.bytes.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cycle over 4 GiB"))?;
        self.record.extend_from_slice(&body_len.to_be_bytes());
        self.record.extend_from_slice(&seq.to_be_bytes());
        self.record
            .extend_from_slice(&checksum(seq, &body.bytes).to_be_bytes());
        self.record.extend_from_slice(&body.bytes);
        self.file.write_all_at(&self.record, self.offset)?;
        self.file.sync_data()?;
        self.offset += len as u64;
        Ok(closed)
    }

    /// Generation of the segment being written.
    #[cfg(test)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

/// Makes sled durable behind full segments, then deletes them.
pub(crate) struct Checkpointer {
    pub(crate) db: sled::Db,
    pub(crate) files: SyncedFiles,
    pub(crate) dir: PathBuf,
    pub(crate) durable: watch::Sender<Durable>,
    pub(crate) metrics: LogMetrics,
}

impl Checkpointer {
    /// Flushes and fsyncs sled, so every cycle applied so far is durable in
    /// sled itself; a failure poisons the log.
    pub(crate) fn checkpoint(&mut self) -> Result<(), LogError> {
        let result = self
            .db
            .flush()
            .map_err(LogError::from)
            .and_then(|_| self.files.sync().map_err(LogError::Io));
        if let Err(error) = &result {
            tracing::error!(%error, "event log checkpoint failed; refusing further writes");
            self.durable.send_modify(|d| d.failed = true);
        } else {
            self.metrics.checkpoints.inc();
        }
        result
    }

    /// Runs until the writer hangs up: each full segment the writer reports
    /// is deleted once a checkpoint made sled hold its records (segments
    /// reported together share one checkpoint); when the writer closes
    /// cleanly, sled is made durable and the journal emptied.
    pub(crate) fn run(mut self, reports: mpsc::Receiver<Segment>) {
        while let Ok(first) = reports.recv() {
            let mut full = Vec::new();
            let mut closed = false;
            for report in std::iter::once(first).chain(reports.try_iter()) {
                match report {
                    Segment::Full(generation) => full.push(generation),
                    Segment::Close => closed = true,
                }
            }
            if self.checkpoint().is_err() {
                return;
            }
            let removed = if closed {
                clear(&self.dir)
            } else {
                full.iter()
                    .try_for_each(|g| remove_segment(&segment_path(&self.dir, *g)))
            };
            if let Err(error) = removed {
                // Harmless for durability: replay skips what sled holds.
                tracing::warn!(%error, "could not remove a journal segment");
            }
            if closed {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(pairs: &[(&[u8], &[u8])]) -> Body {
        let mut b = Body::default();
        for (k, v) in pairs {
            b.insert(k, v);
        }
        b
    }

    #[test]
    fn records_round_trip_and_stop_at_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create(dir.path(), 1, 4096).unwrap();
        journal.append(1, &body(&[(b"a", b"1")])).unwrap();
        journal
            .append(2, &body(&[(b"b", b"2"), (b"c", b"")]))
            .unwrap();
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096, "preallocated");
        let all: Vec<_> = records(&bytes)
            .map(|(s, b)| (s, inserts(b).unwrap().len()))
            .collect();
        assert_eq!(all, vec![(1, 1), (2, 2)]);
        // Tear the second record: only the first is read.
        bytes[HEADER + 10 + HEADER + 3] ^= 0xFF;
        let seqs: Vec<_> = records(&bytes).map(|(s, _)| s).collect();
        assert_eq!(seqs, vec![1]);
    }

    #[test]
    fn a_full_segment_is_reported_and_a_new_one_started() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create(dir.path(), 7, 64).unwrap();
        assert_eq!(journal.append(1, &body(&[(b"k", &[0; 30])])).unwrap(), None);
        assert_eq!(
            journal.append(2, &body(&[(b"k", &[1; 30])])).unwrap(),
            Some(7)
        );
        assert_eq!(journal.generation(), 8);
        let names: Vec<u64> = segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(names, vec![7, 8]);
    }

    #[test]
    fn recovery_replays_only_what_sled_lacks_and_refuses_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let jdir = dir.path().join("j");
        let mut journal = Journal::create(&jdir, 1, 1 << 20).unwrap();
        for seq in 1..=3u64 {
            journal
                .append(seq, &body(&[(b"k", &seq.to_be_bytes())]))
                .unwrap();
        }
        // sled already holds cycle 2 (e.g. its background flush wrote it).
        tree.insert(JOURNAL_SEQ_KEY, &2u64.to_be_bytes()[..])
            .unwrap();
        let r = recover(&tree, &jdir).unwrap();
        assert_eq!((r.seq, r.replayed, r.generation), (3, 1, 1));
        assert_eq!(
            tree.get(b"k").unwrap().unwrap().as_ref(),
            &3u64.to_be_bytes()
        );
        // A record missing between sled and the journal is corruption.
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let mut gap = Journal::create(&dir.path().join("g"), 1, 1 << 20).unwrap();
        gap.append(5, &body(&[(b"k", b"v")])).unwrap();
        assert!(matches!(
            recover(&tree, &dir.path().join("g")),
            Err(LogError::Corrupt { .. })
        ));
    }
}
