//! Trace context crosses the platform: a gRPC call carrying a W3C
//! `traceparent` runs in a server span of that trace, the span is exported
//! over OTLP, and the events the call appended carry the same trace id on
//! NATS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tests_e2e::harness::otlp::{OtlpCollector, hex, spans};
use tests_e2e::harness::{NatsServer, ServiceProcess, ServiceSpec, binary_path, free_port};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_trace_reaches_its_events_and_the_exported_spans() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let mut collector = OtlpCollector::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let spec = ServiceSpec::new("ledger", binary_path("ledger"))
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--nats-url", &nats.url()])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .grpc_port(grpc);
    let mut ledger = ServiceProcess::start(spec).await.unwrap();
    let mut client = LedgerServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();

    let mut request = tonic::Request::new(pb::AccrueRequest {
        operation_id: "traced-1".into(),
        member_id: "alice".into(),
        amount: Some(Money {
            amount: "10".into(),
            currency: "BONUS".into(),
        }),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    client.accrue(request).await.unwrap();

    // The event on NATS carries the caller's trace.
    let js = jetstream::new(nats.client().await.unwrap());
    let stream = tests_e2e::harness::eventually(
        Duration::from_secs(30),
        "the LOYALTY stream is created",
        || async { js.get_stream("LOYALTY").await.ok() },
    )
    .await;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: "loyalty.ledger.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut traced = 0;
    while traced == 0 {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .expect("the accrual's events on NATS")
            .unwrap()
            .unwrap();
        let headers = m.headers.as_ref().unwrap();
        let traceparent = headers
            .get("traceparent")
            .unwrap_or_else(|| panic!("{} carries no traceparent", m.subject))
            .to_string();
        assert_eq!(
            traceparent.split('-').nth(1),
            Some(TRACE_ID),
            "{} carries another trace: {traceparent}",
            m.subject
        );
        if m.subject.as_str() == "loyalty.ledger.points_accrued" {
            traced += 1;
        }
    }

    // The server span of the call is exported, in the caller's trace.
    assert!(ledger.terminate().await.unwrap().success());
    loop {
        let export = collector
            .next_export(Duration::from_secs(30))
            .await
            .expect("the call's span exported");
        if spans(&export).any(|s| {
            hex(&s.trace_id) == TRACE_ID && s.name == "loyalty.ledger.v1.LedgerService/Accrue"
        }) {
            break;
        }
    }
}
