//! The purchases service's events on the wire: domain events ⇄
//! `loyalty.purchases.v1` messages (stored in the log as protobuf,
//! published as proto3 JSON on `loyalty.purchases.<snake_case name>`).

use kit::aggregate::{DecodeError, DomainEvent};
use kit::outbox::ProtoJsonCodec;
use loyalty_proto::identity::v1 as identity;
use loyalty_proto::purchases::v1 as pb;
use prost::Message;

use crate::domain::giftcard::GiftCardPay;
use crate::domain::purchase::{Event, MessageRequest, Payment, Pending, RefundTotals, StepRef};
use crate::domain::refund::RefundShare;

pub mod coupon;
pub mod rules;
pub mod wire;

use wire::{Decoder, calc, cheque, dec, step};

/// Full names of the event messages.
pub mod types {
    /// `PurchaseCalculated`.
    pub const CALCULATED: &str = "loyalty.purchases.v1.PurchaseCalculated";
    /// `PurchasePaid`.
    pub const PAID: &str = "loyalty.purchases.v1.PurchasePaid";
    /// `BonusCalculated`.
    pub const BONUS_CALCULATED: &str = "loyalty.purchases.v1.BonusCalculated";
    /// identity's `MessageRequested`: purchases asks identity to send a
    /// message (published as `loyalty.purchases.message_requested`).
    pub const MESSAGE_REQUESTED: &str = "loyalty.identity.v1.MessageRequested";
    /// `PurchaseConfirmed`.
    pub const CONFIRMED: &str = "loyalty.purchases.v1.PurchaseConfirmed";
    /// `PurchaseCancelled`.
    pub const CANCELLED: &str = "loyalty.purchases.v1.PurchaseCancelled";
    /// `PurchaseTimedOut`.
    pub const TIMED_OUT: &str = "loyalty.purchases.v1.PurchaseTimedOut";
    /// `PurchaseRefunded`.
    pub const REFUNDED: &str = "loyalty.purchases.v1.PurchaseRefunded";
}

/// The JSON codec of every purchases event, for the outbox.
pub fn json_codec() -> ProtoJsonCodec {
    ProtoJsonCodec::new()
        .register::<pb::PurchaseCalculated>(types::CALCULATED)
        .register::<pb::PurchasePaid>(types::PAID)
        .register::<pb::BonusCalculated>(types::BONUS_CALCULATED)
        .register::<pb::PurchaseConfirmed>(types::CONFIRMED)
        .register::<pb::PurchaseCancelled>(types::CANCELLED)
        .register::<pb::PurchaseTimedOut>(types::TIMED_OUT)
        .register::<pb::PurchaseRefunded>(types::REFUNDED)
        .register::<identity::MessageRequested>(types::MESSAGE_REQUESTED)
        .register::<pb::RulesChanged>(rules::RULES_CHANGED)
        .register::<pb::CouponReserved>(coupon::COUPON_RESERVED)
}

