//! What wraps every request: a span continuing the caller's `traceparent`
//! (so the services' spans and events carry the same trace), the request
//! timeout, an access log line without secrets (method, route pattern,
//! status, time; never headers, bodies or query strings), and the request
//! metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

type Labels = Vec<(&'static str, String)>;

/// Request counters and latencies by route.
#[derive(Debug, Clone)]
pub struct Observer {
    requests: Family<Labels, Counter>,
    seconds: Family<Labels, Histogram>,
    timeout: Duration,
    long_timeout: Duration,
}

/// Routes that stream files (batches, certificate imports): they get the
/// long timeout.
fn is_long(route: &str) -> bool {
    route.contains("/Batch/") || route.contains("/Certificates/Import")
}

impl Observer {
    /// Registers the metrics in `registry`; requests time out after
    /// `timeout`, file uploads after `long_timeout`.
    pub fn new(registry: &mut Registry, timeout: Duration, long_timeout: Duration) -> Self {
        let requests = Family::<Labels, Counter>::default();
        let seconds = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "gateway_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "gateway_request_seconds",
            "HTTP request latency by route",
            seconds.clone(),
        );
        Self {
            requests,
            seconds,
            timeout,
            long_timeout,
        }
    }
}

/// The middleware.
pub async fn observe(
    State(observer): State<Arc<Observer>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    // Only standard methods become labels: arbitrary method names must not
    // grow the metrics without bound.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS") => m.to_owned(),
        _ => "other".to_owned(),
    };
    let span = tracing::info_span!("http", method = %method, route = %route);
    if let Some(tp) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        kit::telemetry::set_parent_from_traceparent(&span, tp);
    }
    let timeout = if is_long(&route) {
        observer.long_timeout
    } else {
        observer.timeout
    };
    let response =
        match tokio::time::timeout(timeout, next.run(request).instrument(span.clone())).await {
            Ok(r) => r,
            Err(_) => span.in_scope(|| {
                crate::error::fail(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!("no answer within {timeout:?}"),
                )
            }),
        };
    // axum's own 405 has no body: give it the envelope (keeping `Allow`).
    let response = if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        let allow = response.headers().get(axum::http::header::ALLOW).cloned();
        let mut r = axum::response::IntoResponse::into_response(
            crate::error::GatewayError::MethodNotAllowed,
        );
        if let Some(allow) = allow {
            r.headers_mut().insert(axum::http::header::ALLOW, allow);
        }
        r
    } else {
        response
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(status, millis = elapsed.as_secs_f64() * 1000.0, "request");
    });
    observer
        .requests
        .get_or_create(&vec![
            ("route", route.clone()),
            ("method", method),
            ("status", status.to_string()),
        ])
        .inc();
    observer
        .seconds
        .get_or_create(&vec![("route", route)])
        .observe(elapsed.as_secs_f64());
    response
}
