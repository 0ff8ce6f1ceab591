//! Rendering the use cases' answers (domain and app values) as the
//! `loyalty.identity.v1` messages the edge returns.

use loyalty_proto::identity::v1 as pb;

use crate::app::{
    BankCard, BeginState, Begun, CardCounts, CardStock, LoadedCards, MemberCounts, RejectedCard,
    TokenPair,
};

impl From<MemberCounts> for pb::CountMembersResponse {
    fn from(c: MemberCounts) -> Self {
        pb::CountMembersResponse {
            registering: c.registering,
            registered: c.registered,
        }
    }
}

impl From<CardCounts> for pb::CardCounts {
    fn from(c: CardCounts) -> Self {
        pb::CardCounts {
            in_stock: c.in_stock,
            bound: c.bound,
            blocked: c.blocked,
        }
    }
}

impl From<CardStock> for pb::GetCardStockResponse {
    fn from(s: CardStock) -> Self {
        pb::GetCardStockResponse {
            physical: Some(s.physical.into()),
            r#virtual: Some(s.r#virtual.into()),
        }
    }
}

impl From<BankCard> for pb::BankCard {
    fn from(c: BankCard) -> Self {
        pb::BankCard {
            binding_id: c.binding_id,
            last4: c.last4,
        }
    }
}

impl From<RejectedCard> for pb::RejectedCard {
    fn from(c: RejectedCard) -> Self {
        pb::RejectedCard {
            card_number_masked: c.card_number_masked,
            reason: c.reason,
        }
    }
}

impl From<LoadedCards> for pb::LoadCardsResponse {
    fn from(l: LoadedCards) -> Self {
        pb::LoadCardsResponse {
            loaded: l.loaded,
            already_known: l.already_known,
            rejected: l.rejected.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<BeginState> for pb::BeginRegistrationState {
    fn from(s: BeginState) -> Self {
        match s {
            BeginState::Success => pb::BeginRegistrationState::Success,
            BeginState::PasswordRequired => pb::BeginRegistrationState::PasswordRequired,
        }
    }
}

impl From<TokenPair> for pb::RefreshTokenResponse {
    fn from(p: TokenPair) -> Self {
        pb::RefreshTokenResponse {
            auth_token: p.token,
            auth_token_expires_at: Some(p.expires_at.into()),
            refresh_token: p.refresh,
            refresh_token_expires_at: Some(p.refresh_expires_at.into()),
            member_id: p.member_id,
        }
    }
}

impl From<Begun> for pb::BeginRegistrationResponse {
    fn from(b: Begun) -> Self {
        pb::BeginRegistrationResponse {
            state: pb::BeginRegistrationState::from(b.state) as i32,
            error_message: b.error_message,
            auth_token: b.auth_token,
            member_id: b.member_id,
            registration_completed: b.registration_completed,
            refresh_token: b.refresh_token,
            auth_token_expires_at: b.expires_at.map(Into::into),
        }
    }
}
