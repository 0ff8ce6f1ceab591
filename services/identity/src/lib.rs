//! The identity service: member registration by phone or by card (the
//! seed's registration steps), tokens, confirm codes, the card stock, member
//! profiles and linked identities, kept as event-sourced aggregates in the
//! kit's event log.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod cards_file;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod projections;
pub mod reconcile;
pub mod secrets;

use std::sync::Arc;

use kit::bootstrap::Runtime;
use loyalty_proto::identity::v1::{
    auth_service_server::AuthServiceServer, card_service_server::CardServiceServer,
    member_service_server::MemberServiceServer, messaging_service_server::MessagingServiceServer,
    registration_service_server::RegistrationServiceServer,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{Clock, Identity, Settings, Views};
use crate::config::IdentityArgs;
use crate::domain::questionnaire::Questionnaire;
use crate::grpc::members::MembersApi;
use crate::grpc::messaging::MessagingApi;
use crate::grpc::registration::RegistrationApi;
use crate::projections::{directory::Directory, stock::Stock};
use kit::service::{Projections, Spec};

/// Full names of the gRPC services, as health reports them.
pub const SERVICE_NAMES: &[&str] = &[
    "loyalty.identity.v1.RegistrationService",
    "loyalty.identity.v1.AuthService",
    "loyalty.identity.v1.CardService",
    "loyalty.identity.v1.MemberService",
    "loyalty.identity.v1.MessagingService",
];

/// Identity, declared once: its gRPC services and default addresses (the
/// README's port table).
pub const SPEC: Spec = Spec {
    name: "identity",
    grpc_services: SERVICE_NAMES,
    grpc_addr: "127.0.0.1:50051",
    metrics_addr: "127.0.0.1:9101",
};

/// Identity's projections, declared once: the service runs them, and
/// `rebuild-projections` and `verify` check the same list.
pub fn projections() -> Projections {
    Projections::new().with(Directory).with(Stock)
}

/// Builds the use-case settings from the flags (reads the questionnaire file).
pub fn settings(args: &IdentityArgs) -> anyhow::Result<Settings> {
    use anyhow::Context;
    let questionnaire = match &args.questionnaire {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the questionnaire {}", path.display()))?;
            serde_json::from_str::<Questionnaire>(&text).context("parsing the questionnaire")?
        }
        None => Questionnaire::default(),
    };
    Ok(Settings {
        policy: args.policy(questionnaire.has_required()),
        questionnaire,
        limits: args.limits(),
        token_ttl: chrono::Duration::seconds(args.token_ttl_secs as i64),
        refresh_ttl: chrono::Duration::seconds(args.refresh_token_ttl_secs as i64),
        code_ttl: chrono::Duration::seconds(args.code_ttl_secs as i64),
        virtual_range: args.virtual_range()?,
    })
}

/// Runs the identity service on the given listeners until `shutdown`.
pub async fn run(
    args: IdentityArgs,
    grpc: TcpListener,
    metrics: TcpListener,
    shutdown: CancellationToken,
    clock: Clock,
) -> anyhow::Result<()> {
    let settings = settings(&args)?;
    let secrets = secrets::Secrets::load_or_create(&args.secret_path())?;
    let local = notify::default_local_path(&args.service.data_dir);
    let notifier = Arc::new(notify::Notifier::from_args(&args.notify, &local)?);
    let mut runtime = Runtime::open(SPEC.name, args.service.clone(), shutdown)?;
    runtime.start_outbox(Arc::new(events::json_codec()))?;
    let started = projections().start(&mut runtime)?;
    let views = Views {
        directory: started.handle(projections::directory::NAME)?,
        stock: started.handle(projections::stock::NAME)?,
    };
    let identity = Arc::new(
        Identity::new(
            Arc::clone(runtime.log()),
            secrets,
            notifier,
            settings,
            clock,
        )
        .with_views(views),
    );
    if let Some(path) = &args.templates_file {
        define_templates(&identity, path).await?;
    }
    consumers::start(&mut runtime, Arc::clone(&identity));
    let token = runtime.tasks_token();
    let log = Arc::clone(runtime.log());
    runtime.spawn(reconcile::run(Arc::clone(&identity), log, token));
    let members = MembersApi::new(Arc::clone(&identity));
    // Every API is for other services (the gateway, purchases, operators'
    // tools): the kit checks each call's service token and method against
    // --caller-tokens-file; members' own tokens come on top.
    let registration = RegistrationApi::new(Arc::clone(&identity));
    let routes = tonic::service::Routes::new(RegistrationServiceServer::new(registration))
        .add_service(AuthServiceServer::new(members.clone()))
        .add_service(CardServiceServer::new(members.clone()))
        .add_service(MemberServiceServer::new(members))
        .add_service(MessagingServiceServer::new(MessagingApi::new(identity)));
    SPEC.serve(runtime, grpc, metrics, routes).await
}

/// Defines every template of a templates file (see `--templates-file`).
pub async fn define_templates(identity: &Identity, path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the templates file {}", path.display()))?;
    let templates: Vec<loyalty_proto::identity::v1::MessageTemplate> = serde_json::from_str(&text)
        .with_context(|| format!("parsing the templates file {}", path.display()))?;
    for t in templates {
        let id = t.template_id.clone();
        let failed =
            |e: error::ApiError| anyhow::anyhow!("template {id:?} in {}: {e}", path.display());
        let (template, _) = grpc::convert::template(Some(t)).map_err(failed)?;
        let changed = identity.define_template(template).await.map_err(failed)?;
        tracing::info!(template_id = %id, changed, "template defined from the templates file");
    }
    Ok(())
}
