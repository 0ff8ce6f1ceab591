//! sled's files, kept open so that they can be `fdatasync`ed: sled 0.34's
//! own flush ends in `sync_file_range`, which is not durable (sled issue
//! #1452).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::LogError;

/// sled's files, kept open for `fdatasync`.
pub(crate) struct SyncedFiles {
    dir: PathBuf,
    db_file: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<(PathBuf, u64)>,
}

impl SyncedFiles {
    pub(crate) fn open(dir: &Path) -> Result<Self, LogError> {
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

    /// fsyncs any blob files written since the last call (and their
    /// directory), then the data file that points at them. Any error but a
    /// missing blob directory or a blob that sled's GC removed meanwhile fails
    /// the sync (and so poisons the log): a blob is never skipped while the
    /// append that needs it is acknowledged.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        self.sync_blobs()?;
        self.db_file.sync_data()
    }

    fn sync_blobs(&mut self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut new_files = false;
        // Only blobs that still exist are remembered: the set stays bounded.
        let mut seen = HashSet::with_capacity(self.synced_blobs.len());
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let len = match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // Keyed by length too: a blob still being written is synced again.
            let key = (path, len);
            if !self.synced_blobs.contains(&key) {
                match File::open(&key.0) {
                    Ok(f) => f.sync_all()?,
                    // sled's GC removed it meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new_files = true;
            }
            seen.insert(key);
        }
        self.synced_blobs = seen;
        if new_files {
            File::open(&self.blobs_dir)?.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}
