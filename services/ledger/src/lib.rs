//! The ledger service: bonus-point and cash accounts per member and
//! currency, kept as event-sourced aggregates in the kit's event log.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;

use std::sync::Arc;

use kit::aggregate::Repository;
use kit::bootstrap::Runtime;
use loyalty_proto::ledger::v1::ledger_service_server::LedgerServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::LedgerArgs;
use crate::domain::account::Account;
use crate::domain::catalog::Catalog;
use crate::grpc::{Clock, LedgerApi};

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
    let api = LedgerApi::new(repo, Arc::new(Catalog::default()), clock);
    let routes = tonic::service::Routes::new(LedgerServiceServer::new(api));
    runtime.serve(grpc, metrics, routes, &[SERVICE_NAME]).await
}
