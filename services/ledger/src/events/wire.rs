//! The domain's vocabulary ⇄ its messages: operation kinds, reward and
//! withdraw types, and the operation context. Used by the stored events and
//! by the gRPC edge, so both convert the same way.

use chrono::{DateTime, Utc};
use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;

use crate::domain::model::{Context, GivenMoney, Kind, RewardType, WithdrawType};

impl From<Kind> for pb::OperationKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Regular => pb::OperationKind::Regular,
            Kind::Manual => pb::OperationKind::Manual,
            Kind::Social => pb::OperationKind::Social,
            Kind::Charging => pb::OperationKind::Charging,
        }
    }
}

impl From<RewardType> for pb::RewardType {
    fn from(t: RewardType) -> Self {
        match t {
            RewardType::Bonus => pb::RewardType::Bonus,
            RewardType::Discount => pb::RewardType::Discount,
            RewardType::Gift => pb::RewardType::Gift,
            RewardType::Charging => pb::RewardType::Charging,
        }
    }
}

impl From<WithdrawType> for pb::WithdrawType {
    fn from(t: WithdrawType) -> Self {
        match t {
            WithdrawType::Bonus => pb::WithdrawType::Bonus,
            WithdrawType::GiftCard => pb::WithdrawType::GiftCard,
            WithdrawType::Withdraw => pb::WithdrawType::Withdraw,
        }
    }
}

/// The kind of a message value; unset is REGULAR; `None` outside the enum.
pub fn kind(value: i32) -> Option<Kind> {
    Some(match pb::OperationKind::try_from(value).ok()? {
        pb::OperationKind::Unspecified | pb::OperationKind::Regular => Kind::Regular,
        pb::OperationKind::Manual => Kind::Manual,
        pb::OperationKind::Social => Kind::Social,
        pb::OperationKind::Charging => Kind::Charging,
    })
}

/// The reward type of a message value; unset is BONUS; `None` outside the enum.
pub fn reward_type(value: i32) -> Option<RewardType> {
    Some(match pb::RewardType::try_from(value).ok()? {
        pb::RewardType::Unspecified | pb::RewardType::Bonus => RewardType::Bonus,
        pb::RewardType::Discount => RewardType::Discount,
        pb::RewardType::Gift => RewardType::Gift,
        pb::RewardType::Charging => RewardType::Charging,
    })
}

/// The withdraw type of a message value; unset is BONUS; `None` outside the enum.
pub fn withdraw_type(value: i32) -> Option<WithdrawType> {
    Some(match pb::WithdrawType::try_from(value).ok()? {
        pb::WithdrawType::Unspecified | pb::WithdrawType::Bonus => WithdrawType::Bonus,
        pb::WithdrawType::GiftCard => WithdrawType::GiftCard,
        pb::WithdrawType::Withdraw => WithdrawType::Withdraw,
    })
}

/// An amount carried as given, as its message.
pub fn money(m: Option<&GivenMoney>) -> Option<Money> {
    m.map(|m| Money {
        amount: m.amount.clone(),
        currency: m.currency.clone(),
    })
}

impl From<&Context> for pb::OperationContext {
    fn from(c: &Context) -> Self {
        pb::OperationContext {
            description: c.description.clone(),
            reason: c.reason.clone(),
            card_id: c.card_id.clone(),
            partner_id: c.partner_id.clone(),
            brand_id: c.brand_id.clone(),
            location_id: c.location_id.clone(),
            merchant_name: c.merchant_name.clone(),
            purchase_id: c.purchase_id.clone(),
            batch_id: c.batch_id.clone(),
            operation_time: c.operation_time.map(Into::into),
            transaction_amount: c.transaction_amount.clone(),
            cheque_number: c.cheque_number.clone(),
            purchase_amount: money(c.purchase_amount.as_ref()),
            operator_id: c.operator_id.clone(),
        }
    }
}

impl TryFrom<pb::OperationContext> for Context {
    /// The field that cannot be converted (`operation_time`), and why.
    type Error = (&'static str, String);

    fn try_from(m: pb::OperationContext) -> Result<Self, Self::Error> {
        // Every field named: a field added to the message must be added here.
        let pb::OperationContext {
            description,
            reason,
            card_id,
            partner_id,
            brand_id,
            location_id,
            merchant_name,
            purchase_id,
            batch_id,
            operation_time,
            transaction_amount,
            cheque_number,
            purchase_amount,
            operator_id,
        } = m;
        let operation_time = operation_time
            .map(DateTime::<Utc>::try_from)
            .transpose()
            .map_err(|e| ("operation_time", e.to_string()))?;
        Ok(Context {
            description,
            reason,
            card_id,
            partner_id,
            brand_id,
            location_id,
            merchant_name,
            purchase_id,
            batch_id,
            operation_time,
            transaction_amount,
            cheque_number,
            purchase_amount: purchase_amount.map(|m| GivenMoney {
                amount: m.amount,
                currency: m.currency,
            }),
            operator_id,
        })
    }
}
