//! The domain's vocabulary ⇄ its messages: operation kinds, reward and
//! withdraw types, and the operation context. Used by the stored events and
//! by the gRPC edge, so both convert the same way.

use chrono::{DateTime, Utc};
use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;

use crate::domain::model::{Context, GivenMoney, Kind, RewardType, WithdrawType};

/// One table, both directions: `From<$domain>` for the message enum, and
/// `$read`, the domain value of a message value (UNSPECIFIED reads as
/// `$unset`; `None` outside the enum).
macro_rules! wire_enum {
    (
        $(#[$doc:meta])*
        fn $read:ident: $domain:ident <=> $msg:ident, unset $unset:ident,
        { $($d:ident = $m:ident),+ $(,)? }
    ) => {
        impl From<$domain> for pb::$msg {
            fn from(v: $domain) -> Self {
                match v {
                    $($domain::$d => pb::$msg::$m,)+
                }
            }
        }

        $(#[$doc])*
        pub fn $read(value: i32) -> Option<$domain> {
            Some(match pb::$msg::try_from(value).ok()? {
                pb::$msg::Unspecified => $domain::$unset,
                $(pb::$msg::$m => $domain::$d,)+
            })
        }
    };
}

wire_enum! {
    /// The kind of a message value; unset is REGULAR; `None` outside the enum.
    fn kind: Kind <=> OperationKind, unset Regular,
    { Regular = Regular, Manual = Manual, Social = Social, Charging = Charging }
}

wire_enum! {
    /// The reward type of a message value; unset is BONUS; `None` outside the enum.
    fn reward_type: RewardType <=> RewardType, unset Bonus,
    { Bonus = Bonus, Discount = Discount, Gift = Gift, Charging = Charging }
}

wire_enum! {
    /// The withdraw type of a message value; unset is BONUS; `None` outside the enum.
    fn withdraw_type: WithdrawType <=> WithdrawType, unset Bonus,
    { Bonus = Bonus, GiftCard = GiftCard, Withdraw = Withdraw }
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
