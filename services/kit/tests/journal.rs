//! The log's journal: appends are durable once journalled, whether or not
//! sled has written them; full segments are checkpointed into sled.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

use kit::log::{EventLog, ExpectedVersion, LogOptions, Metadata, NewEvent};

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_type: "loyalty.test.v1.Happened".into(),
        payload: format!("payload-{n}").into_bytes(),
        metadata: Metadata::default(),
    }
}

/// Copies a directory tree: what a crash at this moment would leave on disk
/// (the page cache survives a killed process).
fn copy_dir(from: &Path, to: &Path) {
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
    let left = std::fs::read_dir(dir.path().join("journal")).unwrap().count();
    assert_eq!(left, 0, "sled holds everything after a clean close");
    let reopened = EventLog::open_with(dir.path(), options).unwrap();
    assert_eq!(reopened.head(), 300);
    assert_eq!(reopened.verify().unwrap().events, 300);
}
