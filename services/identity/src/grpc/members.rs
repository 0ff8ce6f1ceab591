//! `AuthService`, `CardService` and `MemberService`: token checks, the card
//! stock and lookups, member profiles and linked identities.

use std::sync::Arc;

use futures::StreamExt;
use kit::aggregate::DomainEvent;
use kit::log::{ExpectedVersion, Metadata, NewEvent};
use loyalty_proto::identity::v1::{
    self as pb, auth_service_server::AuthService, card_service_server::CardService,
    member_service_server::MemberService,
};
use tonic::{Request, Response, Status};

use super::{bearer, full_session};
use crate::app::{Identity, member_stream};
use crate::domain::card::{CardCommand, Take, card_stream};
use crate::domain::member::{Command, Member};
use crate::domain::values::{CardNumber, Email, Pan, mask_tail};
use crate::error::{ApiError, violation};
use crate::events::Event;

/// Cards per LoadCards request.
pub const MAX_CARDS_PER_LOAD: u64 = 1_000_000;
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

    fn resolve(&self, member_no: &str) -> Result<Option<(String, bool)>, ApiError> {
        let no = member_no.trim();
        if no.is_empty() {
            return Ok(None);
        }
        if let Ok(card) = CardNumber::parse(no) {
            let (c, _) = self.identity.cards.load(&card_stream(card.as_str()))?;
            if let Some(m) = c.member_id {
                return Ok(Some((m, true)));
            }
        }
        if uuid::Uuid::parse_str(no).is_ok() && self.identity.member(no).is_ok() {
            return Ok(Some((no.to_owned(), false)));
        }
        Ok(None)
    }

    async fn stock(&self, numbers: Vec<CardNumber>) -> Result<u64, ApiError> {
        let identity = &self.identity;
        let mut results = futures::stream::iter(numbers)
            .map(|n| async move {
                let c = CardCommand::Stock {
                    number: n.as_str().to_owned(),
                };
                identity
                    .run(&identity.cards, &card_stream(n.as_str()), &c)
                    .await
            })
            .buffer_unordered(64);
        let mut loaded = 0;
        while let Some(r) = results.next().await {
            if let kit::aggregate::Executed::Applied { events, .. } = r? {
                loaded += events.len() as u64;
            }
        }
        Ok(loaded)
    }
}

type Answer<T> = Result<Response<T>, Status>;

fn ok<T>(t: T) -> Answer<T> {
    Ok(Response::new(t))
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
}

#[tonic::async_trait]
impl CardService for MembersApi {
    async fn load_cards(&self, r: Request<pb::LoadCardsRequest>) -> Answer<pb::LoadCardsResponse> {
        let r = r.into_inner();
        let (vfirst, vlast, vwidth) = self.identity.settings.virtual_range;
        let mut rejected = Vec::new();
        let mut numbers = Vec::new();
        let mut reject = |raw: &str, reason: &str| {
            rejected.push(pb::RejectedCard {
                card_number_masked: mask_tail(raw.trim()),
                reason: reason.to_owned(),
            })
        };
        let in_virtual =
            |c: &CardNumber| c.as_str().len() == vwidth && (vfirst..=vlast).contains(&c.value());
        for raw in &r.card_numbers {
            match CardNumber::parse(raw) {
                Ok(c) if in_virtual(&c) => reject(raw, "IN_VIRTUAL_RANGE"),
                Ok(c) => numbers.push(c),
                Err(e) => reject(raw, e.reason),
            }
        }
        for (i, range) in r.ranges.iter().enumerate() {
            let (first, last) = match (
                CardNumber::parse(&range.first),
                CardNumber::parse(&range.last),
            ) {
                (Ok(f), Ok(l)) if f.as_str().len() == l.as_str().len() && f <= l => (f, l),
                _ => {
                    return Err(violation(
                        &format!("ranges[{i}]"),
                        "first and last must be card numbers of one length, first <= last",
                    )
                    .into());
                }
            };
            let count = last.value() - first.value() + 1;
            if count + numbers.len() as u64 > MAX_CARDS_PER_LOAD {
                return Err(violation(
                    &format!("ranges[{i}]"),
                    format!("at most {MAX_CARDS_PER_LOAD} cards per request"),
                )
                .into());
            }
            let width = first.as_str().len();
            for v in first.value()..=last.value() {
                let c = CardNumber::from_value(v, width)
                    .map_err(|e| violation(&format!("ranges[{i}]"), e.description))?;
                if in_virtual(&c) {
                    reject(c.as_str(), "IN_VIRTUAL_RANGE");
                } else {
                    numbers.push(c);
                }
            }
        }
        let total = numbers.len() as u64;
        let loaded = self.stock(numbers).await?;
        if loaded > 0 {
            let e = Event::CardsLoaded(pb::CardsLoaded {
                loaded,
                loaded_at: Some((self.identity.clock)().into()),
            });
            let new = NewEvent {
                event_type: e.event_type().to_owned(),
                payload: e.encode(),
                metadata: Metadata::default(),
            };
            self.identity
                .members
                .log()
                .append("card-stock", ExpectedVersion::Any, vec![new])
                .await
                .map_err(|e| ApiError::Unexpected(e.into()))?;
        }
        tracing::info!(
            loaded,
            already_known = total - loaded,
            rejected = rejected.len(),
            "cards loaded"
        );
        ok(pb::LoadCardsResponse {
            loaded,
            already_known: total - loaded,
            rejected,
        })
    }

