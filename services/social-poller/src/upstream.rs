//! The outbound edge: identity, for the member a social account is linked
//! to. The service token travels on every call.

use std::time::Duration;

use loyalty_proto::identity::v1 as identity;
use loyalty_proto::identity::v1::member_service_client::MemberServiceClient;
use tonic::transport::Channel;

use crate::domain::activity::Network;

/// How long one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// identity could not answer (retried later).
#[derive(Debug, Clone, thiserror::Error)]
#[error("identity: {0}")]
pub struct Unavailable(pub String);

/// identity's members.
#[derive(Clone)]
pub struct Identity {
    members: MemberServiceClient<Channel>,
    token: kit::auth::ServiceToken,
}

impl Identity {
    /// identity at `url`, connecting lazily.
    pub fn connect_lazy(url: &str, token: kit::auth::ServiceToken) -> anyhow::Result<Self> {
        Ok(Self {
            members: MemberServiceClient::new(kit::service::lazy_channel(url, CALL_TIMEOUT)?),
            token,
        })
    }

    /// The member the account `user` in `network` is linked to; `None`
    /// when it is linked to nobody.
    pub async fn member_of(
        &self,
        network: Network,
        user: &str,
    ) -> Result<Option<String>, Unavailable> {
        let answer = self
            .members
            .clone()
            .find_by_social_account(self.token.request(identity::FindBySocialAccountRequest {
                account: Some(identity::SocialAccount {
                    network: network.name().to_owned(),
                    external_user_id: user.to_owned(),
                }),
            }))
            .await;
        match answer {
            Ok(a) => {
                let member = a.into_inner().member_id;
                Ok((!member.is_empty()).then_some(member))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(Unavailable(format!("{:?}: {}", s.code(), s.message()))),
        }
    }
}
