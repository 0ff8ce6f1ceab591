//! A local stand-in for an OpenTelemetry collector: an OTLP/gRPC trace
//! receiver that hands every export to the test (no collector binary can be
//! had here; services export to it exactly as to a real one).

use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::mpsc;

/// Forwards every export to the test.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A running OTLP/gRPC trace receiver on a free loopback port.
pub struct OtlpCollector {
    addr: SocketAddr,
    exports: mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
}

impl OtlpCollector {
    /// Starts the receiver.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, exports) = mpsc::unbounded_channel();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Collector(tx)))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        Ok(Self { addr, exports })
    }

    /// The endpoint to give a service (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next export, waiting up to `timeout`.
    pub async fn next_export(
        &mut self,
        timeout: std::time::Duration,
    ) -> anyhow::Result<ExportTraceServiceRequest> {
        tokio::time::timeout(timeout, self.exports.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("collector stopped"))
    }
}

/// Every span of an export.
pub fn spans(export: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    export
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|s| &s.spans)
}

/// Lower-case hex of a trace or span id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
