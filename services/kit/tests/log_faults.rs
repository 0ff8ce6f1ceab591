//! The event log under faults: torn sled snapshots, missing positions,
//! unreadable blob directories, oversized events, a writer that panics, a
//! crash between journal checkpoints (appends are durable once journalled,
//! whether or not sled has written them).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use kit::log::{EventLog, ExpectedVersion, LogError, LogOptions, Metadata, NewEvent};

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_type: "loyalty.test.v1.Happened".into(),
        payload: format!("payload-{n}").into_bytes(),
        metadata: Metadata::default(),
    }
}

async fn fill(dir: &std::path::Path, n: usize) {
    let log = EventLog::open(dir).unwrap();
    let events: Vec<_> = (0..n).map(event).collect();
    for chunk in events.chunks(500) {
        log.append("s", ExpectedVersion::Any, chunk.to_vec())
            .await
            .unwrap();
    }
    log.close();
}

/// Opens the log's sled database directly, waiting for the lock the closed
/// log's threads may still hold for a moment.
fn open_raw(dir: &std::path::Path) -> sled::Db {
    for _ in 0..100 {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("sled's lock was never released");
}

/// Removes the event at `position` behind the log's back.
fn remove_event(dir: &std::path::Path, position: u64) {
    let db = open_raw(dir);
    let tree = db.open_tree("eventlog").unwrap();
    let mut key = vec![b'E'];
    key.extend_from_slice(&position.to_be_bytes());
    assert!(tree.remove(key).unwrap().is_some());
    db.flush().unwrap();
}

#[tokio::test]
async fn a_torn_snapshot_file_does_not_stop_the_log_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10).await;
    let torn = dir.path().join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&torn, b"half a snapshot, then the disk was full").unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), 10);
    assert!(!torn.exists(), "the torn snapshot is removed");
    assert_eq!(log.iter_from(1).count(), 10);
}

#[tokio::test]
async fn a_missing_position_near_the_head_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 20).await;
    remove_event(dir.path(), 17);
    match EventLog::open(dir.path()) {
        Err(LogError::Corrupt { position: 17, .. }) => {}
        other => panic!("expected a gap at 17, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_position_is_an_error_when_reading_not_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 3000).await;
    remove_event(dir.path(), 5);
    // Far from the head: the open's tail check does not see it; reads do.
    let log = EventLog::open(dir.path()).unwrap();
    let read: Vec<_> = log.iter_from(1).collect();
    assert_eq!(read.len(), 5, "4 events, then the error, then nothing");
    assert!(read[..4].iter().all(Result::is_ok));
    assert!(
        matches!(read[4], Err(LogError::Corrupt { position: 5, .. })),
        "{:?}",
        read[4]
    );
    assert!(log.read_all(3, 10).is_err());
    assert!(log.verify().is_err());
}

#[tokio::test]
async fn an_unreadable_blob_directory_fails_the_checkpoint_and_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // Small journal segments: a checkpoint (sled flushed, its files and
    // blobs fsynced) follows every few appends.
    let log = EventLog::open_with(
        dir.path(),
        LogOptions {
            journal_segment_bytes: 4096,
            ..LogOptions::default()
        },
    )
    .unwrap();
    log.append("s", ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    // Listing `blobs/` now fails with an error other than "not found".
    let blobs = dir.path().join("blobs");
    if blobs.exists() {
        std::fs::remove_dir_all(&blobs).unwrap();
    }
    std::fs::write(&blobs, b"not a directory").unwrap();
    let mut durable = log.subscribe();
    // Fill segments until one is full and its checkpoint fails.
    let mut n = 2;
    while !durable.borrow().failed && n < 10_000 {
        let _ = log.append("s", ExpectedVersion::Any, vec![event(n)]).await;
        n += 1;
    }
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        durable.wait_for(|d| d.failed),
    )
    .await
    .expect("the failed checkpoint poisons the log")
    .unwrap();
    let appended = log.append("s", ExpectedVersion::Any, vec![event(0)]).await;
    assert!(
        matches!(appended, Err(LogError::FlushFailed)),
        "{appended:?}"
    );
}

