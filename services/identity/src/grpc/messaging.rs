//! `loyalty.identity.v1.MessagingService`: templates and messages to
//! members, for operators and other services (never for members: a call
//! that carries a member token is refused).

use std::sync::Arc;

use loyalty_proto::identity::v1::{self as pb, messaging_service_server::MessagingService};
use tonic::{Request, Response, Status};

use super::no_member_token;
use crate::app::Identity;

/// The messaging service.
pub struct MessagingApi {
    identity: Arc<Identity>,
}

impl MessagingApi {
    /// Serves `identity`.
    pub fn new(identity: Arc<Identity>) -> Self {
        Self { identity }
    }
}

#[tonic::async_trait]
impl MessagingService for MessagingApi {
    async fn define_template(
        &self,
        r: Request<pb::DefineTemplateRequest>,
    ) -> Result<Response<pb::DefineTemplateResponse>, Status> {
        no_member_token(&r)?;
        let (template, placeholders) = super::convert::template(r.into_inner().template)?;
        let changed = self.identity.define_template(template).await?;
        Ok(Response::new(pb::DefineTemplateResponse {
            placeholders: placeholders.into_iter().collect(),
            changed,
        }))
    }

    async fn get_template(
        &self,
        r: Request<pb::GetTemplateRequest>,
    ) -> Result<Response<pb::GetTemplateResponse>, Status> {
        no_member_token(&r)?;
        let template = self.identity.template(&r.get_ref().template_id)?;
        Ok(Response::new(pb::GetTemplateResponse {
            template: Some(template.into()),
        }))
    }

    async fn send_message(
        &self,
        r: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        no_member_token(&r)?;
        let request = r
            .into_inner()
            .request
            .ok_or_else(|| crate::error::violation("request", "required"))?;
        let request = super::convert::message_request(request);
        let sent = self.identity.send_message(&request).await?;
        Ok(Response::new(pb::SendMessageResponse {
            sent: Some(crate::events::message_sent(&sent)),
        }))
    }
}
