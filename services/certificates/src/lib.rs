//! The certificates service of the loyalty platform: gift (money)
//! certificates imported from CSV (seed `000`), with a per-line report in
//! the shape of seed `004`, found by any of their identifiers. Layout as
//! `services/README.md` describes.
//!
//! Certificate types, templates and issues (an issue's partner needs its
//! cash account in the ledger), the streaming import and its reports,
//! lookups by any identifier, payments in a purchase's two phases (holds
//! that lapse, captures, releases, refunds onto the certificate) and
//! expiry.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod projections;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use kit::bootstrap::Runtime;
use kit::clock::Clock;
use kit::service::{Projections, Spec};
use loyalty_proto::certificates::v1::certificates_service_server::CertificatesServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::catalog::Catalog;
use crate::app::expiry::Expiry;
use crate::app::import::Importer;
use crate::app::payments::Payments;
use crate::app::queries::Queries;
use crate::config::CertificatesArgs;
use crate::grpc::CertificatesApi;
use crate::upstream::Ledger;

/// Full name of the gRPC service, as health reports it.
pub const SERVICE_NAME: &str = "loyalty.certificates.v1.CertificatesService";

/// The certificates service, declared once: its gRPC services and default
/// addresses (the README's port table).
pub const SPEC: Spec = Spec {
    name: "certificates",
    grpc_services: &[SERVICE_NAME],
    grpc_addr: "127.0.0.1:50054",
    metrics_addr: "127.0.0.1:9104",
};

/// The service's projections, declared once (run, `rebuild-projections`
/// and `verify` use the same list). Certificates are found through their
/// identifiers' claims, not a projection.
pub fn projections() -> Projections {
    Projections::new().with(projections::expiring::Expiring)
}

/// Runs the certificates service on the given listeners until `shutdown`.
pub async fn run(
    args: CertificatesArgs,
    grpc: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
    clock: Clock,
) -> anyhow::Result<()> {
    let mut runtime = Runtime::open(SPEC.name, args.service.clone(), shutdown)?;
    runtime.start_outbox(Arc::new(events::json_codec()))?;
    let started = projections().start(&mut runtime)?;
    let log = Arc::clone(runtime.log());
    let expiring = started.handle(projections::expiring::NAME)?;
    let expiry = Expiry::new(Arc::clone(&log), expiring, Arc::clone(&clock));
    let interval = Duration::from_secs(args.expiry_interval_secs);
    runtime.spawn(expiry.run(interval, runtime.tasks_token()));
    let api = CertificatesApi::new(
        Importer::new(Arc::clone(&log)),
        Queries::new(Arc::clone(&log)),
        Catalog::new(Arc::clone(&log)).with_ledger(Ledger::connect_lazy(
            &args.ledger_url,
            args.service.service_token()?,
        )?),
        Payments::new(log, clock),
        args.max_upload_mb * 1024 * 1024,
        args.hold_ttl_secs,
    );
    let routes = tonic::service::Routes::new(CertificatesServiceServer::new(api));
    SPEC.serve(runtime, grpc, metrics, routes).await
}
