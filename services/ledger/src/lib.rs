//! The ledger service: bonus-point and cash accounts per member and
//! currency, kept as event-sourced aggregates in the kit's event log.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod batch_file;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod expiry;
pub mod grpc;
pub mod members;
pub mod projections;

use std::sync::Arc;
use std::time::Duration;

use kit::aggregate::Repository;
use kit::bootstrap::Runtime;
use kit::projection::{ProjectionRunner, RebuildReport};
use loyalty_proto::ledger::v1::ledger_service_server::LedgerServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::batch::BatchApplier;
use crate::config::LedgerArgs;
use crate::domain::account::Account;
use crate::domain::catalog::Catalog;
use crate::expiry::ExpiryScheduler;
use crate::grpc::{Clock, LedgerApi};
use crate::members::MemberNoIsMemberId;
use crate::projections::expiry::ExpirySchedule;
use crate::projections::history::History;

/// Full name of the gRPC service, as health reports it.
pub const SERVICE_NAME: &str = "loyalty.ledger.v1.LedgerService";

/// Runs the ledger on the given listeners until `shutdown`.
pub async fn run(
    args: LedgerArgs,
    grpc: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
    clock: Clock,
) -> anyhow::Result<()> {
    let mut runtime = Runtime::open("ledger", args.service.clone(), shutdown)?;
    runtime.start_outbox(Arc::new(events::json_codec()))?;
    let repo = Arc::new(Repository::<Account>::new(Arc::clone(runtime.log())));
    let mut projections = ProjectionRunner::new(Arc::clone(runtime.log()));
    let schedule = projections.add(Arc::new(ExpirySchedule))?;
    let catalog = Arc::new(Catalog::default());
    let history = projections.add(Arc::new(History {
        catalog: Arc::clone(&catalog),
    }))?;
    projections.register_metrics(runtime.registry_mut());
    let token = runtime.tasks_token();
    runtime.spawn(projections.run(token.clone()));
    let scheduler = ExpiryScheduler::new(Arc::clone(&repo), schedule, Arc::clone(&clock));
    let interval = Duration::from_secs(args.expiry_interval_secs);
    runtime.spawn(scheduler.run(interval, token));
    let batch = Arc::new(BatchApplier::new(
        Arc::clone(&repo),
        Arc::clone(&catalog),
        Arc::new(MemberNoIsMemberId),
    ));
    let api = LedgerApi::new(repo, catalog, clock, history, batch);
    let routes = tonic::service::Routes::new(LedgerServiceServer::new(api));
    runtime.serve(grpc, metrics, routes, &[SERVICE_NAME]).await
}

/// Drops and rebuilds every projection of the ledger in `args`' data dir by
/// replaying the whole log (the service must be stopped). Each report says
/// how many rows differed from the projection it replaced (0: identical).
pub fn rebuild_projections(args: &LedgerArgs) -> anyhow::Result<Vec<RebuildReport>> {
    let log = kit::log::EventLog::open_with(args.service.log_dir(), args.service.log_options())?;
    let reports = vec![
        kit::projection::rebuild(&log, &ExpirySchedule)?,
        kit::projection::rebuild(
            &log,
            &History {
                catalog: Arc::new(Catalog::default()),
            },
        )?,
    ];
    log.close();
    Ok(reports)
}
