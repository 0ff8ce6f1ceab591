//! The purchases service: processing of purchases at the till and online
//! (the seed's Calculate, Available, Payment, Bonus, Confirm, Cancel,
//! Refund, Balance), the program's rules, card loads and the payment
//! gateway's PossibleLoyalty. Layout as `services/README.md` describes.
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

use kit::aggregate::Repository;
use kit::bootstrap::Runtime;
use kit::clock::Clock;
use kit::service::{Projections, Spec};
use loyalty_proto::purchases::v1::purchases_service_server::PurchasesServiceServer;
use loyalty_proto::purchases::v1::rules_service_server::RulesServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::queries::Queries;
use crate::app::rules::RulesBook;
use crate::app::steps::Steps;
use crate::app::sweep::Sweep;
use crate::config::PurchasesArgs;
use crate::domain::purchase::Purchase;
use crate::grpc::PurchasesApi;
use crate::grpc::rules::RulesApi;
use crate::upstream::{Upstream, Urls};

/// Full name of the gRPC service, as health reports it.
pub const SERVICE_NAME: &str = "loyalty.purchases.v1.PurchasesService";
/// Full name of the rules' gRPC service.
pub const RULES_SERVICE_NAME: &str = "loyalty.purchases.v1.RulesService";

/// The purchases service, declared once: its gRPC services and default
/// addresses (the README's port table).
pub const SPEC: Spec = Spec {
    name: "purchases",
    grpc_services: &[SERVICE_NAME, RULES_SERVICE_NAME],
    grpc_addr: "127.0.0.1:50053",
    metrics_addr: "127.0.0.1:9103",
};

/// The service's projections, declared once (run, `rebuild-projections`
/// and `verify` use the same list).
pub fn projections() -> Projections {
    Projections::new().with(projections::open::OpenPurchases)
}

/// Runs the purchases service on the given listeners until `shutdown`.
pub async fn run(
    args: PurchasesArgs,
    grpc: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
    clock: Clock,
) -> anyhow::Result<()> {
    let mut runtime = Runtime::open(SPEC.name, args.service.clone(), shutdown)?;
    let repo = Arc::new(Repository::<Purchase>::new(Arc::clone(runtime.log())));
    let urls = Urls {
        identity: &args.identity_url,
        ledger: &args.ledger_url,
        certificates: &args.certificates_url,
    };
    let upstream = Upstream::connect_lazy(&urls, args.service.service_token()?)?;
    let book = Arc::new(
        RulesBook::open(
            Arc::clone(runtime.log()),
            Arc::clone(&clock),
            args.rules_file.as_deref(),
        )
        .await?,
    );
    let rules = book.handle();
    runtime.start_outbox(Arc::new(events::json_codec()))?;
    let started = projections().start(&mut runtime)?;
    let open = started.handle(projections::open::NAME)?;
    let steps = Arc::new(
        Steps::new(
            repo,
            upstream.clone(),
            Arc::clone(&rules),
            Arc::clone(&clock),
            args.confirm_timeout_secs,
            args.ledger_ttl_secs(),
        )
        .with_refund_shortfall(args.refund_shortfall),
    );
    let sweep = Sweep::new(Arc::clone(&steps), open, clock, args.confirm_timeout_secs);
    let interval = Duration::from_secs(args.sweep_interval_secs);
    runtime.spawn(sweep.run(interval, runtime.tasks_token()));
    let api = PurchasesApi::new(steps, Queries::new(upstream, rules));
    let routes = tonic::service::Routes::new(PurchasesServiceServer::new(api))
        .add_service(RulesServiceServer::new(RulesApi::new(book)));
    SPEC.serve(runtime, grpc, metrics, routes).await
}