#[tokio::test]
async fn an_event_too_large_to_publish_is_refused_at_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let max = kit::log::DEFAULT_MAX_EVENT_SIZE;
    // Rendered as proto3 JSON an event grows at most 6x (escaped control
    // characters); with headers it must stay under NATS's 1 MiB max_payload.
    assert!(max * 6 + 16 * 1024 <= 1024 * 1024);
    let mut big = event(0);
    big.payload = vec![b'x'; max + 1];
    let refused = log.append("s", ExpectedVersion::Any, vec![big]).await;
    assert!(
        matches!(refused, Err(LogError::EventTooLarge { size, .. }) if size == max + 1),
        "{refused:?}"
    );
    let mut fits = event(0);
    fits.payload = vec![b'x'; max];
    log.append("s", ExpectedVersion::Any, vec![fits])
        .await
        .unwrap();
    assert_eq!(log.head(), 1);
}

#[tokio::test]
async fn a_writer_that_panics_fails_the_log_instead_of_closing_it_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    log.append("s", ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap();
    let mut durable = log.subscribe();
    let pending = log
        .submit("s", ExpectedVersion::Any, vec![event(2)], None)
        .unwrap();
    log.crash_writer().unwrap();
    let after = log.submit("s", ExpectedVersion::Any, vec![event(3)], None);
    durable.wait_for(|d| d.failed).await.unwrap();
    // The append before the crash was committed; the one after it is refused
    // as a failure of the log (the service stops), not as a clean close.
    pending.outcome().await.unwrap();
    if let Ok(after) = after {
        assert!(matches!(after.outcome().await, Err(LogError::FlushFailed)));
    }
    let refused = log.append("s", ExpectedVersion::Any, vec![event(4)]).await;
    assert!(matches!(refused, Err(LogError::FlushFailed)), "{refused:?}");
}

#[tokio::test]
async fn repair_cuts_a_damaged_log_to_its_consistent_prefix() {
    use kit::log::{IdempotencyRecord, request_hash};
    let dir = tempfile::tempdir().unwrap();
    let old_id = {
        let log = EventLog::open(dir.path()).unwrap();
        for n in 0..10 {
            log.append_idempotent(
                &format!("s-{}", n % 3),
                ExpectedVersion::Any,
                vec![event(n)],
                IdempotencyRecord {
                    key: format!("op-{n}"),
                    request_hash: request_hash(b"r"),
                    result: vec![],
                    refused: false,
                },
            )
            .await
            .unwrap();
        }
        log.db()
            .open_tree("outbox")
            .unwrap()
            .insert("checkpoint", &10u64.to_be_bytes()[..])
            .unwrap();
        log.db()
            .open_tree("proj/balances")
            .unwrap()
            .insert("k", "v")
            .unwrap();
        let id = log.id();
        log.close();
        id
    };
    // Storage dropped an acknowledged write in the middle.
    remove_event(dir.path(), 7);
    assert!(
        EventLog::open(dir.path()).is_err(),
        "the damage is detected"
    );

    let report = EventLog::repair(dir.path()).unwrap();
    assert_eq!(report.kept, 6);
    assert_eq!(report.removed, 3, "positions 8, 9 and 10 cannot be trusted");
    assert_eq!(report.idempotency_removed, 4);
    assert_eq!(report.projections_dropped, 1);
    assert!(report.cut_reason.unwrap().contains("event 7 is missing"));

    let log = EventLog::open(dir.path()).unwrap();
    assert_ne!(
        log.id(),
        old_id,
        "new events after the cut are a new history"
    );
    let verified = log.verify().unwrap();
    assert_eq!((verified.events, verified.idempotency_records), (6, 6));
    assert!(log.lookup_idempotency("op-8").unwrap().is_none());
    assert!(log.lookup_idempotency("op-5").unwrap().is_some());
    let cp = log
        .db()
        .open_tree("outbox")
        .unwrap()
        .get("checkpoint")
        .unwrap()
        .unwrap();
    assert_eq!(cp.as_ref(), 6u64.to_be_bytes());
    assert!(
        !log.db()
            .tree_names()
            .iter()
            .any(|n| n.starts_with(b"proj/"))
    );
    // The log goes on from the cut: streams continue at their kept versions.
    let appended = log
        .append("s-0", ExpectedVersion::Any, vec![event(99)])
        .await
        .unwrap();
    assert_eq!(appended.events[0].position, 7);
    assert_eq!(appended.stream_version, 3);
}