/// Converts a domain event to its message's bytes.
fn encode(event: &Event) -> Vec<u8> {
    match event {
        Event::Calculated {
            step: s,
            cheque: c,
            calc: k,
            available,
            coupons,
        } => pb::PurchaseCalculated {
            r#ref: Some(step(s)),
            cheque: Some(cheque(c)),
            result: Some(calc(k)),
            available_points: dec(*available),
            coupons: coupons.clone(),
            rules_version: 0,
        }
        .encode_to_vec(),
        Event::Paid {
            step: s,
            payment,
            calc: k,
        } => pb::PurchasePaid {
            r#ref: Some(step(s)),
            points: dec(payment.points),
            hold_id: payment.hold_id.clone(),
            result: Some(calc(k)),
        }
        .encode_to_vec(),
        Event::BonusCalculated {
            step: s,
            cheque: c,
            calc: k,
            pending,
        } => pb::BonusCalculated {
            r#ref: Some(step(s)),
            cheque: Some(cheque(c)),
            pays: Vec::new(),
            result: Some(calc(k)),
            points: dec(pending.points),
            charged: dec(pending.charged),
            accrual_operation_id: pending.accrual_operation_id.clone(),
            charge_operation_id: pending.charge_operation_id.clone(),
            rules_version: 0,
            template_id: pending.template_id.clone(),
            article_description: pending.article_description.clone(),
            language: pending.language.clone(),
            gift_cards: pending
                .gift_cards
                .iter()
                .map(|g| pb::GiftCardPayment {
                    certificate_id: g.certificate_id.clone(),
                    masked: g.masked.clone(),
                    amount: dec(g.amount),
                    hold_id: g.hold_id.clone(),
                    lapses_at: g.lapses_at.map(Into::into),
                })
                .collect(),
        }
        .encode_to_vec(),
        Event::Confirmed {
            step: s,
            cheque_number,
            calc: k,
            withdrawn,
            accrued,
            charged,
            gift_cards,
        } => pb::PurchaseConfirmed {
            r#ref: Some(step(s)),
            items: Some(calc(k)),
            withdrawn_points: dec(*withdrawn),
            accrued_points: dec(*accrued),
            charged: dec(*charged),
            cheque_number: cheque_number.clone(),
            total_amount: dec(k.total_amount),
            gift_card_amount: dec(*gift_cards),
        }
        .encode_to_vec(),
        Event::MessageRequested { step: s, message } => identity::MessageRequested {
            request_id: message.request_id.clone(),
            member_id: s.member_id.clone(),
            card_number: String::new(),
            channel: identity::Channel::Email as i32,
            template_id: message.template_id.clone(),
            values: message.values.clone().into_iter().collect(),
        }
        .encode_to_vec(),
        Event::Cancelled {
            step: s,
            released,
            dropped,
            gift_cards,
        } => pb::PurchaseCancelled {
            r#ref: Some(step(s)),
            released_points: dec(*released),
            dropped_points: dec(*dropped),
            gift_card_amount: dec(*gift_cards),
        }
        .encode_to_vec(),
        Event::TimedOut {
            step: s,
            deadline,
            gift_cards,
        } => pb::PurchaseTimedOut {
            r#ref: Some(step(s)),
            deadline: Some((*deadline).into()),
            gift_card_amount: dec(*gift_cards),
        }
        .encode_to_vec(),
        Event::Refunded {
            step: s,
            lines,
            totals,
        } => pb::PurchaseRefunded {
            r#ref: Some(step(s)),
            lines: lines
                .iter()
                .map(|l| pb::RefundedLine {
                    position: l.position,
                    quantity: dec(l.quantity),
                    amount: dec(l.money),
                    returned_points: dec(l.returned_points),
                    taken_back_points: dec(l.taken_back_points),
                })
                .collect(),
            returned_points: dec(totals.returned_points),
            taken_back_points: dec(totals.taken_back_points),
            uncollected_points: dec(totals.uncollected_points),
            money_amount: dec(totals.money),
            debt_points: dec(totals.debt_points),
            gift_card_amount: dec(totals.gift_card_money),
        }
        .encode_to_vec(),
    }
}

fn message<M: Message + Default>(d: &Decoder<'_>, payload: &[u8]) -> Result<M, DecodeError> {
    M::decode(payload).map_err(|e| d.err(e.to_string()))
}

