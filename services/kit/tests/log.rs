//! Behaviour of the event log: appends, reads, optimistic concurrency,
//! idempotency, validation, corruption detection and reopening.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::Arc;

use kit::log::{
    AppendOutcome, EventLog, ExpectedVersion, IdempotencyRecord, LogError, LogOptions, Metadata,
    NewEvent, request_hash,
};

fn event(n: u32) -> NewEvent {
    NewEvent {
        event_type: "loyalty.test.v1.Happened".into(),
        payload: format!("payload-{n}").into_bytes(),
        metadata: Metadata {
            correlation_id: Some(format!("corr-{n}")),
            causation_id: None,
            traceparent: None,
        },
    }
}

#[tokio::test]
async fn append_then_read_stream_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let a = log
        .append("acc-1", ExpectedVersion::Exact(0), vec![event(1), event(2)])
        .await
        .unwrap();
    assert_eq!(a.stream_version, 2);
    log.append("acc-2", ExpectedVersion::Any, vec![event(3)])
        .await
        .unwrap();
    log.append("acc-1", ExpectedVersion::Exact(2), vec![event(4)])
        .await
        .unwrap();

    let s1 = log.read_stream("acc-1", 0).unwrap();
    assert_eq!(s1.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(s1.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2, 4]);
    assert_eq!(s1[2].payload, b"payload-4");
    assert_eq!(s1[0].metadata.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(log.read_stream("acc-1", 2).unwrap().len(), 1);

    let all = log.read_all(1, 100).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[2].stream, "acc-2");
    assert_eq!(log.head(), 4);
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "UUIDv7 ids are ordered"
    );
    assert_eq!(log.verify().unwrap().events, 4);
}

#[tokio::test]
async fn unknown_stream_and_bad_input_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open_with(
        dir.path(),
        LogOptions {
            max_event_size: 16,
            max_events_per_append: 2,
            ..LogOptions::default()
        },
    )
    .unwrap();
    assert!(matches!(log.read_stream("nope", 0), Err(LogError::StreamNotFound(s)) if s == "nope"));
    assert!(matches!(
        log.append("", ExpectedVersion::Any, vec![event(1)]).await,
        Err(LogError::InvalidStreamId { .. })
    ));
    assert!(matches!(
        log.append("a\0b", ExpectedVersion::Any, vec![event(1)])
            .await,
        Err(LogError::InvalidStreamId { .. })
    ));
    let big = NewEvent {
        payload: vec![0; 17],
        ..event(1)
    };
    // One good event and one oversize event: nothing at all is written.
    assert!(matches!(
        log.append("s", ExpectedVersion::Any, vec![event(1), big])
            .await,
        Err(LogError::EventTooLarge { size: 17, max: 16 })
    ));
    assert!(matches!(
        log.append(
            "s",
            ExpectedVersion::Any,
            vec![event(1), event(2), event(3)]
        )
        .await,
        Err(LogError::TooManyEvents { count: 3, max: 2 })
    ));
    assert!(matches!(
        log.append("s", ExpectedVersion::Any, vec![]).await,
        Err(LogError::EmptyAppend)
    ));
    let untyped = NewEvent {
        event_type: String::new(),
        ..event(1)
    };
    assert!(matches!(
        log.append("s", ExpectedVersion::Any, vec![untyped]).await,
        Err(LogError::InvalidEventType(_))
    ));
    assert_eq!(log.head(), 0);
    assert_eq!(log.stream_version("s").unwrap(), 0);
    assert_eq!(log.verify().unwrap().events, 0);
}

