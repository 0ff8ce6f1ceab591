//! The social poller of the loyalty platform (seed `001`, "Социальные
//! сети"): the program's groups in social networks are polled on a
//! schedule; the diff of each poll against the group's snapshot (kept in
//! the event log) becomes activity — joins, leaves, likes, comments,
//! reposts and their removal —, matched to members through identity's
//! linked social accounts; promotions turn activity into counters, rewards
//! and penalties, published for the ledger. Layout as `services/README.md`
//! describes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod callback;
pub mod config;
pub mod connector;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod projections;
pub mod secrets;
pub mod upstream;

use std::sync::Arc;

use anyhow::Context as _;
use std::time::Duration;

use kit::bootstrap::Runtime;
use kit::clock::Clock;
use kit::service::{Projections, Spec};
use loyalty_proto::social::v1::social_poller_service_server::SocialPollerServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::groups::Groups;
use crate::app::promotions::Promotions;
use crate::app::rewarder::Rewarder;
use crate::app::scheduler::Scheduler;
use crate::config::SocialArgs;
use crate::connector::vk::Vk;
use crate::grpc::SocialApi;
use crate::secrets::Secrets;
use crate::upstream::Identity;

/// Full name of the gRPC service, as health reports it.
pub const SERVICE_NAME: &str = "loyalty.social.v1.SocialPollerService";

/// The second token of the service's NATS subjects
/// (`loyalty.social.<event>`) and its `ce-source` (`/loyalty/social`): the
/// ledger consumes `loyalty.social.social_reward_granted`.
pub const EVENT_SOURCE: &str = "social";

/// The social poller, declared once: its gRPC service and default
/// addresses (the README's port table).
pub const SPEC: Spec = Spec {
    name: "social-poller",
    grpc_services: &[SERVICE_NAME],
    grpc_addr: "127.0.0.1:50055",
    metrics_addr: "127.0.0.1:9105",
};

/// The service's projections, declared once.
pub fn projections() -> Projections {
    Projections::new()
        .with(projections::groups::Groups)
        .with(projections::activity::ActivityIndex)
        .with(projections::settings::GroupSettings)
}

/// Runs the social poller on the given listeners until `shutdown`.
pub async fn run(
    args: SocialArgs,
    grpc: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
    clock: Clock,
) -> anyhow::Result<()> {
    let mut runtime = Runtime::open(EVENT_SOURCE, args.service.clone(), shutdown)?;
    runtime.start_outbox(Arc::new(events::json_codec()))?;
    let started = projections().start(&mut runtime)?;
    let log = Arc::clone(runtime.log());
    let vk = Vk::new(
        &args.vk_base_url,
        &args.vk_api_version,
        Duration::from_secs(args.http_timeout_secs),
    )?
    .with_pacing(args.vk_requests_per_second);
    let groups = Arc::new(
        Groups::new(
            Arc::clone(&log),
            Arc::new(vk),
            Secrets::new(args.secrets_file.clone()),
            Arc::clone(&clock),
        )
        .with_activity_index(started.handle(projections::activity::NAME)?)
        .with_poll_deadline(Duration::from_secs(args.poll_deadline_secs)),
    );
    let identity = Identity::connect_lazy(&args.identity_url, args.service.service_token()?)?;
    let rewarder = Rewarder::new(Arc::clone(&log), identity, args.credit_unlinked)?;
    runtime.spawn(rewarder.run(runtime.tasks_token()));
    let scheduler = Scheduler::new(
        Arc::clone(&groups),
        app::scheduler::listed(started.handle(projections::groups::NAME)?),
        args.poll_jitter,
        Arc::clone(&clock),
    );
    let wake = Arc::clone(&scheduler.wake);
    if let Some(addr) = args.callback_addr {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding --callback-addr {addr}"))?;
        let app = callback::router(
            Arc::clone(&groups),
            callback::settings_from(
                started.handle(projections::settings::NAME)?,
                Arc::clone(&log),
            ),
        );
        let stop = runtime.tasks_token();
        runtime.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the Callback API receiver failed");
            }
        });
    }
    runtime.spawn(scheduler.run(runtime.tasks_token()));
    let linked = Arc::new(consumers::Linked::new(Arc::clone(&log), Arc::clone(&clock)));
    kit::service::consume(&mut runtime, consumers::LINKED, move |inbound| {
        let linked = Arc::clone(&linked);
        async move { linked.handle(inbound).await }
    });
    let api = SocialApi::new(
        groups,
        Promotions::new(log, clock),
        wake,
        args.poll_interval_secs,
        args.recent_posts,
    );
    let routes = tonic::service::Routes::new(SocialPollerServiceServer::new(api));
    SPEC.serve(runtime, grpc, metrics, routes).await
}
