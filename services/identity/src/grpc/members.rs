//! `AuthService`, `CardService` and `MemberService`: token checks, the card
//! stock and lookups, member profiles and linked identities.

use std::sync::Arc;

use loyalty_proto::identity::v1::{
    self as pb, auth_service_server::AuthService, card_service_server::CardService,
    member_service_server::MemberService,
};
use tonic::Request;

use super::{Answer, bearer, full_session, no_member_token, ok};
use crate::app::{BankCardKey, Identity};
use crate::domain::card::card_stream;
use crate::domain::member::Member;
use crate::domain::model::Channel;
use crate::domain::values::{Email, mask_tail};
use crate::error::{ApiError, violation};

/// memberNos per ResolveMembers request.
pub const MAX_RESOLVE: usize = 10_000;

/// The auth, card and member services.
#[derive(Clone)]
pub struct MembersApi {
    identity: Arc<Identity>,
}

impl MembersApi {
    /// Serves `identity`.
    pub fn new(identity: Arc<Identity>) -> Self {
        Self { identity }
    }

    /// The member a request may act on: with a token, only its own member.
    fn target<T>(&self, r: &Request<T>, member_id: &str) -> Result<Member, ApiError> {
        if bearer(r).is_some() {
            let s = full_session(&self.identity, r)?;
            if !member_id.is_empty() && member_id != s.member_id {
                return Err(ApiError::Forbidden);
            }
            return Ok(s.member);
        }
        if member_id.is_empty() {
            return Err(violation("member_id", "required without a member token"));
        }
        self.identity.member(member_id)
    }
}

#[tonic::async_trait]
impl AuthService for MembersApi {
    async fn authenticate(
        &self,
        r: Request<pb::AuthenticateRequest>,
    ) -> Answer<pb::AuthenticateResponse> {
        let s = self.identity.authenticate(&r.get_ref().token)?;
        if s.limited {
            // A phone-reconfirmation token is no session for other services.
            return Err(ApiError::Unauthenticated("confirm the phone number first").into());
        }
        ok(pb::AuthenticateResponse {
            member_id: s.member_id,
            state: if s.member.registered {
                pb::MemberState::Registered
            } else {
                pb::MemberState::Registering
            } as i32,
            expires_at: Some(s.expires_at.into()),
        })
    }

    async fn revoke_token(
        &self,
        r: Request<pb::RevokeTokenRequest>,
    ) -> Answer<pb::RevokeTokenResponse> {
        self.identity.revoke(&r.get_ref().token).await?;
        ok(pb::RevokeTokenResponse {})
    }

    async fn refresh_token(
        &self,
        r: Request<pb::RefreshTokenRequest>,
    ) -> Answer<pb::RefreshTokenResponse> {
        no_member_token(&r)?;
        ok(self
            .identity
            .refresh(&r.get_ref().refresh_token)
            .await?
            .into())
    }
}

#[tonic::async_trait]
impl CardService for MembersApi {
    async fn load_cards(&self, r: Request<pb::LoadCardsRequest>) -> Answer<pb::LoadCardsResponse> {
        let load = r.into_inner().into();
        ok(self.identity.load_cards(&load).await?.into())
    }

    async fn block_card(&self, r: Request<pb::BlockCardRequest>) -> Answer<pb::BlockCardResponse> {
        let r = r.get_ref();
        self.identity.block_card(&r.card_number, &r.reason).await?;
        ok(pb::BlockCardResponse {})
    }

    async fn get_card_stock(
        &self,
        r: Request<pb::GetCardStockRequest>,
    ) -> Answer<pb::GetCardStockResponse> {
        no_member_token(&r)?;
        ok(self.identity.card_stock().await?.into())
    }

