//! Group commit: many appenders share one `flush` + `fsync` of sled's files.
//!
//! sled 0.34's own `flush()` ends in `sync_file_range`, which is not a durable
//! fsync (sled issue #1452). The flusher thread therefore calls `flush()` and
//! then `fdatasync`s sled's data files (and their directories when files are
//! new) itself. An appender registers the write sequence number it needs,
//! wakes the flusher and waits until a flush that started after its write
//! has completed.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::watch;

use super::LogError;

/// What has been made durable so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Durable {
    /// Highest write sequence number known to be on disk.
    pub seq: u64,
    /// Highest global event position known to be on disk.
    pub position: u64,
    /// Set once a flush has failed: the log refuses further writes.
    pub failed: bool,
}

/// Requests shared between appenders and the flusher thread.
#[derive(Default)]
struct Requests {
    wanted_seq: u64,
    shutdown: bool,
}

/// Snapshot of what has been written (not yet necessarily durable).
pub(crate) type WrittenFn = dyn Fn() -> (u64, u64) + Send + Sync;

/// Observer called after each flush with (events made durable, duration).
pub(crate) type FlushObserver = dyn Fn(u64, std::time::Duration) + Send + Sync;

/// The group-commit flusher.
pub(crate) struct GroupCommit {
    requests: Arc<(Mutex<Requests>, Condvar)>,
    durable_rx: watch::Receiver<Durable>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher thread for `db` stored in `dir`. `written` returns
    /// the current (write sequence, last position) pair.
    pub(crate) fn start(
        db: sled::Db,
        dir: PathBuf,
        initial: Durable,
        written: Arc<WrittenFn>,
        observer: Arc<FlushObserver>,
    ) -> Result<Self, LogError> {
        let mut files = SyncedFiles::open(&dir)?;
        let requests: Arc<(Mutex<Requests>, Condvar)> = Arc::default();
        let (durable_tx, durable_rx) = watch::channel(initial);
        let reqs = Arc::clone(&requests);
        let thread = std::thread::Builder::new()
            .name("eventlog-flush".into())
            .spawn(move || {
                let (lock, cvar) = &*reqs;
                loop {
                    {
                        let mut r = lock.lock().expect("flusher lock");
                        while r.wanted_seq <= durable_tx.borrow().seq && !r.shutdown {
                            r = cvar.wait(r).expect("flusher lock");
                        }
                        if r.shutdown && r.wanted_seq <= durable_tx.borrow().seq {
                            return;
                        }
                    }
                    let (seq, position) = written();
                    let started = Instant::now();
                    let result = db
                        .flush()
                        .map_err(|e| e.to_string())
                        .and_then(|_| files.sync().map_err(|e| e.to_string()));
                    let before = durable_tx.borrow().position;
                    match result {
                        Ok(()) => {
                            durable_tx.send_replace(Durable {
                                seq,
                                position,
                                failed: false,
                            });
                            observer(position.saturating_sub(before), started.elapsed());
                        }
                        Err(error) => {
                            tracing::error!(%error, "event log flush failed; refusing further writes");
                            let current = *durable_tx.borrow();
                            durable_tx.send_replace(Durable {
                                failed: true,
                                ..current
                            });
                            return;
                        }
                    }
                }
            })
            .map_err(LogError::Io)?;
        Ok(Self {
            requests,
            durable_rx,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A receiver of durability progress.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Durable> {
        self.durable_rx.clone()
    }

    /// Current durability state.
    pub(crate) fn current(&self) -> Durable {
        *self.durable_rx.borrow()
    }

    /// Waits until write `seq` is durable.
    pub(crate) async fn wait(&self, seq: u64) -> Result<Durable, LogError> {
        self.request(seq);
        let mut rx = self.durable_rx.clone();
        let durable = *rx
            .wait_for(|d| d.seq >= seq || d.failed)
            .await
            .map_err(|_| LogError::Closed)?;
        if durable.seq >= seq {
            Ok(durable)
        } else {
            Err(LogError::FlushFailed)
        }
    }

    fn request(&self, seq: u64) {
        let (lock, cvar) = &*self.requests;
        let mut r = lock.lock().expect("flusher lock");
        if seq > r.wanted_seq {
            r.wanted_seq = seq;
            cvar.notify_one();
        }
    }

    /// Flushes whatever is pending and stops the flusher thread.
    pub(crate) fn shutdown(&self, final_seq: u64) {
        {
            let (lock, cvar) = &*self.requests;
            let mut r = lock.lock().expect("flusher lock");
            r.wanted_seq = r.wanted_seq.max(final_seq);
            r.shutdown = true;
            cvar.notify_one();
        }
        if let Some(handle) = self.thread.lock().expect("thread lock").take() {
            let _ = handle.join();
        }
    }
}

/// sled's files, kept open for `fdatasync`.
struct SyncedFiles {
    dir: PathBuf,
    db_file: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<PathBuf>,
}

impl SyncedFiles {
    fn open(dir: &Path) -> Result<Self, LogError> {
        let db_file = File::open(dir.join("db")).map_err(LogError::Io)?;
        let dir_handle = File::open(dir).map_err(LogError::Io)?;
        dir_handle.sync_all().map_err(LogError::Io)?;
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
            let path = entry?.path();
            if !self.synced_blobs.contains(&path) {
                // A blob may be removed concurrently by sled's GC: skip it then.
                if let Ok(f) = File::open(&path) {
                    f.sync_all()?;
                    new_files = true;
                }
                self.synced_blobs.insert(path);
            }
        }
        if new_files {
            File::open(&self.blobs_dir)?.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}
