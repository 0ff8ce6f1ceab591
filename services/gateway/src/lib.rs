//! The gateway: the platform's public HTTP/JSON API. Stateless: it holds no
//! business rule and no data of its own; every request is translated to a
//! gRPC call of identity, the ledger, purchases or certificates, and the
//! answer rendered in the seeds' envelope (see `docs/gateway.md`).
//!
//! Layout (the service template's edge only: no domain, no log):
//! `config.rs` (flags), `auth.rs` (members' bearer tokens, partner devices'
//! API keys), `upstream.rs` (the services' channels), `envelope.rs` and
//! `error.rs` (the answer format and the one status table), `amount.rs`
//! (exact JSON numbers), `soap.rs` (seed 003's SOAP), `http/` (routes,
//! OpenAPI, the request middleware).
#![forbid(unsafe_code)]

pub mod amount;
pub mod auth;
pub mod config;
pub mod device_token;
pub mod envelope;
pub mod error;
pub mod http;
pub mod limits;
pub mod proxies;
pub mod soap;
pub mod upstream;
pub mod when;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::GatewayArgs;

/// Serves the public API on `http` and `/metrics` on `metrics` until
/// `shutdown`; in-flight requests then finish.
pub async fn run(
    args: GatewayArgs,
    http: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut keys = auth::ApiKeys::load(args.api_keys_file.as_deref())?;
    if let Some(path) = &args.device_token_key_file {
        let ttl = chrono::Duration::seconds(args.device_token_ttl_secs as i64);
        keys = keys.with_device_tokens(device_token::DeviceTokens::load(path, ttl)?);
    }
    if keys.is_empty() {
        tracing::warn!(
            "no API keys (--api-keys-file): the processing and operator endpoints answer 401"
        );
    }
    let app = Arc::new(http::App {
        upstream: upstream::Upstream::new(&args)?,
        keys,
        limits: limits::Limits::new(limits::PER_ADDRESS_PER_MINUTE, limits::PER_LOGIN_PER_MINUTE),
        naive_offset: args.naive_offset(),
        proxies: proxies::TrustedProxies::parse(&args.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("--trusted-proxies: {e}"))?,
        draining: std::sync::atomic::AtomicBool::new(false),
    });
    let shrink = {
        let (app, stop) = (Arc::clone(&app), shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => app.limits.shrink(),
                    _ = stop.cancelled() => break,
                }
            }
        })
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let observer = Arc::new(http::observe::Observer::new(
        &mut registry,
        Duration::from_secs(args.request_timeout_secs),
        Duration::from_secs(args.upload_timeout_secs),
    ));
    let router = http::router(Arc::clone(&app), args.max_body_kib * 1024).layer(
        axum::middleware::from_fn_with_state(observer, http::observe::observe),
    );
    let metrics_app = kit::telemetry::metrics_router(Arc::new(registry));
    tracing::info!(
        http = %http.local_addr()?,
        metrics = %metrics.local_addr()?,
        "serving"
    );
    let metrics_stop = shutdown.clone();
    let metrics_task = tokio::spawn(async move {
        axum::serve(metrics, metrics_app)
            .with_graceful_shutdown(metrics_stop.cancelled_owned())
            .await
    });
    // On a stop signal: answer not-ready for --drain-secs while serving,
    // then close the listener and give in-flight requests at most the
    // request timeout.
    let close = CancellationToken::new();
    let drain = {
        let (app, stop, close) = (Arc::clone(&app), shutdown.clone(), close.clone());
        let drain = Duration::from_secs(args.drain_secs);
        tokio::spawn(async move {
            stop.cancelled().await;
            app.draining
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(drain_secs = drain.as_secs(), "stopping: draining");
            tokio::time::sleep(drain).await;
            close.cancel();
        })
    };
    let serve = axum::serve(
        http,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(close.clone().cancelled_owned());
    let grace = Duration::from_secs(args.request_timeout_secs);
    tokio::select! {
        served = serve => served?,
        () = async {
            close.cancelled().await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!("requests still running after the request timeout: stopped"),
    }
    drain.abort();
    metrics_task.await??;
    shrink.await?;
    Ok(())
}
