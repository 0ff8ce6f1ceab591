//! What the integration tests share: a stand-in VK API speaking VK's JSON
//! (paging, error objects), a stand-in identity answering
//! FindBySocialAccount over real gRPC, and the service itself on port 0.
#![allow(dead_code)] // each test binary uses part of it

pub mod identity;
pub mod points;
pub mod vk;

use std::path::Path;

use clap::Parser;
use kit::clock::ManualClock;
use kit::service::InProcess;
use loyalty_proto::social::v1 as pb;
use loyalty_proto::social::v1::social_poller_service_client::SocialPollerServiceClient;
use social_poller::domain::activity::{GroupKey, Network};
use social_poller::domain::group::Settings;
use tonic::transport::Channel;

/// The Callback API secret of group 42 (`vk-callback` in the secrets file).
pub const CALLBACK_SECRET: &str = "callback-secret-42";

/// The token the stand-in VK accepts; it must never leave the service.
pub const TOKEN: &str = "vk1.a.SECRET-token-never-logged";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: social_poller::config::SocialArgs,
}

/// The service on port 0 over `data`, reading VK at `vk_url` and identity
/// at `identity_url`, publishing to `nats` when given, on `clock`.
pub async fn start(
    data: &Path,
    vk_url: &str,
    identity_url: &str,
    nats: Option<&str>,
    clock: &ManualClock,
) -> InProcess {
    start_with(data, vk_url, identity_url, nats, clock, &[]).await
}

/// [`start`] with more flags.
pub async fn start_with(
    data: &Path,
    vk_url: &str,
    identity_url: &str,
    nats: Option<&str>,
    clock: &ManualClock,
    extra: &[&str],
) -> InProcess {
    let secrets = data.join("secrets");
    std::fs::write(
        &secrets,
        format!("# tokens\nvk-main {TOKEN}\nvk-callback {CALLBACK_SECRET}\n"),
    )
    .unwrap();
    let mut argv: Vec<String> = [
        "social-poller",
        "--data-dir",
        data.to_str().unwrap(),
        "--vk-base-url",
        vk_url,
        "--identity-url",
        identity_url,
        "--secrets-file",
        secrets.to_str().unwrap(),
        "--poll-interval-secs",
        "86400",
        // The stand-in takes any pace (the pacer has its own test).
        "--vk-requests-per-second",
        "1000",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(url) = nats {
        argv.extend(["--nats-url".to_owned(), url.to_owned()]);
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    let cli: Cli = social_poller::SPEC.parse_from(argv);
    cli.args.validate().unwrap();
    let clock = clock.clock();
    InProcess::start(&social_poller::SPEC, move |grpc, metrics, shutdown| {
        social_poller::run(cli.args, grpc, metrics, shutdown, clock)
    })
    .await
    .unwrap()
}

/// VK group 42 as the domain sees it: read with the token `vk-main`, polled
/// every 15 minutes, its 10 newest posts, no Callback API.
pub fn group_42() -> Settings {
    Settings {
        key: GroupKey {
            network: Network::Vk,
            group_id: "42".into(),
        },
        credentials_ref: "vk-main".into(),
        poll_interval_secs: 900,
        recent_posts: 10,
        reward_existing: false,
        callback_secret_ref: None,
        callback_confirmation: String::new(),
    }
}

/// A client of the service.
pub fn client(service: &InProcess) -> SocialPollerServiceClient<Channel> {
    SocialPollerServiceClient::new(service.channel.clone())
}

/// Connects VK group 42 with token `vk-main`, reading `posts` posts.
pub async fn connect(c: &mut SocialPollerServiceClient<Channel>, posts: u32) -> pb::Group {
    c.connect_group(pb::ConnectGroupRequest {
        settings: Some(pb::GroupSettings {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
            credentials_ref: "vk-main".into(),
            poll_interval_secs: 0,
            recent_posts: posts,
            reward_existing: false,
            ..Default::default()
        }),
    })
    .await
    .unwrap()
    .into_inner()
    .group
    .unwrap()
}

/// Polls group 42 now.
pub async fn poll(c: &mut SocialPollerServiceClient<Channel>) -> pb::PollNowResponse {
    c.poll_now(pb::PollNowRequest {
        network: pb::Network::Vk as i32,
        group_id: "42".into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Group 42.
pub async fn group(c: &mut SocialPollerServiceClient<Channel>) -> pb::Group {
    c.get_group(pb::GetGroupRequest {
        network: pb::Network::Vk as i32,
        group_id: "42".into(),
    })
    .await
    .unwrap()
    .into_inner()
    .group
    .unwrap()
}

/// An ACCRUE promotion on `kinds` with `tiers` (from_count, amount).
pub fn accrue(
    id: &str,
    kinds: &[pb::ActivityKind],
    tiers: &[(u32, &str)],
    cap: &str,
) -> pb::Promotion {
    pb::Promotion {
        promotion_id: id.into(),
        title: format!("{id} in VK"),
        condition: Some(pb::PromotionCondition {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
            kinds: kinds.iter().map(|k| *k as i32).collect(),
        }),
        action: pb::ActionKind::Accrue as i32,
        tiers: tiers
            .iter()
            .map(|(from_count, amount)| pb::Tier {
                from_count: *from_count,
                amount: (*amount).into(),
            })
            .collect(),
        period: pb::Period::Month as i32,
        max_points_per_period: cap.into(),
        ..Default::default()
    }
}

/// Defines `p`.
pub async fn configure(c: &mut SocialPollerServiceClient<Channel>, p: pb::Promotion) {
    c.configure_promotion(pb::ConfigurePromotionRequest { promotion: Some(p) })
        .await
        .unwrap();
}
