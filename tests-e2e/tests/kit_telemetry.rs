//! Tracing end to end: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a service
//! exports its spans over OTLP/gRPC (here to a local collector stand-in), and
//! the `traceparent` stored with each event belongs to the span that appended it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashSet;
use std::time::Duration;

use tests_e2e::harness::otlp::{OtlpCollector, hex};
use tests_e2e::harness::{ServiceProcess, ServiceSpec, binary_path, free_port, recv_line};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_and_events_carry_their_traceparent() {
    tests_e2e::harness::init_test_logging();
    let mut collector = OtlpCollector::start().await.unwrap();

    let data = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let spec = ServiceSpec::new("kit-probe", binary_path("kit-probe"))
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--writers", "1", "--count", "5"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .grpc_port(grpc);
    let (mut probe, mut lines) = ServiceProcess::start_with_stdout_lines(spec).await.unwrap();
    while recv_line(&mut lines, Duration::from_secs(30))
        .await
        .unwrap()
        != "DONE"
    {}
    // Shutdown flushes the span exporter.
    assert!(probe.terminate().await.unwrap().success());

    let mut trace_ids = HashSet::new();
    let mut service_names = HashSet::new();
    while trace_ids.len() < 5 {
        let export = collector
            .next_export(Duration::from_secs(30))
            .await
            .expect("spans exported within 30 s");
        for rs in export.resource_spans {
            for attr in rs.resource.iter().flat_map(|r| &r.attributes) {
                if attr.key == "service.name" {
                    service_names.insert(format!("{:?}", attr.value));
                }
            }
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                if span.name == "probe_append" {
                    trace_ids.insert(hex(&span.trace_id));
                }
            }
        }
    }
    assert!(
        service_names.iter().any(|n| n.contains("kit-probe")),
        "{service_names:?}"
    );

    let log = kit::log::EventLog::open(data.path().join("eventlog")).unwrap();
    let events: Vec<_> = log.iter_from(1).map(Result::unwrap).collect();
    assert_eq!(events.len(), 5);
    for e in events {
        let traceparent = e
            .metadata
            .traceparent
            .expect("traceparent stored with the event");
        let trace_id = traceparent.split('-').nth(1).unwrap().to_owned();
        assert!(
            trace_ids.contains(&trace_id),
            "{traceparent} not among exported spans"
        );
    }
}
