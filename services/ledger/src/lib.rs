//! The ledger service: bonus-point and cash accounts per member and
//! currency, kept as event-sourced aggregates in the kit's event log.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod batch_file;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod members;
pub mod projections;

use std::sync::Arc;
use std::time::Duration;

use kit::aggregate::Repository;
use kit::bootstrap::Runtime;
use kit::projection::RebuildReport;
use kit::service::{Projections, Spec};
use loyalty_proto::ledger::v1::catalog_service_server::CatalogServiceServer;
use loyalty_proto::ledger::v1::ledger_service_server::LedgerServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::batch::BatchApplier;
use crate::app::catalog::Catalogs;
use crate::app::expiry::ExpiryScheduler;
use crate::config::{LedgerArgs, MemberDirectoryKind};
use crate::consumers::Inbox;
use crate::domain::account::Account;
use crate::grpc::catalog::CatalogApi;
use crate::grpc::{Clock, LedgerApi};
use crate::members::{MemberDirectory, MemberNoIsMemberId};
use crate::projections::expiry::ExpirySchedule;
use crate::projections::history::History;

/// Full name of the gRPC service, as health reports it.
pub const SERVICE_NAME: &str = "loyalty.ledger.v1.LedgerService";
/// Full name of the catalog's gRPC service.
pub const CATALOG_SERVICE_NAME: &str = "loyalty.ledger.v1.CatalogService";

/// The ledger, declared once: its gRPC services and default addresses (the
/// README's port table).
pub const SPEC: Spec = Spec {
    name: "ledger",
    grpc_services: &[SERVICE_NAME, CATALOG_SERVICE_NAME],
    grpc_addr: "127.0.0.1:50052",
    metrics_addr: "127.0.0.1:9102",
};

/// The ledger's projections, declared once: the service runs them, and
/// `rebuild-projections` and `verify` check the same list.
pub fn projections() -> Projections {
    Projections::new().with(ExpirySchedule).with(History)
}

/// Runs the ledger on the given listeners until `shutdown`.
pub async fn run(
    args: LedgerArgs,
    grpc: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
    clock: Clock,
) -> anyhow::Result<()> {
    let mut runtime = Runtime::open(SPEC.name, args.service.clone(), shutdown)?;
    let repo = Arc::new(Repository::<Account>::new(Arc::clone(runtime.log())));
    let catalogs = Arc::new(
        Catalogs::open(
            Arc::clone(runtime.log()),
            Arc::clone(&clock),
            args.catalog_file.as_deref(),
        )
        .await?,
    );
    let catalog = catalogs.handle();
    // Settings that can fail are checked before any background task starts.
    let members = member_directory(&args)?;
    let inbox = Inbox::new(
        Arc::clone(&repo),
        Arc::clone(&catalog),
        Arc::clone(&clock),
        &args.open_currencies,
    )?;
    runtime.start_outbox(Arc::new(events::json_codec()))?;
    let started = projections().start(&mut runtime)?;
    let schedule = started.handle(projections::expiry::NAME)?;
    let history = started.handle(projections::history::NAME)?;
    let scheduler = ExpiryScheduler::new(Arc::clone(&repo), schedule, Arc::clone(&clock));
    let interval = Duration::from_secs(args.expiry_interval_secs);
    runtime.spawn(scheduler.run(interval, runtime.tasks_token()));
    consumers::start(&mut runtime, Arc::new(inbox));
    let batch = Arc::new(
        BatchApplier::new(Arc::clone(&repo), Arc::clone(&catalog), members)
            .with_clock(Arc::clone(&clock)),
    );
    let api = LedgerApi::new(repo, catalog, clock, history, batch).with_hold_ttl(args.hold_ttl());
    let routes = tonic::service::Routes::new(LedgerServiceServer::new(api))
        .add_service(CatalogServiceServer::new(CatalogApi::new(catalogs)));
    SPEC.serve(runtime, grpc, metrics, routes).await
}

/// The directory batch lines' `memberNo`s are resolved through, as
/// `--member-directory` says.
pub fn member_directory(args: &LedgerArgs) -> anyhow::Result<Arc<dyn MemberDirectory>> {
    Ok(match args.member_directory {
        MemberDirectoryKind::Identity => {
            tracing::info!(identity = %args.identity_url, "memberNo resolved by identity");
            Arc::new(members::identity_directory(
                &args.identity_url,
                args.member_cache_entries,
                args.service.service_token()?,
            )?)
        }
        MemberDirectoryKind::MemberId => Arc::new(MemberNoIsMemberId),
    })
}

/// `ledger verify`: the event log and every projection against a replay of
/// the log (see [`kit::bootstrap::verify_data_dir`]); false when inconsistent.
pub fn verify(args: &LedgerArgs) -> anyhow::Result<bool> {
    projections().verify(&args.service)
}

/// Drops and rebuilds every projection of the ledger in `args`' data dir by
/// replaying the whole log (the service must be stopped). Each report says
/// how many rows differed from the projection it replaced (0: identical).
pub fn rebuild_projections(args: &LedgerArgs) -> anyhow::Result<Vec<RebuildReport>> {
    projections().rebuild(&args.service)
}
