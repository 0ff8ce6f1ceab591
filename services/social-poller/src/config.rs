//! The social poller's flags and environment.

use std::path::PathBuf;

use kit::bootstrap::{ConfigError, ServiceArgs};

/// Env: gRPC URL of identity (members by linked social account).
pub const ENV_IDENTITY_URL: &str = "SOCIAL_IDENTITY_URL";
/// Env: file of access tokens, one `name token` per line.
pub const ENV_SECRETS_FILE: &str = "SOCIAL_SECRETS_FILE";
/// Env: base URL of VK's API.
pub const ENV_VK_BASE_URL: &str = "SOCIAL_VK_BASE_URL";
/// Env: VK API version sent as `v`.
pub const ENV_VK_VERSION: &str = "SOCIAL_VK_API_VERSION";
/// Env: seconds one call to a network may take.
pub const ENV_HTTP_TIMEOUT: &str = "SOCIAL_HTTP_TIMEOUT_SECS";
/// Env: VK requests a second per access token.
pub const ENV_VK_RPS: &str = "SOCIAL_VK_REQUESTS_PER_SECOND";
/// Env: seconds a poll may read its network.
pub const ENV_POLL_DEADLINE: &str = "SOCIAL_POLL_DEADLINE_SECS";
/// Env: default seconds between polls of a group.
pub const ENV_POLL_INTERVAL: &str = "SOCIAL_POLL_INTERVAL_SECS";
/// Env: the fraction of the interval polls are spread by.
pub const ENV_POLL_JITTER: &str = "SOCIAL_POLL_JITTER";
/// Env: default number of recent posts a poll reads.
pub const ENV_RECENT_POSTS: &str = "SOCIAL_RECENT_POSTS";
/// Env: address of the VK Callback API receiver.
pub const ENV_CALLBACK_ADDR: &str = "SOCIAL_CALLBACK_ADDR";
/// Env: whether activity of unlinked users is kept and credited later.
pub const ENV_CREDIT_UNLINKED: &str = "SOCIAL_CREDIT_UNLINKED";

/// Command-line flags and environment of the social poller.
#[derive(Debug, Clone, clap::Args)]
pub struct SocialArgs {
    /// Shared service settings.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// gRPC URL of identity: activity is matched to members by their
    /// linked social accounts (FindBySocialAccount). Connected lazily.
    #[arg(long, env = ENV_IDENTITY_URL, default_value = "http://127.0.0.1:50051", global = true)]
    pub identity_url: String,
    /// File of the groups' access tokens, one `name token` per line (a
    /// group names its token by `credentials_ref`). Read at every poll;
    /// tokens are never logged nor put in events.
    #[arg(long, env = ENV_SECRETS_FILE, global = true)]
    pub secrets_file: Option<PathBuf>,
    /// Base URL of VK's API: https, or http to a loopback host only (a
    /// stand-in server in tests).
    #[arg(long, env = ENV_VK_BASE_URL, default_value = crate::connector::vk::DEFAULT_BASE_URL, global = true)]
    pub vk_base_url: String,
    /// VK API version, sent as `v`.
    #[arg(long, env = ENV_VK_VERSION, default_value = crate::connector::vk::DEFAULT_VERSION, global = true)]
    pub vk_api_version: String,
    /// VK requests a second per access token (VK allows 3; 1..=1000):
    /// calls wait their turn rather than meet error 6.
    #[arg(long, env = ENV_VK_RPS, default_value_t = crate::connector::vk::REQUESTS_PER_SECOND, global = true)]
    pub vk_requests_per_second: u32,
    /// Seconds one HTTP call to a network may take.
    #[arg(long, env = ENV_HTTP_TIMEOUT, default_value_t = 20, global = true)]
    pub http_timeout_secs: u64,
    /// Seconds a poll may read its network (60..=86400); past it the poll
    /// fails and is retried. Mind the pacing: a group of N members takes
    /// N / 1000 / rate seconds for its members alone.
    #[arg(long, env = ENV_POLL_DEADLINE, default_value_t = 1800, global = true)]
    pub poll_deadline_secs: u64,
    /// Seconds between polls of a group that names none (60..=86400).
    #[arg(long, env = ENV_POLL_INTERVAL, default_value_t = 900, global = true)]
    pub poll_interval_secs: u32,
    /// Polls are spread randomly by up to this fraction of their interval
    /// (0..=0.5), so many groups do not poll at once.
    #[arg(long, env = ENV_POLL_JITTER, default_value = "0.1", global = true)]
    pub poll_jitter: rust_decimal::Decimal,
    /// Recent posts a poll reads when the group names no number (1..=100).
    #[arg(long, env = ENV_RECENT_POSTS, default_value_t = 20, global = true)]
    pub recent_posts: u32,
    /// Address of the VK Callback API receiver (`POST /vk/callback`), for
    /// groups that push their events; unset: no receiver.
    #[arg(long, env = ENV_CALLBACK_ADDR, global = true)]
    pub callback_addr: Option<std::net::SocketAddr>,
    /// Keep the activity of users linked to no member, and credit it when
    /// they link the account (identity's SocialAccountLinked); false drops
    /// it.
    #[arg(long, env = ENV_CREDIT_UNLINKED, default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub credit_unlinked: bool,
}

impl SocialArgs {
    /// Checks the settings together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.service.validate()?;
        let invalid = |flag, reason: &str| {
            Err(ConfigError::Invalid {
                flag,
                reason: reason.to_owned(),
            })
        };
        if !(60..=86_400).contains(&self.poll_interval_secs) {
            return invalid("poll-interval-secs", "must be 60..=86400");
        }
        if !(rust_decimal::Decimal::ZERO..=crate::domain::schedule::MAX_JITTER)
            .contains(&self.poll_jitter)
        {
            return invalid("poll-jitter", "must be 0..=0.5");
        }
        if !(1..=100).contains(&self.recent_posts) {
            return invalid("recent-posts", "must be 1..=100");
        }
        if !(60..=86_400).contains(&self.poll_deadline_secs) {
            return invalid("poll-deadline-secs", "must be 60..=86400");
        }
        if !(1..=1000).contains(&self.vk_requests_per_second) {
            return invalid("vk-requests-per-second", "must be 1..=1000");
        }
        if !(1..=300).contains(&self.http_timeout_secs) {
            return invalid("http-timeout-secs", "must be 1..=300");
        }
        if let Err(e) = crate::connector::vk::check_base_url(&self.vk_base_url) {
            return invalid("vk-base-url", &e);
        }
        Ok(())
    }
}
