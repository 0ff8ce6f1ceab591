//! The outbox relay resumes after the last event already on the stream, so
//! exactly-once holds even when its checkpoint is lost and the JetStream
//! duplicate window has passed (an outage longer than the window).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use kit::log::{EventLog, ExpectedVersion, Metadata, NewEvent};
use kit::outbox::{OutboxConfig, OutboxRelay, ProtoJsonCodec};
use loyalty_proto::kit::v1::ProbeRecorded;
use prost::Message;
use tests_e2e::harness::NatsServer;
use tokio_util::sync::CancellationToken;

const EVENT_TYPE: &str = "loyalty.kit.v1.ProbeRecorded";

async fn append(log: &EventLog, seq: u64) {
    let event = ProbeRecorded {
        writer: 0,
        seq,
        created_at: None,
        note: String::new(),
    };
    log.append(
        "probe",
        ExpectedVersion::Any,
        vec![NewEvent {
            event_type: EVENT_TYPE.to_owned(),
            payload: event.encode_to_vec(),
            metadata: Metadata::default(),
        }],
    )
    .await
    .unwrap();
}

fn relay(log: &Arc<EventLog>, nats: &NatsServer) -> OutboxRelay {
    let mut config = OutboxConfig::new("kit", &nats.url());
    config.duplicate_window = Duration::from_secs(2);
    let codec = ProtoJsonCodec::new().register::<ProbeRecorded>(EVENT_TYPE);
    OutboxRelay::new(Arc::clone(log), config, Arc::new(codec)).unwrap()
}

/// Runs a relay until its checkpoint reaches the log's head, then stops it.
async fn relay_everything(log: &Arc<EventLog>, nats: &NatsServer) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay(log, nats).run(stop.clone()));
    let outbox = log.db().open_tree("outbox").unwrap();
    tests_e2e::harness::eventually(Duration::from_secs(60), "the relay catches up", || async {
        let checkpoint = outbox
            .get("checkpoint")
            .unwrap()
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()));
        (checkpoint == Some(log.head())).then_some(())
    })
    .await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_checkpoint_after_the_duplicate_window_publishes_nothing_twice() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let log = EventLog::open(data.path()).unwrap();
    for seq in 0..20 {
        append(&log, seq).await;
    }
    relay_everything(&log, &nats).await;

    // The checkpoint is lost (an old backup of the data dir, say) ...
    log.db()
        .open_tree("outbox")
        .unwrap()
        .remove("checkpoint")
        .unwrap();
    // ... and the duplicate window (2 s) passes: JetStream would not drop a
    // re-publish any more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for seq in 20..25 {
        append(&log, seq).await;
    }
    relay_everything(&log, &nats).await;

    let js = jetstream::new(nats.client().await.unwrap());
    let mut stream = js.get_stream("LOYALTY").await.unwrap();
    let info = stream.info().await.unwrap().clone();
    assert_eq!(info.config.duplicate_window, Duration::from_secs(2));
    assert_eq!(info.state.messages, 25, "every event exactly once");
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: "loyalty.kit.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut positions = Vec::new();
    while positions.len() < 25 {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap();
        let h = m.headers.as_ref().unwrap();
        assert_eq!(
            h.get("loyalty-log-id").unwrap().as_str(),
            log.id().to_string()
        );
        positions.push(
            h.get("loyalty-position")
                .unwrap()
                .as_str()
                .parse::<u64>()
                .unwrap(),
        );
    }
    assert_eq!(positions, (1..=25).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_checkpoint_is_an_error_not_position_zero() {
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let log = EventLog::open(data.path()).unwrap();
    append(&log, 0).await;
    log.db()
        .open_tree("outbox")
        .unwrap()
        .insert("checkpoint", &b"bad"[..])
        .unwrap();
    let codec = ProtoJsonCodec::new().register::<ProbeRecorded>(EVENT_TYPE);
    let error = OutboxRelay::new(
        Arc::clone(&log),
        OutboxConfig::new("kit", &nats.url()),
        Arc::new(codec),
    )
    .err()
    .expect("a relay refuses a malformed checkpoint");
    assert!(error.to_string().contains("malformed"), "{error}");
}
