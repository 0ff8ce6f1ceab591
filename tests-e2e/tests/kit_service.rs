//! The service shape every service gets from the kit's bootstrap, checked on
//! the real `kit-probe` binary: gRPC health, reflection v1 and v1alpha,
//! Prometheus metrics, and a graceful SIGTERM that flushes the log.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::time::Duration;

use tests_e2e::harness::{ServiceProcess, ServiceSpec, binary_path, free_port, metrics, recv_line};
use tonic_reflection::pb::{v1, v1alpha};

async fn list_services_v1(addr: &str) -> Vec<String> {
    use v1::server_reflection_client::ServerReflectionClient;
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response.unwrap() {
        MessageResponse::ListServicesResponse(list) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

async fn list_services_v1alpha(addr: &str) -> Vec<String> {
    use v1alpha::server_reflection_client::ServerReflectionClient;
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response.unwrap() {
        MessageResponse::ListServicesResponse(list) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

async fn channel(addr: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(addr.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn tokio_stream_once<T: Send + 'static>(item: T) -> impl futures::Stream<Item = T> + Send {
    futures::stream::once(async move { item })
}

#[tokio::test]
async fn probe_serves_health_reflection_metrics_and_stops_gracefully() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let spec = ServiceSpec::new("kit-probe", binary_path("kit-probe"))
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &metrics_addr])
        .args(["--writers", "2", "--count", "50"])
        .grpc_port(grpc);
    let (mut probe, mut lines) = ServiceProcess::start_with_stdout_lines(spec).await.unwrap();
    while recv_line(&mut lines, Duration::from_secs(30))
        .await
        .unwrap()
        != "DONE"
    {}

    let addr = format!("http://127.0.0.1:{grpc}");
    for services in [
        list_services_v1(&addr).await,
        list_services_v1alpha(&addr).await,
    ] {
        for wanted in [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            assert!(
                services.iter().any(|s| s == wanted),
                "{wanted} missing in {services:?}"
            );
        }
        // Only what this process serves: the probe serves no platform API,
        // so none of the platform's services is advertised.
        assert!(
            !services.iter().any(|s| s.starts_with("loyalty.")),
            "services this process does not serve are listed: {services:?}"
        );
    }

    let body = metrics::scrape(&metrics_addr).await.unwrap();
    assert_eq!(
        metrics::value(&body, "loyalty_eventlog_head_position"),
        Some(100)
    );
    assert_eq!(
        metrics::value(&body, "loyalty_eventlog_events_total"),
        Some(100)
    );

    let status = probe.terminate().await.unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(probe.read_log().contains("event log flushed"));
    let log = kit::log::EventLog::open(data.path().join("eventlog")).unwrap();
    assert_eq!(log.verify().unwrap().events, 100);
}
