//! The services the gateway translates to: one lazily connecting channel
//! each, and outgoing requests carrying the gateway's service token, the
//! trace context of the HTTP request, and the member's bearer token when
//! there is one.

use std::time::Duration;

use loyalty_proto::identity::v1::auth_service_client::AuthServiceClient;
use loyalty_proto::identity::v1::card_service_client::CardServiceClient;
use loyalty_proto::identity::v1::member_service_client::MemberServiceClient;
use loyalty_proto::identity::v1::registration_service_client::RegistrationServiceClient;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use loyalty_proto::purchases::v1::purchases_service_client::PurchasesServiceClient;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::config::GatewayArgs;
use crate::error::GatewayError;

/// Channels to the services, and the gateway's own token.
#[derive(Debug, Clone)]
pub struct Upstream {
    identity: Channel,
    ledger: Channel,
    purchases: Channel,
    /// Certificates: the admin and lookup routes.
    pub certificates: Channel,
    token: kit::auth::ServiceToken,
}

impl Upstream {
    /// Channels to the services named in `args` (connected on first use:
    /// the gateway starts while a service is down, and its calls then
    /// answer 503).
    pub fn new(args: &GatewayArgs) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(args.request_timeout_secs);
        Ok(Self {
            identity: kit::service::lazy_channel(&args.identity_url, timeout)?,
            ledger: kit::service::lazy_channel(&args.ledger_url, timeout)?,
            purchases: kit::service::lazy_channel(&args.purchases_url, timeout)?,
            certificates: kit::service::lazy_channel(&args.certificates_url, timeout)?,
            token: kit::auth::ServiceToken::load(args.service_token_file.as_deref())?,
        })
    }

    /// An outgoing request with the service token and trace context.
    pub fn request<T>(&self, message: T) -> Request<T> {
        self.token.request(message)
    }

    /// An outgoing request on behalf of the member holding `token`.
    pub fn as_member<T>(&self, token: &str, message: T) -> Result<Request<T>, GatewayError> {
        let mut request = self.request(message);
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| GatewayError::Unauthorized("the token is not printable ASCII"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }

    /// Identity's registration steps.
    pub fn registration(&self) -> RegistrationServiceClient<Channel> {
        RegistrationServiceClient::new(self.identity.clone())
    }

    /// Identity's token checks.
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.identity.clone())
    }

    /// Identity's cards.
    pub fn cards(&self) -> CardServiceClient<Channel> {
        CardServiceClient::new(self.identity.clone())
    }

    /// Identity's members.
    pub fn members(&self) -> MemberServiceClient<Channel> {
        MemberServiceClient::new(self.identity.clone())
    }

    /// The ledger.
    pub fn ledger(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::new(self.ledger.clone())
    }

    /// Purchases.
    pub fn purchases(&self) -> PurchasesServiceClient<Channel> {
        PurchasesServiceClient::new(self.purchases.clone())
    }

    /// The member a bearer token belongs to (identity checks it).
    pub async fn member_of(&self, token: &str) -> Result<String, GatewayError> {
        let request = self.request(loyalty_proto::identity::v1::AuthenticateRequest {
            token: token.to_owned(),
        });
        let answer = self.auth().authenticate(request).await?.into_inner();
        Ok(answer.member_id)
    }
}
