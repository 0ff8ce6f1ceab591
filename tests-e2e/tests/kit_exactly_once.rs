//! Exactly once to NATS: with NATS stopped for a while during appends and
//! restarted, and the service killed with SIGKILL and restarted once, the
//! JetStream stream ends up with every event exactly once, in log order per
//! subject, as read back by a separate consumer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use kit::log::EventLog;
use loyalty_proto::kit::v1::ProbeRecorded;
use prost::Message;
use tests_e2e::harness::{
    NatsServer, ServiceProcess, ServiceSpec, binary_path, free_port, metrics, recv_line,
};

async fn wait_for_acks(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>, n: usize) {
    let mut seen = 0;
    while seen < n {
        let line = recv_line(lines, Duration::from_secs(60)).await.unwrap();
        if line.starts_with("ACK ") {
            seen += 1;
        }
    }
}

async fn wait_for_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>, wanted: &str) {
    loop {
        if recv_line(lines, Duration::from_secs(120)).await.unwrap() == wanted {
            return;
        }
    }
}

/// Polls the probe's metrics until the outbox has published everything.
async fn wait_until_relayed(metrics_addr: &str) -> u64 {
    tests_e2e::harness::eventually(
        Duration::from_secs(120),
        "the outbox catches up",
        || async {
            let body = metrics::scrape(metrics_addr).await.ok()?;
            let head = metrics::value(&body, "loyalty_eventlog_head_position")?;
            let checkpoint = metrics::value(&body, "loyalty_outbox_checkpoint")?;
            (head > 0 && head == checkpoint).then_some(head)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_jetstream_exactly_once_despite_outages_and_a_crash() {
    tests_e2e::harness::init_test_logging();
    let mut nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let spec = ServiceSpec::new("kit-probe", binary_path("kit-probe"))
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &metrics_addr])
        .args(["--nats-url", &nats.url()])
        .args([
            "--writers",
            "4",
            "--streams",
            "6",
            "--count",
            "400",
            "--interval-ms",
            "2",
        ])
        .grpc_port(grpc);
    let (mut probe, mut lines) = ServiceProcess::start_with_stdout_lines(spec).await.unwrap();

    wait_for_acks(&mut lines, 300).await;
    nats.stop().await.unwrap();
    // The service keeps acknowledging appends while NATS is down.
    wait_for_acks(&mut lines, 400).await;
    nats.restart().await.unwrap();
    wait_for_acks(&mut lines, 200).await;
    probe.kill9();
    // A second run on the same data appends another 4 x 400 events.
    probe.restart().await.unwrap();
    wait_for_line(&mut lines, "DONE").await;
    let head = wait_until_relayed(&metrics_addr).await;
    probe.terminate().await.unwrap();

    let log = EventLog::open(data.path().join("eventlog")).unwrap();
    log.verify().unwrap();
    let events: Vec<_> = log.iter_from(1).map(Result::unwrap).collect();
    assert_eq!(events.len() as u64, head);
    assert!(
        events.len() >= 2000,
        "first run's acks plus a full second run"
    );

    let client = nats.client().await.unwrap();
    let js = jetstream::new(client);
    let mut stream = js.get_stream("LOYALTY").await.unwrap();
    let info = stream.info().await.unwrap().clone();
    assert_eq!(
        info.state.messages,
        events.len() as u64,
        "JetStream holds exactly as many messages as the log has events"
    );

    // Read everything back with a separate consumer.
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: "loyalty.kit.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut received = Vec::with_capacity(events.len());
    while received.len() < events.len() {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .expect("message within 30 s")
            .unwrap()
            .unwrap();
        received.push(m);
    }
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for m in &received {
        let h = m.headers.as_ref().expect("headers");
        *by_id
            .entry(h.get("Nats-Msg-Id").unwrap().to_string())
            .or_default() += 1;
    }
    assert!(by_id.values().all(|&n| n == 1), "no event published twice");
    // Same order as the log (one subject here, so per-subject order is total order).
    for (e, m) in events.iter().zip(&received) {
        let h = m.headers.as_ref().unwrap();
        assert_eq!(m.subject.as_str(), "loyalty.kit.probe_recorded");
        assert_eq!(h.get("Nats-Msg-Id").unwrap().as_str(), e.id.to_string());
        assert_eq!(h.get("ce-id").unwrap().as_str(), e.id.to_string());
        assert_eq!(h.get("ce-specversion").unwrap().as_str(), "1.0");
        assert_eq!(
            h.get("ce-type").unwrap().as_str(),
            "loyalty.kit.v1.ProbeRecorded"
        );
        assert_eq!(h.get("ce-source").unwrap().as_str(), "/loyalty/kit");
        assert_eq!(h.get("content-type").unwrap().as_str(), "application/json");
        assert_eq!(
            h.get("loyalty-position").unwrap().as_str(),
            e.position.to_string()
        );
        assert!(h.get("ce-time").unwrap().as_str().ends_with('Z'));
        let json: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let stored = ProbeRecorded::decode(e.payload.as_slice()).unwrap();
        assert_eq!(
            json,
            serde_json::to_value(&stored).unwrap(),
            "payload is the event's proto3 JSON"
        );
        assert!(json["createdAt"].as_str().unwrap().ends_with('Z'), "{json}");
    }
    assert!(
        info.config.duplicate_window >= Duration::from_secs(60),
        "duplicate window configured"
    );
}
