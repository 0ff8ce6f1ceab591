//! A stand-in identity: FindBySocialAccount from a table the test fills;
//! every other method is UNIMPLEMENTED.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use loyalty_proto::identity::v1 as pb;
use loyalty_proto::identity::v1::member_service_server::{MemberService, MemberServiceServer};
use tonic::{Request, Response, Status};

/// Linked accounts: (network, user) → member.
#[derive(Clone, Default)]
pub struct Links(Arc<Mutex<HashMap<(String, String), String>>>);

impl Links {
    /// Links `user` in VK to `member`.
    pub fn link(&self, user: &str, member: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(("vk".into(), user.into()), member.into());
    }
}

struct Stub(Links);

fn no<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the stand-in"))
}

#[tonic::async_trait]
impl MemberService for Stub {
    async fn resolve_member(
        &self,
        _: Request<pb::ResolveMemberRequest>,
    ) -> Result<Response<pb::ResolveMemberResponse>, Status> {
        no()
    }
    async fn resolve_members(
        &self,
        _: Request<pb::ResolveMembersRequest>,
    ) -> Result<Response<pb::ResolveMembersResponse>, Status> {
        no()
    }
    async fn get_member(
        &self,
        _: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        no()
    }
    async fn set_consent(
        &self,
        _: Request<pb::SetConsentRequest>,
    ) -> Result<Response<pb::SetConsentResponse>, Status> {
        no()
    }
    async fn link_social_account(
        &self,
        _: Request<pb::LinkSocialAccountRequest>,
    ) -> Result<Response<pb::LinkSocialAccountResponse>, Status> {
        no()
    }
    async fn find_by_social_account(
        &self,
        request: Request<pb::FindBySocialAccountRequest>,
    ) -> Result<Response<pb::FindBySocialAccountResponse>, Status> {
        let a = request.into_inner().account.unwrap_or_default();
        let member = self
            .0
            .0
            .lock()
            .unwrap()
            .get(&(a.network, a.external_user_id))
            .cloned();
        match member {
            Some(member_id) => Ok(Response::new(pb::FindBySocialAccountResponse { member_id })),
            None => Err(Status::not_found("no member has this account")),
        }
    }
    async fn bind_bank_card(
        &self,
        _: Request<pb::BindBankCardRequest>,
    ) -> Result<Response<pb::BindBankCardResponse>, Status> {
        no()
    }
    async fn find_by_bank_card(
        &self,
        _: Request<pb::FindByBankCardRequest>,
    ) -> Result<Response<pb::FindByBankCardResponse>, Status> {
        no()
    }
    async fn find_member(
        &self,
        _: Request<pb::FindMemberRequest>,
    ) -> Result<Response<pb::FindMemberResponse>, Status> {
        no()
    }
    async fn count_members(
        &self,
        _: Request<pb::CountMembersRequest>,
    ) -> Result<Response<pb::CountMembersResponse>, Status> {
        no()
    }
}

/// Serves the stand-in on port 0; its URL and its table.
pub async fn start() -> (String, Links) {
    let links = Links::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = MemberServiceServer::new(Stub(links.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (url, links)
}