    async fn lookup_card(
        &self,
        r: Request<pb::LookupCardRequest>,
    ) -> Answer<pb::LookupCardResponse> {
        let c = self.identity.lookup_card(&r.get_ref().card_number)?;
        ok(pb::LookupCardResponse {
            state: pb::CardState::from(c.state()) as i32,
            kind: pb::CardKind::from(c.kind) as i32,
            member_id: c.member_id.unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl MemberService for MembersApi {
    async fn resolve_member(
        &self,
        r: Request<pb::ResolveMemberRequest>,
    ) -> Answer<pb::ResolveMemberResponse> {
        match self.identity.resolve(&r.get_ref().member_no)? {
            Some((member_id, by_card)) => ok(pb::ResolveMemberResponse { member_id, by_card }),
            None => Err(ApiError::NotFound("member").into()),
        }
    }

    async fn resolve_members(
        &self,
        r: Request<pb::ResolveMembersRequest>,
    ) -> Answer<pb::ResolveMembersResponse> {
        let nos = &r.get_ref().member_nos;
        if nos.len() > MAX_RESOLVE {
            return Err(
                violation("member_nos", format!("at most {MAX_RESOLVE} per request")).into(),
            );
        }
        let mut members = Vec::with_capacity(nos.len());
        for no in nos {
            let found = self.identity.resolve(no)?;
            members.push(pb::ResolvedMember {
                member_no: no.clone(),
                found: found.is_some(),
                member_id: found.map(|(m, _)| m).unwrap_or_default(),
            });
        }
        ok(pb::ResolveMembersResponse { members })
    }

    async fn get_member(&self, r: Request<pb::GetMemberRequest>) -> Answer<pb::GetMemberResponse> {
        let m = self.target(&r, &r.get_ref().member_id)?;
        let cards = m
            .cards
            .iter()
            .map(|(number, kind)| {
                let (c, _) = self
                    .identity
                    .cards
                    .load(&card_stream(number))
                    .map_err(ApiError::from)?;
                Ok(pb::MemberCard {
                    card_number: number.clone(),
                    kind: pb::CardKind::from(*kind) as i32,
                    state: pb::CardState::from(c.state()) as i32,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        ok(pb::GetMemberResponse {
            member_id: m.id.clone(),
            state: if m.registered {
                pb::MemberState::Registered
            } else {
                pb::MemberState::Registering
            } as i32,
            phone_masked: m
                .phone
                .confirmed
                .as_deref()
                .map(mask_tail)
                .unwrap_or_default(),
            email_masked: m
                .email
                .confirmed
                .as_deref()
                .and_then(|e| Email::parse(e).ok())
                .map(|e| e.masked())
                .unwrap_or_default(),
            cards,
            mailing_consent: m.consent,
            social_accounts: m
                .social
                .iter()
                .map(|(network, external_user_id)| pb::SocialAccount {
                    network: network.clone(),
                    external_user_id: external_user_id.clone(),
                })
                .collect(),
            bank_cards: m
                .bank_cards
                .iter()
                .map(|(binding_id, last4)| pb::BankCard {
                    binding_id: binding_id.clone(),
                    last4: last4.clone(),
                })
                .collect(),
            profile: m.profile.clone().into_iter().collect(),
        })
    }

    async fn set_consent(
        &self,
        r: Request<pb::SetConsentRequest>,
    ) -> Answer<pb::SetConsentResponse> {
        let m = self.target(&r, &r.get_ref().member_id)?;
        self.identity
            .set_consent(&m.id, r.get_ref().mailing_consent)
            .await?;
        ok(pb::SetConsentResponse {})
    }

    async fn link_social_account(
        &self,
        r: Request<pb::LinkSocialAccountRequest>,
    ) -> Answer<pb::LinkSocialAccountResponse> {
        let m = self.target(&r, &r.get_ref().member_id)?;
        let account = r.get_ref().account.clone().unwrap_or_default();
        self.identity
            .link_social(&m.id, &account.network, &account.external_user_id)
            .await?;
        ok(pb::LinkSocialAccountResponse {})
    }

    async fn find_by_social_account(
        &self,
        r: Request<pb::FindBySocialAccountRequest>,
    ) -> Answer<pb::FindBySocialAccountResponse> {
        let account = r.get_ref().account.clone().unwrap_or_default();
        let member_id = self
            .identity
            .find_by_social(&account.network, &account.external_user_id)?;
        ok(pb::FindBySocialAccountResponse { member_id })
    }

    async fn bind_bank_card(
        &self,
        r: Request<pb::BindBankCardRequest>,
    ) -> Answer<pb::BindBankCardResponse> {
        let m = self.target(&r, &r.get_ref().member_id)?;
        let card = self
            .identity
            .bind_bank_card(&m.id, &r.get_ref().pan)
            .await?;
        ok(pb::BindBankCardResponse {
            card: Some(card.into()),
        })
    }

    async fn find_by_bank_card(
        &self,
        r: Request<pb::FindByBankCardRequest>,
    ) -> Answer<pb::FindByBankCardResponse> {
        use pb::find_by_bank_card_request::Key;
        let key = match &r.get_ref().key {
            Some(Key::Pan(pan)) => BankCardKey::Pan(pan.clone()),
            Some(Key::BindingId(id)) => BankCardKey::BindingId(id.clone()),
            None => return Err(violation("key", "a PAN or a binding id is required").into()),
        };
        let (member_id, card) = self.identity.find_by_bank_card(&key)?;
        ok(pb::FindByBankCardResponse {
            member_id,
            card: Some(card.into()),
        })
    }

    async fn find_member(
        &self,
        r: Request<pb::FindMemberRequest>,
    ) -> Answer<pb::FindMemberResponse> {
        use pb::find_member_request::Key;
        no_member_token(&r)?;
        let (channel, value) = match &r.get_ref().key {
            Some(Key::Phone(phone)) => (Channel::Sms, phone),
            Some(Key::Email(email)) => (Channel::Email, email),
            None => return Err(violation("key", "a phone or an e-mail is required").into()),
        };
        let member_id = self.identity.find_member(channel, value).await?;
        ok(pb::FindMemberResponse { member_id })
    }

    async fn count_members(
        &self,
        r: Request<pb::CountMembersRequest>,
    ) -> Answer<pb::CountMembersResponse> {
        no_member_token(&r)?;
        ok(self.identity.count_members().await?.into())
    }
}
