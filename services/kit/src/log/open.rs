//! Opening the log's sled database safely: torn snapshots removed, sled's
//! panics turned into errors, the newest events checked, the log's id.

use std::path::Path;

use super::keys::{EVENT_PREFIX, be_u64};
use super::{LogError, LogOptions, record};

/// The log's id, stored in tree `meta` when the log is created.
pub(crate) fn log_id(db: &sled::Db) -> Result<uuid::Uuid, LogError> {
    const KEY: &[u8] = b"log-id";
    let meta = db.open_tree("meta")?;
    if let Some(v) = meta.get(KEY)? {
        return uuid::Uuid::from_slice(&v).map_err(|_| LogError::Corrupt {
            position: 0,
            reason: "malformed log id",
        });
    }
    let id = uuid::Uuid::now_v7();
    meta.insert(KEY, id.as_bytes())?;
    Ok(id)
}

/// Prefix and suffix of the snapshot files sled writes before renaming them.
const TORN_SNAPSHOT: (&str, &str) = ("snap.", ".generating");

/// Removes snapshot files that sled was still writing when the process died
/// (or the disk filled up). sled renames a snapshot only once it is complete,
/// so a `snap.*.generating` file is never needed — but sled 0.34 may refuse
/// to open beside a torn one.
pub(crate) fn remove_torn_snapshots(dir: &Path) -> Result<(), LogError> {
    for entry in std::fs::read_dir(dir).map_err(LogError::Io)? {
        let entry = entry.map_err(LogError::Io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TORN_SNAPSHOT.0) && name.ends_with(TORN_SNAPSHOT.1) {
            tracing::warn!(file = %entry.path().display(), "removing a torn sled snapshot");
            std::fs::remove_file(entry.path()).map_err(LogError::Io)?;
        }
    }
    Ok(())
}

/// How often [`open_sled`] tries for sled's file lock (20 ms apart).
const LOCK_ATTEMPTS: u32 = 100;

/// Opens sled in `dir`. sled 0.34 panics on some damaged files (e.g. data
/// that a lying disk dropped); that becomes [`LogError::Unreadable`] naming
/// the directory, never a panic of the service.
pub(crate) fn open_sled(dir: &Path, options: &LogOptions) -> Result<sled::Db, LogError> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(options.cache_capacity)
        .flush_every_ms(options.sled_flush_every_ms)
        .mode(sled::Mode::HighThroughput);
    // The process that had the directory before (a restart, an operator
    // command right after the service stopped) may hold sled's file lock a
    // moment longer while its threads exit: wait for it, briefly.
    let mut attempts = 0;
    let opened = loop {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open())) {
            Ok(Err(sled::Error::Io(e)))
                if attempts < LOCK_ATTEMPTS && e.to_string().contains("could not acquire lock") =>
            {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other,
        }
    };
    match opened {
        Ok(db) => Ok(db?),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("sled panicked")
                .chars()
                .take(200)
                .collect();
            Err(LogError::Unreadable {
                dir: dir.to_path_buf(),
                reason,
            })
        }
    }
}

/// How many of the newest events [`check_tail`] checks at open.
const TAIL_CHECK: usize = 1024;

/// Checks the start and the newest events of the log (the ones a crash is
/// most likely to have damaged): positions start at 1 and have no gap, and
/// every checked record passes its checksum. Returns the last position.
pub(crate) fn check_tail(tree: &sled::Tree) -> Result<u64, LogError> {
    let malformed = LogError::Corrupt {
        position: 0,
        reason: "malformed event key",
    };
    let first = match tree.scan_prefix([EVENT_PREFIX]).next() {
        None => return Ok(0),
        Some(entry) => be_u64(&entry?.0[1..]).ok_or(malformed)?,
    };
    if first != 1 {
        return Err(LogError::Corrupt {
            position: 1,
            reason: "missing event (the log does not start at position 1)",
        });
    }
    let mut last = None;
    let mut previous: Option<u64> = None;
    for entry in tree.scan_prefix([EVENT_PREFIX]).rev().take(TAIL_CHECK) {
        let (key, value) = entry?;
        let position = be_u64(&key[1..]).ok_or(LogError::Corrupt {
            position: 0,
            reason: "malformed event key",
        })?;
        record::decode_event(position, &value)?;
        if let Some(after) = previous
            && after != position + 1
        {
            return Err(LogError::Corrupt {
                position: position + 1,
                reason: "missing event (gap in positions)",
            });
        }
        last.get_or_insert(position);
        previous = Some(position);
    }
    Ok(last.unwrap_or(0))
}
