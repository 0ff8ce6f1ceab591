//! The kit's consumer helper against a real nats-server: explicit acks,
//! bounded retries with backoff, idempotent effects keyed by the source event
//! id (a redelivery after the effect never doubles it), and dead letters on
//! `loyalty.dlq.<consumer>` instead of silent drops.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use kit::consumer::{Consumer, ConsumerConfig, HandlerError, Inbound, dlq_subject};
use kit::log::{AppendOutcome, EventLog, ExpectedVersion, IdempotencyRecord, Metadata, NewEvent};
use tests_e2e::harness::NatsServer;
use tokio_util::sync::CancellationToken;

const NAME: &str = "e2e-consumer";

/// Applies the message's effect to `log` idempotently, keyed by source event id.
async fn apply_effect(log: &EventLog, inbound: &Inbound) -> bool {
    let outcome = log
        .append_idempotent(
            "effects",
            ExpectedVersion::Any,
            vec![NewEvent {
                event_type: "test.v1.EffectApplied".into(),
                payload: inbound.payload.to_vec(),
                metadata: Metadata {
                    causation_id: Some(inbound.event_id.clone()),
                    ..Metadata::default()
                },
            }],
            IdempotencyRecord {
                key: inbound.idempotency_key(NAME),
                request_hash: kit::log::request_hash(&inbound.payload),
                result: Vec::new(),
                refused: false,
            },
        )
        .await
        .unwrap();
    matches!(outcome, AppendOutcome::Appended(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_dead_letters_and_never_doubles_an_effect() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let js = jetstream::new(nats.client().await.unwrap());
    kit::outbox::ensure_stream(&js, Duration::from_secs(120))
        .await
        .unwrap();
    for id in ["ok-1", "flaky-1", "poison-1", "stuck-1"] {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", id);
        h.insert("ce-id", id);
        h.insert("ce-type", "test.v1.Something");
        js.publish_with_headers(
            "loyalty.test.something",
            h,
            format!("payload of {id}").into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let attempts: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut config = ConsumerConfig::new(NAME, &nats.url(), "loyalty.test.>");
    config.max_attempts = 3;
    config.backoff = vec![Duration::from_millis(20)];
    let shutdown = CancellationToken::new();
    let handler = {
        let (log, attempts) = (Arc::clone(&log), Arc::clone(&attempts));
        move |inbound: Inbound| {
            let (log, attempts, done_tx) =
                (Arc::clone(&log), Arc::clone(&attempts), done_tx.clone());
            async move {
                *attempts
                    .lock()
                    .unwrap()
                    .entry(inbound.event_id.clone())
                    .or_default() += 1;
                match inbound.event_id.as_str() {
                    "poison-1" => Err(HandlerError::Reject(anyhow::anyhow!("malformed payload"))),
                    "stuck-1" => Err(HandlerError::Retry(anyhow::anyhow!(
                        "downstream unavailable"
                    ))),
                    "flaky-1" if inbound.delivered == 1 => {
                        // The effect lands, then the handler fails before the ack:
                        // the redelivery must not apply it again.
                        assert!(apply_effect(&log, &inbound).await);
                        Err(HandlerError::Retry(anyhow::anyhow!(
                            "crashed after the effect"
                        )))
                    }
                    _ => {
                        let fresh = apply_effect(&log, &inbound).await;
                        let _ = done_tx.send(format!("{} fresh={fresh}", inbound.event_id));
                        Ok(())
                    }
                }
            }
        }
    };
    let task = tokio::spawn(Consumer::new(config).run(handler, shutdown.clone()));

    let mut done = Vec::new();
    while done.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
            .await
            .expect("handled within 30 s")
            .unwrap();
        done.push(line);
    }
    done.sort();
    assert_eq!(done, ["flaky-1 fresh=false", "ok-1 fresh=true"]);

    // Dead letters: the rejected message at once, the stuck one after 3 attempts.
    let dlq = js
        .get_stream("LOYALTY")
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: dlq_subject(NAME),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut letters = dlq.messages().await.unwrap();
    let mut dead = HashMap::new();
    while dead.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(30), letters.next())
            .await
            .expect("dead letter within 30 s")
            .unwrap()
            .unwrap();
        let h = m.headers.clone().unwrap();
        assert_eq!(
            h.get("loyalty-dlq-subject").unwrap().as_str(),
            "loyalty.test.something"
        );
        assert!(
            h.get("ce-id").is_none(),
            "a dead letter is not the event again"
        );
        let id = h.get("loyalty-dlq-event-id").unwrap().to_string();
        assert_eq!(m.payload, format!("payload of {id}").as_bytes());
        dead.insert(
            id,
            (
                h.get("loyalty-dlq-deliveries").unwrap().to_string(),
                h.get("loyalty-dlq-reason").unwrap().to_string(),
            ),
        );
    }
    assert_eq!(dead["poison-1"].0, "1");
    assert!(dead["poison-1"].1.contains("malformed payload"));
    assert_eq!(dead["stuck-1"].0, "3");
    assert!(dead["stuck-1"].1.contains("downstream unavailable"));

    shutdown.cancel();
    task.await.unwrap();
    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(attempts["ok-1"], 1);
    assert_eq!(attempts["flaky-1"], 2);
    assert_eq!(attempts["poison-1"], 1);
    assert_eq!(attempts["stuck-1"], 3);
    let effects = log.read_stream("effects", 0).unwrap();
    assert_eq!(effects.len(), 2, "one effect each for ok-1 and flaky-1");
}