    async fn block_card(&self, r: Request<pb::BlockCardRequest>) -> Answer<pb::BlockCardResponse> {
        let r = r.into_inner();
        let card = CardNumber::parse(&r.card_number)
            .map_err(|e| violation("card_number", e.description))?;
        let stream = card_stream(card.as_str());
        let executed = self
            .identity
            .run(
                &self.identity.cards,
                &stream,
                &CardCommand::Block {
                    reason: r.reason.clone(),
                },
            )
            .await
            .map_err(ApiError::from)?;
        if matches!(&executed, kit::aggregate::Executed::Applied { events, .. } if !events.is_empty())
        {
            let (c, _) = self.identity.cards.load(&stream).map_err(ApiError::from)?;
            let e = Event::CardBlocked(pb::CardBlocked {
                card_masked: card.masked(),
                member_id: c.member_id.unwrap_or_default(),
                reason: r.reason,
                blocked_at: Some((self.identity.clock)().into()),
            });
            let new = NewEvent {
                event_type: e.event_type().to_owned(),
                payload: e.encode(),
                metadata: Metadata::default(),
            };
            self.identity
                .cards
                .log()
                .append("card-stock", ExpectedVersion::Any, vec![new])
                .await
                .map_err(|e| ApiError::Unexpected(e.into()))?;
        }
        ok(pb::BlockCardResponse {})
    }

