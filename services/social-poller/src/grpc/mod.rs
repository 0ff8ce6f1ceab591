//! The gRPC edge: requests checked into domain values (every broken rule
//! listed at once), the app called, answers rendered.

use std::sync::Arc;

use loyalty_proto::common::v1::Money;
use loyalty_proto::social::v1 as pb;
use loyalty_proto::social::v1::social_poller_service_server::SocialPollerService;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::app::groups::{GroupView, Groups, PollOutcome};
use crate::app::promotions::Promotions;
use crate::domain::activity::GroupKey;
use crate::error::ApiError;
use crate::events::wire;

/// Most activity one ListActivity answers.
pub const MAX_PAGE: u32 = 1000;
/// Default page of ListActivity.
pub const DEFAULT_PAGE: u32 = 100;
/// Longest member id accepted.
pub const MAX_MEMBER_ID: usize = 128;

/// The service's gRPC API.
pub struct SocialApi {
    groups: Arc<Groups>,
    promotions: Promotions,
    wake: Arc<Notify>,
    default_interval: u32,
    default_posts: u32,
}

impl SocialApi {
    /// The API over the app; `wake` tells the scheduler a group changed.
    pub fn new(
        groups: Arc<Groups>,
        promotions: Promotions,
        wake: Arc<Notify>,
        default_interval: u32,
        default_posts: u32,
    ) -> Self {
        Self {
            groups,
            promotions,
            wake,
            default_interval,
            default_posts,
        }
    }
}

fn key(network: i32, group_id: &str) -> Result<GroupKey, ApiError> {
    let mut faults = wire::Faults::new();
    match wire::group_key(network, group_id, &mut faults, "") {
        Some(k) if faults.is_empty() => Ok(k),
        _ => Err(ApiError::invalid(faults)),
    }
}

fn render_group(v: GroupView) -> pb::Group {
    let g = v.group;
    pb::Group {
        settings: g.settings.as_ref().map(wire::settings_to_wire),
        state: if g.disabled.is_some() {
            pb::GroupState::Disabled
        } else {
            pb::GroupState::Active
        } as i32,
        disabled_reason: g.disabled.unwrap_or_default(),
        polls: g.polls,
        last_polled_at: g.last_polled_at.and_then(wire::time_to_wire),
        members: g.members.len() as u64,
        last_error: v.last_error.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl SocialPollerService for SocialApi {
    async fn connect_group(
        &self,
        request: Request<pb::ConnectGroupRequest>,
    ) -> Result<Response<pb::ConnectGroupResponse>, Status> {
        let m = request.into_inner().settings.unwrap_or_default();
        let settings = wire::settings_from_wire(&m, self.default_interval, self.default_posts)
            .map_err(ApiError::invalid)?;
        let view = self.groups.connect(settings).await?;
        self.wake.notify_one();
        Ok(Response::new(pb::ConnectGroupResponse {
            group: Some(render_group(view)),
        }))
    }

    async fn get_group(
        &self,
        request: Request<pb::GetGroupRequest>,
    ) -> Result<Response<pb::GetGroupResponse>, Status> {
        let m = request.into_inner();
        let view = self.groups.get(&key(m.network, &m.group_id)?)?;
        Ok(Response::new(pb::GetGroupResponse {
            group: Some(render_group(view)),
        }))
    }

    async fn configure_promotion(
        &self,
        request: Request<pb::ConfigurePromotionRequest>,
    ) -> Result<Response<pb::ConfigurePromotionResponse>, Status> {
        let m = request.into_inner().promotion.unwrap_or_default();
        let promotion = wire::promotion_from_wire(&m).map_err(ApiError::invalid)?;
        self.promotions.configure(promotion).await?;
        Ok(Response::new(pb::ConfigurePromotionResponse {}))
    }

    async fn list_promotions(
        &self,
        _request: Request<pb::ListPromotionsRequest>,
    ) -> Result<Response<pb::ListPromotionsResponse>, Status> {
        let promotions = self.promotions.list()?;
        Ok(Response::new(pb::ListPromotionsResponse {
            promotions: promotions.iter().map(wire::promotion_to_wire).collect(),
        }))
    }

    async fn poll_now(
        &self,
        request: Request<pb::PollNowRequest>,
    ) -> Result<Response<pb::PollNowResponse>, Status> {
        let m = request.into_inner();
        let outcome = self.groups.poll(&key(m.network, &m.group_id)?).await?;
        let (outcome, detected, error) = match outcome {
            PollOutcome::Polled(n) => (pb::PollOutcome::Polled, n, String::new()),
            PollOutcome::RateLimited(e) | PollOutcome::DailyLimit(e) => {
                (pb::PollOutcome::RateLimited, 0, e)
            }
            PollOutcome::Disabled(e) => (pb::PollOutcome::Disabled, 0, e),
            PollOutcome::Failed(e) => (pb::PollOutcome::Failed, 0, e),
        };
        Ok(Response::new(pb::PollNowResponse {
            outcome: outcome as i32,
            detected,
            error,
        }))
    }

    async fn list_activity(
        &self,
        request: Request<pb::ListActivityRequest>,
    ) -> Result<Response<pb::ListActivityResponse>, Status> {
        let m = request.into_inner();
        let group = key(m.network, &m.group_id)?;
        if m.page_size > MAX_PAGE {
            return Err(ApiError::invalid(vec![(
                "page_size".into(),
                format!("must be at most {MAX_PAGE}"),
            )])
            .into());
        }
        let size = if m.page_size == 0 {
            DEFAULT_PAGE
        } else {
            m.page_size
        };
        let activity = self
            .groups
            .activity(&group, m.after_sequence, size as usize)
            .await?;
        Ok(Response::new(pb::ListActivityResponse {
            last_sequence: activity.last().map_or(m.after_sequence, |a| a.sequence()),
            activity: activity.iter().map(wire::activity_to_wire).collect(),
        }))
    }

    async fn get_counters(
        &self,
        request: Request<pb::GetCountersRequest>,
    ) -> Result<Response<pb::GetCountersResponse>, Status> {
        let m = request.into_inner();
        if m.member_id.is_empty()
            || m.member_id.len() > MAX_MEMBER_ID
            || m.member_id.chars().any(char::is_control)
        {
            return Err(ApiError::invalid(vec![(
                "member_id".into(),
                format!("1 to {MAX_MEMBER_ID} printable characters"),
            )])
            .into());
        }
        let currencies: std::collections::HashMap<String, String> = self
            .promotions
            .list()?
            .into_iter()
            .map(|p| (p.id, p.currency))
            .collect();
        let counters = self.promotions.counters(&m.member_id)?;
        Ok(Response::new(pb::GetCountersResponse {
            counters: counters
                .into_iter()
                .map(|((promotion_id, period), c)| pb::Counter {
                    granted: Some(Money {
                        amount: c.granted.to_string(),
                        currency: currencies.get(&promotion_id).cloned().unwrap_or_default(),
                    }),
                    promotion_id,
                    period,
                    count: c.count,
                })
                .collect(),
        }))
    }
}
