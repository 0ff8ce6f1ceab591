//! The ledger, as certificate issues need it: whether a partner (legal
//! entity) has its cash account, over gRPC with this service's token and
//! the caller's trace context.

use std::time::Duration;

use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tonic::transport::Channel;

/// The ledger owner of a partner's account.
pub fn partner_owner(partner_id: &str) -> String {
    format!("partner:{partner_id}")
}

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of the ledger.
#[derive(Clone)]
pub struct Ledger {
    client: LedgerServiceClient<Channel>,
    token: kit::auth::ServiceToken,
}

impl Ledger {
    /// The ledger at `url`, connected lazily (the service starts while the
    /// ledger is down; issues with a partner then fail with UNAVAILABLE).
    pub fn connect_lazy(url: &str, token: kit::auth::ServiceToken) -> anyhow::Result<Self> {
        let channel = kit::service::lazy_channel(url, CALL_TIMEOUT)?;
        Ok(Self {
            client: LedgerServiceClient::new(channel),
            token,
        })
    }

    /// Whether `partner_id` has an account in `currency`; the ledger's
    /// status when it refuses the question (an id or currency it does not
    /// take) or cannot answer.
    pub async fn partner_account(
        &self,
        partner_id: &str,
        currency: &str,
    ) -> Result<bool, tonic::Status> {
        let request = self.token.request(pb::GetBalanceRequest {
            member_id: partner_owner(partner_id),
            currency: currency.to_owned(),
        });
        let answer = self.client.clone().get_balance(request).await?;
        Ok(answer.into_inner().accounts.iter().any(|a| a.opened))
    }
}
