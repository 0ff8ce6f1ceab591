//! Tracing, OpenTelemetry export and W3C trace-context propagation.
//!
//! [`init`] installs a `tracing` subscriber (env-filter from `RUST_LOG`, text
//! or JSON lines on stderr) with an OpenTelemetry layer, so every span has a
//! trace id that travels in gRPC metadata and NATS headers. Spans are exported
//! over OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

/// Environment variable naming the OTLP/gRPC collector endpoint.
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Environment variable with the log filter (`tracing_subscriber` syntax).
pub const ENV_LOG_FILTER: &str = "RUST_LOG";

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the tracer provider alive; flushes spans on drop.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber for `service`. `otlp_endpoint` (normally
/// from [`ENV_OTLP_ENDPOINT`]) enables span export. Calling it twice in one
/// process keeps the first subscriber (tests).
pub fn init(
    service: &str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<TelemetryGuard> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = otlp_endpoint.filter(|e| !e.is_empty()) {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned()));
    let filter = EnvFilter::try_from_env(ENV_LOG_FILTER).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = match format {
        LogFormat::Text => tracing::subscriber::set_global_default(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            ),
        ),
        LogFormat::Json => tracing::subscriber::set_global_default(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            ),
        ),
    };
    match result {
        Ok(()) => install_log_bridge(),
        Err(error) => eprintln!("telemetry already initialised: {error}"),
    }
    Ok(TelemetryGuard { provider })
}

/// Forwards records of the `log` facade (sled, some dependencies) to
/// `tracing`, except sled's `debug` and `trace` records.
///
/// sled logs those from crossbeam-epoch's deferred functions, which run in a
/// thread's TLS destructors when the thread exits; by then the fmt layer's
/// thread-local buffer may be gone, and formatting the record panics inside a
/// TLS destructor, which aborts the process. With `RUST_LOG=trace` that made
/// a clean shutdown end in SIGABRT. sled's `info` and above still pass.
struct LogBridge {
    inner: tracing_log::LogTracer,
}

impl LogBridge {
    fn quiet(metadata: &::log::Metadata<'_>) -> bool {
        let target = metadata.target();
        metadata.level() > ::log::Level::Info && (target == "sled" || target.starts_with("sled::"))
    }
}

impl ::log::Log for LogBridge {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        !Self::quiet(metadata) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &::log::Record<'_>) {
        if !Self::quiet(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs [`LogBridge`] as the `log` facade's logger, at the subscriber's
/// most verbose level. A logger installed earlier (tests) stays.
fn install_log_bridge() {
    let bridge = LogBridge {
        inner: tracing_log::LogTracer::new(),
    };
    if ::log::set_boxed_logger(Box::new(bridge)).is_ok() {
        ::log::set_max_level(tracing_log::AsLog::as_log(
            &tracing::level_filters::LevelFilter::current(),
        ));
    }
}

/// Writes the current span's trace context into any carrier.
fn inject(carrier: &mut dyn Injector) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, carrier);
}

/// Reads a trace context from any carrier.
fn extract(carrier: &dyn Extractor) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(carrier)
}

/// The current span's W3C `traceparent`, when it has a valid trace id.
pub fn current_traceparent() -> Option<String> {
    let mut map = std::collections::HashMap::new();
    inject(&mut map);
    map.remove("traceparent")
}

/// Makes `span` a child of the given W3C `traceparent`. Call before the span
/// is entered.
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let mut map = std::collections::HashMap::new();
    map.insert("traceparent".to_owned(), traceparent.to_owned());
    let _ = span.set_parent(extract(&map));
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct MetadataExtractor<'a>(&'a tonic::metadata::MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Puts the current trace context into outgoing gRPC metadata.
pub fn inject_grpc(metadata: &mut tonic::metadata::MetadataMap) {
    inject(&mut MetadataInjector(metadata));
}

/// Makes `span` a child of the trace context in incoming gRPC metadata.
/// Call before the span is entered.
pub fn accept_grpc(span: &tracing::Span, metadata: &tonic::metadata::MetadataMap) {
    let _ = span.set_parent(extract(&MetadataExtractor(metadata)));
}

/// A tonic interceptor for clients: adds the current trace context to every call.
pub fn grpc_client_interceptor(
    mut request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    inject_grpc(request.metadata_mut());
    Ok(request)
}

struct NatsInjector<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// Puts the current trace context into NATS message headers.
pub fn inject_nats(headers: &mut async_nats::HeaderMap) {
    inject(&mut NatsInjector(headers));
}

/// Makes `span` a child of the trace context in NATS headers. Call before
/// the span is entered.
pub fn accept_nats(span: &tracing::Span, headers: &async_nats::HeaderMap) {
    let _ = span.set_parent(extract(&NatsExtractor(headers)));
}

/// A tower layer that runs every incoming gRPC call in a span of its own
/// (`grpc.server`, named after the method), a child of the caller's W3C
/// `traceparent` when the request carries one. Handlers then find that span
/// current, so [`current_traceparent`] — stored with every event they
/// append — names the caller's trace. The kit's bootstrap puts it in front
/// of every service.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTraceLayer;

impl<S> tower::Layer<S> for GrpcTraceLayer {
    type Service = GrpcTraced<S>;

    fn layer(&self, inner: S) -> GrpcTraced<S> {
        GrpcTraced { inner }
    }
}

/// The service [`GrpcTraceLayer`] wraps.
#[derive(Debug, Clone)]
pub struct GrpcTraced<S> {
    inner: S,
}

impl<S, B> tower::Service<tonic::codegen::http::Request<B>> for GrpcTraced<S>
where
    S: tower::Service<tonic::codegen::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        use tracing::Instrument;
        let path = request.uri().path();
        let method = path.trim_start_matches('/');
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %method,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %method,
        );
        if let Some(parent) = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
        {
            set_parent_from_traceparent(&span, parent);
        }
        let future = span.in_scope(|| self.inner.call(request));
        future.instrument(span)
    }
}

/// The `/metrics` endpoint (OpenMetrics text) over `registry`.
pub fn metrics_router(
    registry: std::sync::Arc<prometheus_client::registry::Registry>,
) -> axum::Router {
    use axum::response::IntoResponse as _;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = std::sync::Arc::clone(&registry);
            async move {
                let mut body = String::new();
                match prometheus_client::encoding::text::encode(&mut body, &registry) {
                    Ok(()) => (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response(),
                    Err(_) => (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "metrics encoding failed",
                    )
                        .into_response(),
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_travels_through_grpc_metadata_and_nats_headers() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
            let mut incoming = tonic::metadata::MetadataMap::new();
            incoming.insert("traceparent", parent.parse().unwrap());
            let span = tracing::info_span!("server");
            accept_grpc(&span, &incoming);
            let _g = span.enter();
            let tp = current_traceparent().expect("a traceparent");
            assert!(
                tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
                "{tp}"
            );

            let mut headers = async_nats::HeaderMap::new();
            inject_nats(&mut headers);
            assert_eq!(headers.get("traceparent").unwrap().as_str(), tp);
            let child = tracing::info_span!("consumer");
            accept_nats(&child, &headers);
            let _c = child.enter();
            assert!(
                current_traceparent()
                    .unwrap()
                    .contains("0af7651916cd43dd8448eb211c80319c")
            );
        });
    }
}