#[tokio::test]
async fn wrong_expected_version_is_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    log.append("s", ExpectedVersion::Exact(0), vec![event(1)])
        .await
        .unwrap();
    let err = log
        .append("s", ExpectedVersion::Exact(0), vec![event(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, LogError::Conflict { current: 1, .. }),
        "{err}"
    );
    assert_eq!(log.stream_version("s").unwrap(), 1);
    assert_eq!(log.head(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_with_the_same_expected_version_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    for round in 0..20u64 {
        let mut tasks = Vec::new();
        for n in 0..16 {
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move {
                log.append("hot", ExpectedVersion::Exact(round), vec![event(n)])
                    .await
            }));
        }
        let mut wins = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(a) => {
                    assert_eq!(a.stream_version, round + 1);
                    wins += 1;
                }
                Err(LogError::Conflict { current, .. }) => {
                    assert_eq!(current, round + 1);
                    conflicts += 1;
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!((wins, conflicts), (1, 15), "round {round}");
    }
    assert_eq!(log.stream_version("hot").unwrap(), 20);
    log.verify().unwrap();
}

#[tokio::test]
async fn idempotent_append_returns_the_stored_result_and_refuses_other_requests() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let idem = |req: &str, result: &str| IdempotencyRecord {
        key: "op-1".into(),
        request_hash: request_hash(req.as_bytes()),
        result: result.as_bytes().to_vec(),
        refused: false,
    };
    let first = log
        .append_idempotent(
            "s",
            ExpectedVersion::Any,
            vec![event(1)],
            idem("accrue 10", "ok-1"),
        )
        .await
        .unwrap();
    assert!(matches!(first, AppendOutcome::Appended(_)));
    let again = log
        .append_idempotent(
            "s",
            ExpectedVersion::Any,
            vec![event(1)],
            idem("accrue 10", "ok-2"),
        )
        .await
        .unwrap();
    let AppendOutcome::Duplicate(stored) = again else {
        panic!("expected a duplicate")
    };
    assert_eq!(stored.result, b"ok-1");
    assert_eq!(stored.position, 1);
    let other = log
        .append_idempotent(
            "s",
            ExpectedVersion::Any,
            vec![event(2)],
            idem("accrue 99", "x"),
        )
        .await;
    assert!(matches!(other, Err(LogError::IdempotencyConflict { key }) if key == "op-1"));
    assert_eq!(log.head(), 1, "no second effect");
    assert!(
        log.check_idempotency("op-1", &request_hash(b"accrue 10"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        log.check_idempotency("op-1", &request_hash(b"other")).await,
        Err(LogError::IdempotencyConflict { .. })
    ));
    assert_eq!(log.verify().unwrap().idempotency_records, 1);
}

#[tokio::test]
async fn a_corrupt_record_is_a_loud_error_naming_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    for n in 0..3 {
        log.append("s", ExpectedVersion::Any, vec![event(n)])
            .await
            .unwrap();
    }
    let raw = log.db().open_tree("eventlog").unwrap();
    let mut key = vec![b'E'];
    key.extend_from_slice(&2u64.to_be_bytes());
    let mut value = raw.get(&key).unwrap().unwrap().to_vec();
    let last = value.len() - 6;
    value[last] ^= 0x01;
    raw.insert(&key, value).unwrap();

    let err = log.read_all(1, 10).unwrap_err();
    assert!(
        matches!(err, LogError::Corrupt { position: 2, .. }),
        "{err}"
    );
    assert!(matches!(
        log.read_stream("s", 0),
        Err(LogError::Corrupt { position: 2, .. })
    ));
    assert!(matches!(
        log.verify(),
        Err(LogError::Corrupt { position: 2, .. })
    ));
    // Records before the bad one still read.
    assert_eq!(log.read_all(1, 1).unwrap().len(), 1);
}

#[tokio::test]
async fn reopening_keeps_everything_and_continues_positions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        log.append("s", ExpectedVersion::Any, vec![event(1), event(2)])
            .await
            .unwrap();
        log.close();
    }
    let log = EventLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), 2);
    let a = log
        .append("s", ExpectedVersion::Exact(2), vec![event(3)])
        .await
        .unwrap();
    assert_eq!(a.events[0].position, 3);
    assert_eq!(log.verify().unwrap().events, 3);
}

#[tokio::test]
async fn an_append_behind_a_refused_one_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    log.append("s", ExpectedVersion::Exact(0), vec![event(0)])
        .await
        .unwrap();
    // Submitted back to back, committed in this order:
    let x = log
        .submit("s", ExpectedVersion::Exact(1), vec![event(1)], None)
        .unwrap();
    let a = log
        .submit("s", ExpectedVersion::Exact(1), vec![event(2)], None)
        .unwrap();
    let a_id = a.event_ids()[0];
    // B was decided on A's outcome. Plain Exact(2) would land on top of X.
    let b = log
        .submit(
            "s",
            ExpectedVersion::ExactAfter(2, a_id),
            vec![event(3)],
            None,
        )
        .unwrap();
    assert!(matches!(x.outcome().await, Ok(AppendOutcome::Appended(_))));
    assert!(matches!(a.outcome().await, Err(LogError::Conflict { .. })));
    assert!(matches!(
        b.outcome().await,
        Err(LogError::Conflict { current: 2, .. })
    ));
    let head = log.stream_head("s").unwrap().unwrap();
    assert_eq!(head.0, 2);
    assert_eq!(log.read_stream("s", 0).unwrap()[1].id, head.1);
    // Appending behind the real head works.
    log.append(
        "s",
        ExpectedVersion::ExactAfter(head.0, head.1),
        vec![event(4)],
    )
    .await
    .unwrap();
    log.verify().unwrap();
}

#[tokio::test]
async fn metadata_with_control_characters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let mut e = event(1);
    e.metadata.correlation_id = Some("evil\r\nNats-Msg-Id: x".into());
    assert!(matches!(
        log.append("s", ExpectedVersion::Any, vec![e]).await,
        Err(LogError::InvalidMetadata("correlation_id"))
    ));
    assert_eq!(log.head(), 0);
}