    async fn lookup_card(
        &self,
        r: Request<pb::LookupCardRequest>,
    ) -> Answer<pb::LookupCardResponse> {
        let card = CardNumber::parse(&r.get_ref().card_number)
            .map_err(|e| violation("card_number", e.description))?;
        let (c, _) = self
            .identity
            .cards
            .load(&card_stream(card.as_str()))
            .map_err(ApiError::from)?;
        if c.number.is_empty() {
            return Err(ApiError::NotFound("card").into());
        }
        ok(pb::LookupCardResponse {
            state: c.state() as i32,
            kind: c.kind,
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
        match self.resolve(&r.get_ref().member_no)? {
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
            let found = self.resolve(no)?;
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
                    kind: *kind,
                    state: c.state() as i32,
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
        let c = Command::SetConsent(r.get_ref().mailing_consent, (self.identity.clock)());
        self.identity
            .run(&self.identity.members, &member_stream(&m.id), &c)
            .await
            .map_err(ApiError::from)?;
        ok(pb::SetConsentResponse {})
    }

    async fn link_social_account(
        &self,
        r: Request<pb::LinkSocialAccountRequest>,
    ) -> Answer<pb::LinkSocialAccountResponse> {
        let m = self.target(&r, &r.get_ref().member_id)?;
        let account = r.get_ref().account.clone().unwrap_or_default();
        let network = account.network.trim().to_ascii_lowercase();
        let user = account.external_user_id.trim().to_owned();
        if network.is_empty() || network.contains('/') || user.is_empty() || user.len() > 128 {
            return Err(violation(
                "account",
                "network and external_user_id are required (no '/')",
            )
            .into());
        }
        let take = Take {
            member_id: m.id.clone(),
            event: Event::SocialClaimed(pb::SocialClaimed {
                member_id: m.id.clone(),
            }),
        };
        self.identity
            .run(
                &self.identity.claims,
                &format!("social/{network}/{user}"),
                &take,
            )
            .await
            .map_err(|e| match e {
                kit::aggregate::RepositoryError::Domain(_) => ApiError::Taken("the social account"),
                other => other.into(),
            })?;
        let c = Command::LinkSocial {
            network,
            external_user_id: user,
            now: (self.identity.clock)(),
        };
        self.identity
            .run(&self.identity.members, &member_stream(&m.id), &c)
            .await
            .map_err(ApiError::from)?;
        ok(pb::LinkSocialAccountResponse {})
    }

    async fn find_by_social_account(
        &self,
        r: Request<pb::FindBySocialAccountRequest>,
    ) -> Answer<pb::FindBySocialAccountResponse> {
        let account = r.get_ref().account.clone().unwrap_or_default();
        let stream = format!(
            "social/{}/{}",
            account.network.trim().to_ascii_lowercase(),
            account.external_user_id.trim()
        );
        let (claim, _) = self.identity.claims.load(&stream).map_err(ApiError::from)?;
        let member_id = claim
            .member_id
            .ok_or(ApiError::NotFound("social account"))?;
        ok(pb::FindBySocialAccountResponse { member_id })
    }

    async fn bind_bank_card(
        &self,
        r: Request<pb::BindBankCardRequest>,
    ) -> Answer<pb::BindBankCardResponse> {
        let m = self.target(&r, &r.get_ref().member_id)?;
        let pan = Pan::parse(&r.get_ref().pan).map_err(|e| violation("pan", e.description))?;
        let mac = self.identity.secrets.pan_mac(pan.digits());
        let binding_id = self.identity.secrets.binding_id(&mac);
        let last4 = pan.last4();
        let take = Take {
            member_id: m.id.clone(),
            event: Event::BankCardClaimed(pb::BankCardClaimed {
                member_id: m.id.clone(),
                binding_id: binding_id.clone(),
                last4: last4.clone(),
            }),
        };
        self.identity
            .run(&self.identity.claims, &format!("bankcard/{mac}"), &take)
            .await
            .map_err(|e| match e {
                kit::aggregate::RepositoryError::Domain(_) => ApiError::Taken("the bank card"),
                other => other.into(),
            })?;
        self.identity
            .run(
                &self.identity.claims,
                &format!("binding/{binding_id}"),
                &Take {
                    member_id: m.id.clone(),
                    event: Event::BankCardClaimed(pb::BankCardClaimed {
                        member_id: m.id.clone(),
                        binding_id: binding_id.clone(),
                        last4: last4.clone(),
                    }),
                },
            )
            .await
            .map_err(ApiError::from)?;
        let c = Command::AddBankCard {
            binding_id: binding_id.clone(),
            last4: last4.clone(),
            now: (self.identity.clock)(),
        };
        self.identity
            .run(&self.identity.members, &member_stream(&m.id), &c)
            .await
            .map_err(ApiError::from)?;
        ok(pb::BindBankCardResponse {
            card: Some(pb::BankCard { binding_id, last4 }),
        })
    }

    async fn find_by_bank_card(
        &self,
        r: Request<pb::FindByBankCardRequest>,
    ) -> Answer<pb::FindByBankCardResponse> {
        use pb::find_by_bank_card_request::Key;
        let stream = match &r.get_ref().key {
            Some(Key::Pan(pan)) => {
                let pan = Pan::parse(pan).map_err(|e| violation("pan", e.description))?;
                format!("bankcard/{}", self.identity.secrets.pan_mac(pan.digits()))
            }
            Some(Key::BindingId(id)) if !id.is_empty() && !id.contains('/') => {
                format!("binding/{id}")
            }
            _ => return Err(violation("key", "a PAN or a binding id is required").into()),
        };
        let (claim, _) = self.identity.claims.load(&stream).map_err(ApiError::from)?;
        let member_id = claim.member_id.ok_or(ApiError::NotFound("bank card"))?;
        ok(pb::FindByBankCardResponse {
            member_id,
            card: Some(pb::BankCard {
                binding_id: claim.binding_id,
                last4: claim.last4,
            }),
        })
    }
}
