//! The processing methods' bodies and answers in the seed's JSON (seed 001,
//! "Processing"), and their conversion to and from purchases' messages.

use chrono::{DateTime, Utc};
use loyalty_proto::purchases::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::amount::Amount;
use crate::error::GatewayError;

/// Whose card a step is for. (No `Debug`: the value is a card number.)
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentifierIn {
    /// `Card`: a card number. (A member is named only by their own token,
    /// `Authorization: Bearer`, never by id in the body.)
    #[serde(rename = "type")]
    pub kind: String,
    /// The card number.
    pub value: String,
}

/// A line of the cheque.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ChequeLineIn {
    /// Position on the cheque (1, 2, ...).
    pub position: u32,
    /// The line's amount after the till's discounts.
    pub amount: Option<Amount>,
    /// Article id.
    pub goods_id: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Quantity.
    pub quantity: Option<Amount>,
    /// Cashback.
    pub cashback: Option<Amount>,
    /// The till's own discount.
    pub discount: Option<Amount>,
    /// Article name.
    pub name: Option<String>,
    /// Catalogue price.
    pub price: Option<Amount>,
    /// Correction.
    pub correction: Option<Amount>,
    /// Article group.
    pub group: Option<String>,
}

/// The cheque.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ChequeIn {
    /// Cheque number.
    pub number: Option<String>,
    /// Cheque date (RFC 3339).
    pub date: Option<DateTime<Utc>>,
    /// Its lines.
    pub lines: Vec<ChequeLineIn>,
}

/// A coupon presented.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CouponIn {
    /// Coupon number.
    pub number: Option<String>,
}

/// How part of the cheque is paid (Bonus). (No `Debug`: `details` may hold
/// a gift certificate's number.)
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PayIn {
    /// `Card`, `Cash`, `Loymax` (points), `GiftCard` (a gift certificate,
    /// its number in `details`), ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Amount paid this way.
    pub amount: Option<Amount>,
    /// Details (a gift certificate's number).
    pub details: Option<String>,
}

/// A returned line (Refund).
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RefundLineIn {
    /// Position on the purchase's cheque.
    pub position: u32,
    /// Quantity returned.
    pub quantity: Option<Amount>,
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn wire(v: Option<Amount>) -> String {
    v.map(Amount::to_wire).unwrap_or_default()
}

impl IdentifierIn {
    /// Purchases' identifier.
    pub fn to_pb(&self) -> Result<pb::Identifier, GatewayError> {
        let kind = match self.kind.as_str() {
            "Card" | "CardNumber" | "card" => pb::IdentifierType::Card,
            _ => {
                return Err(GatewayError::invalid(
                    "identifier.type",
                    "must be Card (a member is named by their token, Authorization: Bearer)",
                ));
            }
        };
        Ok(pb::Identifier {
            r#type: kind as i32,
            value: self.value.clone(),
        })
    }
}

impl From<&ChequeIn> for pb::Cheque {
    fn from(c: &ChequeIn) -> Self {
        pb::Cheque {
            number: text(&c.number),
            date: c.date.map(Into::into),
            lines: c.lines.iter().map(Into::into).collect(),
        }
    }
}

impl From<&ChequeLineIn> for pb::ChequeLine {
    fn from(l: &ChequeLineIn) -> Self {
        pb::ChequeLine {
            position: l.position,
            amount: wire(l.amount),
            goods_id: text(&l.goods_id),
            barcode: text(&l.barcode),
            quantity: wire(l.quantity),
            cashback: wire(l.cashback),
            discount: wire(l.discount),
            name: text(&l.name),
            price: wire(l.price),
            correction: wire(l.correction),
            group: text(&l.group),
        }
    }
}

impl From<&CouponIn> for pb::Coupon {
    fn from(c: &CouponIn) -> Self {
        pb::Coupon {
            number: text(&c.number),
        }
    }
}

impl From<&PayIn> for pb::Pay {
    fn from(p: &PayIn) -> Self {
        pb::Pay {
            r#type: text(&p.kind),
            amount: wire(p.amount),
            details: text(&p.details),
            certificate: None,
        }
    }
}

impl From<&RefundLineIn> for pb::RefundLine {
    fn from(l: &RefundLineIn) -> Self {
        pb::RefundLine {
            position: l.position,
            quantity: wire(l.quantity),
        }
    }
}

/// A line of the cheque as the processing computed it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChequeLineOut {
    /// Paid with points on this line.
    pub pay_amount: Option<Amount>,
    /// Message for the line.
    pub message: Option<String>,
    /// Position.
    pub position: u32,
    /// Amount after every discount.
    pub amount: Option<Amount>,
    /// Article id.
    pub goods_id: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Quantity.
    pub quantity: Option<Amount>,
    /// Cashback.
    pub cashback: Option<Amount>,
    /// Total discount on the line.
    pub discount: Option<Amount>,
}

/// The cheque as the processing computed it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChequeOut {
    /// Total after discounts.
    pub total_amount: Option<Amount>,
    /// Total discount.
    pub total_discount: Option<Amount>,
    /// Total cashback.
    pub total_cashback: Option<Amount>,
    /// The lines.
    pub lines: Vec<ChequeLineOut>,
}

impl From<&pb::AnswerCheque> for ChequeOut {
    fn from(c: &pb::AnswerCheque) -> Self {
        ChequeOut {
            total_amount: Amount::from_wire(&c.total_amount),
            total_discount: Amount::from_wire(&c.total_discount),
            total_cashback: Amount::from_wire(&c.total_cashback).or(Some(Amount::default())),
            lines: c
                .lines
                .iter()
                .map(|l| ChequeLineOut {
                    pay_amount: Amount::from_wire(&l.pay_amount),
                    message: super::some(&l.message),
                    position: l.position,
                    amount: Amount::from_wire(&l.amount),
                    goods_id: super::some(&l.goods_id),
                    barcode: super::some(&l.barcode),
                    quantity: Amount::from_wire(&l.quantity),
                    cashback: Amount::from_wire(&l.cashback),
                    discount: Amount::from_wire(&l.discount),
                })
                .collect(),
        }
    }
}

/// A processing code in the seed's spelling; `None` for a code this
/// gateway does not know (a newer purchases): never read as `Ok`.
pub fn code_name(code: i32) -> Option<&'static str> {
    use pb::ProcessingCode as C;
    Some(match C::try_from(code).ok()? {
        C::Unspecified => return None,
        C::Ok => "Ok",
        C::CardNotFound => "CardNotFound",
        C::NotEnoughMoney => "NotEnoughMoney",
        C::NotUniqueOperationId => "NotUniqueOperationID",
        C::OperationIsConfirmed => "OperationIsConfirmed",
        C::OperationIsCanceled => "OperationIsCanceled",
        C::PurchaseNotFound => "PurchaseNotFound",
        C::DifferentCheque => "DifferentCheque",
        C::InvalidRequest => "InvalidRequest",
        C::PaymentLimitExceeded => "PaymentLimitExceeded",
        C::CouponNotValid => "CouponNotValid",
        C::RefundExceedsPurchase => "RefundExceedsPurchase",
        C::OperationTimedOut => "OperationTimedOut",
        C::GiftCardNotValid => "GiftCardNotValid",
        C::OperationNotFound => "OperationNotFound",
    })
}