/// Converts a stored message back into a domain event.
fn decode(event_type: &str, payload: &[u8]) -> Result<Event, DecodeError> {
    let d = Decoder { event_type };
    Ok(match event_type {
        types::CALCULATED => {
            let m: pb::PurchaseCalculated = message(&d, payload)?;
            Event::Calculated {
                step: d.step(m.r#ref)?,
                cheque: d.cheque(m.cheque)?,
                calc: d.calc(m.result)?,
                available: d.decimal("available_points", &m.available_points)?,
                coupons: m.coupons,
            }
        }
        types::PAID => {
            let m: pb::PurchasePaid = message(&d, payload)?;
            Event::Paid {
                step: d.step(m.r#ref)?,
                payment: Payment {
                    points: d.decimal("points", &m.points)?,
                    hold_id: m.hold_id,
                },
                calc: d.calc(m.result)?,
            }
        }
        types::BONUS_CALCULATED => {
            let m: pb::BonusCalculated = message(&d, payload)?;
            Event::BonusCalculated {
                step: d.step(m.r#ref)?,
                cheque: d.cheque(m.cheque)?,
                calc: d.calc(m.result)?,
                pending: Pending {
                    points: d.decimal("points", &m.points)?,
                    charged: d.decimal("charged", &m.charged)?,
                    accrual_operation_id: m.accrual_operation_id,
                    charge_operation_id: m.charge_operation_id,
                    template_id: m.template_id,
                    article_description: m.article_description,
                    language: m.language,
                    gift_cards: m
                        .gift_cards
                        .into_iter()
                        .map(|g| {
                            Ok(GiftCardPay {
                                amount: d.decimal("gift_cards.amount", &g.amount)?,
                                lapses_at: d.time("gift_cards.lapses_at", g.lapses_at)?,
                                certificate_id: g.certificate_id,
                                masked: g.masked,
                                hold_id: g.hold_id,
                            })
                        })
                        .collect::<Result<Vec<_>, DecodeError>>()?,
                },
            }
        }
        types::CONFIRMED => {
            let m: pb::PurchaseConfirmed = message(&d, payload)?;
            Event::Confirmed {
                step: d.step(m.r#ref)?,
                cheque_number: m.cheque_number,
                calc: d.calc(m.items)?,
                withdrawn: d.decimal("withdrawn_points", &m.withdrawn_points)?,
                accrued: d.decimal("accrued_points", &m.accrued_points)?,
                charged: d.decimal("charged", &m.charged)?,
                gift_cards: d.decimal("gift_card_amount", &m.gift_card_amount)?,
            }
        }
        types::MESSAGE_REQUESTED => {
            let m: identity::MessageRequested = message(&d, payload)?;
            Event::MessageRequested {
                // The message names only the member; the rest of the step
                // is the Confirm's, recorded just before it in the stream.
                step: StepRef {
                    member_id: m.member_id,
                    ..StepRef::default()
                },
                message: MessageRequest {
                    request_id: m.request_id,
                    template_id: m.template_id,
                    values: m.values.into_iter().collect(),
                },
            }
        }
        types::CANCELLED => {
            let m: pb::PurchaseCancelled = message(&d, payload)?;
            Event::Cancelled {
                step: d.step(m.r#ref)?,
                released: d.decimal("released_points", &m.released_points)?,
                dropped: d.decimal("dropped_points", &m.dropped_points)?,
                gift_cards: d.decimal("gift_card_amount", &m.gift_card_amount)?,
            }
        }
        types::TIMED_OUT => {
            let m: pb::PurchaseTimedOut = message(&d, payload)?;
            Event::TimedOut {
                step: d.step(m.r#ref)?,
                deadline: d
                    .time("deadline", m.deadline)?
                    .ok_or_else(|| d.err("deadline is missing"))?,
                gift_cards: d.decimal("gift_card_amount", &m.gift_card_amount)?,
            }
        }
        types::REFUNDED => {
            let m: pb::PurchaseRefunded = message(&d, payload)?;
            Event::Refunded {
                step: d.step(m.r#ref)?,
                lines: m
                    .lines
                    .into_iter()
                    .map(|l| {
                        Ok(RefundShare {
                            position: l.position,
                            quantity: d.decimal("quantity", &l.quantity)?,
                            money: d.decimal("amount", &l.amount)?,
                            returned_points: d.decimal("returned_points", &l.returned_points)?,
                            taken_back_points: d
                                .decimal("taken_back_points", &l.taken_back_points)?,
                        })
                    })
                    .collect::<Result<Vec<_>, DecodeError>>()?,
                totals: RefundTotals {
                    returned_points: d.decimal("returned_points", &m.returned_points)?,
                    taken_back_points: d.decimal("taken_back_points", &m.taken_back_points)?,
                    uncollected_points: d.decimal("uncollected_points", &m.uncollected_points)?,
                    money: d.decimal("money_amount", &m.money_amount)?,
                    debt_points: d.decimal("debt_points", &m.debt_points)?,
                    gift_card_money: d.decimal("gift_card_amount", &m.gift_card_amount)?,
                },
            }
        }
        other => return Err(d.err(format!("unknown event type {other}"))),
    })
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Event::Calculated { .. } => types::CALCULATED,
            Event::Paid { .. } => types::PAID,
            Event::BonusCalculated { .. } => types::BONUS_CALCULATED,
            Event::Confirmed { .. } => types::CONFIRMED,
            Event::MessageRequested { .. } => types::MESSAGE_REQUESTED,
            Event::Cancelled { .. } => types::CANCELLED,
            Event::TimedOut { .. } => types::TIMED_OUT,
            Event::Refunded { .. } => types::REFUNDED,
        }
    }
    fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        decode(event_type, payload)
    }
}

#[cfg(test)]
mod tests;