#[tokio::test]
async fn a_damaged_sled_snapshot_is_an_error_or_set_aside_by_repair() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 50).await;
    // A complete-looking snapshot whose contents are garbage.
    std::fs::write(dir.path().join("snap.00000000FFFFFFFF"), vec![0xA5; 4096]).unwrap();
    // A clear error, never a panic.
    match EventLog::open(dir.path()) {
        Err(LogError::Storage(_) | LogError::Unreadable { .. }) => {}
        other => panic!("expected a storage error, got {:?}", other.map(|_| ())),
    }
    let repaired = EventLog::repair(dir.path()).unwrap();
    let aside = repaired.quarantined.expect("the snapshot was set aside");
    assert!(aside.join("snap.00000000FFFFFFFF").exists());
    assert_eq!((repaired.kept, repaired.removed), (50, 0));
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.verify().unwrap().events, 50);
}

/// Copies a directory tree: what a crash at this moment would leave on disk
/// (the page cache survives a killed process).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn acknowledged_appends_sled_never_wrote_come_back_from_the_journal() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    // sled writes nothing in the background: between checkpoints only the
    // journal holds the appends.
    let log = EventLog::open_with(
        &live,
        LogOptions {
            sled_flush_every_ms: None,
            ..LogOptions::default()
        },
    )
    .unwrap();
    for n in 0..40 {
        log.append(&format!("s{}", n % 3), ExpectedVersion::Any, vec![event(n)])
            .await
            .unwrap();
    }
    let crashed = root.path().join("crashed");
    copy_dir(&live, &crashed);
    let without_journal = root.path().join("without-journal");
    copy_dir(&crashed, &without_journal);
    std::fs::remove_dir_all(without_journal.join("journal")).unwrap();
    log.close();

    // sled alone lost the acknowledged appends ...
    let bare = EventLog::open(&without_journal).unwrap();
    assert!(bare.head() < 40, "sled alone holds {}", bare.head());
    bare.close();
    // ... the journal brings every one back, in order, checksums intact.
    let reopened = EventLog::open(&crashed).unwrap();
    assert_eq!(reopened.head(), 40);
    assert_eq!(reopened.verify().unwrap().events, 40);
    let payloads: Vec<_> = reopened.iter_from(1).map(|e| e.unwrap().payload).collect();
    let expected: Vec<_> = (0..40).map(|n| event(n).payload).collect();
    assert_eq!(payloads, expected);
    // Appends continue after the replayed ones, and survive another reopen.
    reopened
        .append("s0", ExpectedVersion::Exact(14), vec![event(40)])
        .await
        .unwrap();
    reopened.close();
    drop(reopened);
    let again = EventLog::open(&crashed).unwrap();
    assert_eq!(again.head(), 41);
    assert_eq!(again.stream_version("s0").unwrap(), 15);
}

#[tokio::test]
async fn full_segments_are_checkpointed_and_a_clean_close_empties_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        journal_segment_bytes: 2048,
        sled_flush_every_ms: None,
        ..LogOptions::default()
    };
    let log = EventLog::open_with(dir.path(), options.clone()).unwrap();
    for n in 0..300 {
        log.append("s", ExpectedVersion::Any, vec![event(n)])
            .await
            .unwrap();
    }
    log.close();
    drop(log);
    let left = std::fs::read_dir(dir.path().join("journal"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "sled holds everything after a clean close");
    let reopened = EventLog::open_with(dir.path(), options).unwrap();
    assert_eq!(reopened.head(), 300);
    assert_eq!(reopened.verify().unwrap().events, 300);
}
