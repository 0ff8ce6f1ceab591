//! The purchase events on the wire: pending accruals and the settlement
//! markers ⇄ `loyalty.ledger.v1.{PendingAccrued, PendingAccrualDropped,
//! PurchaseConfirmed, PurchaseCancelled}`.

use loyalty_proto::ledger::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;

use super::{Decoder, account, after, ts, wire};
use crate::domain::account::{AccountKey, Balances, ChequeItem, Context, Event, Pending, Tender};
use kit::aggregate::DecodeError;

/// `PendingAccrued`.
pub const PENDING_ACCRUED: &str = "loyalty.ledger.v1.PendingAccrued";
/// `PendingAccrualDropped`.
pub const PENDING_DROPPED: &str = "loyalty.ledger.v1.PendingAccrualDropped";
/// `PurchaseConfirmed`.
pub const PURCHASE_CONFIRMED: &str = "loyalty.ledger.v1.PurchaseConfirmed";
/// A cheque item on the wire.
pub fn item(i: &ChequeItem) -> pb::ChequeItem {
    pb::ChequeItem {
        description: i.description.clone(),
        count: i.count.to_string(),
        amount: i.amount.to_string(),
    }
}

/// A payment besides points on the wire.
pub fn tender(t: &Tender) -> pb::Tender {
    pb::Tender {
        withdraw_type: pb::WithdrawType::from(t.withdraw_type) as i32,
        amount: t.amount.to_string(),
        currency: t.currency.clone(),
        description: t.description.clone(),
        reference: t.reference.clone(),
    }
}

/// `PurchaseCancelled`.
pub const PURCHASE_CANCELLED: &str = "loyalty.ledger.v1.PurchaseCancelled";

/// `PendingAccrued` from its event's fields.
pub(super) fn pending_accrued(
    key: &AccountKey,
    p: &Pending,
    a: &Balances,
) -> (&'static str, Vec<u8>) {
    let m = pb::PendingAccrued {
        account: account(key),
        operation_id: p.operation_id.clone(),
        amount: p.amount.to_string(),
        bucket: Some(pb::Bucket {
            id: 0,
            expires_at: p.expires_at.map(ts),
            lifetime: p.lifetime.clone(),
        }),
        kind: pb::OperationKind::from(p.kind) as i32,
        reward_type: pb::RewardType::from(p.reward_type) as i32,
        context: Some((&p.context).into()),
        lapses_at: Some(ts(p.lapses_at)),
        balance_after: after(a),
    };
    (PENDING_ACCRUED, m.encode_to_vec())
}

/// `PendingAccrualDropped` from its event's fields.
pub(super) fn pending_dropped(
    key: &AccountKey,
    operation_id: &str,
    purchase_id: &str,
    amount: Decimal,
    a: &Balances,
) -> (&'static str, Vec<u8>) {
    let m = pb::PendingAccrualDropped {
        account: account(key),
        operation_id: operation_id.to_owned(),
        purchase_id: purchase_id.to_owned(),
        amount: amount.to_string(),
        balance_after: after(a),
    };
    (PENDING_DROPPED, m.encode_to_vec())
}

/// The fields the two settlement markers share.
pub(super) struct Marker<'a> {
    pub key: &'a AccountKey,
    pub operation_id: &'a str,
    pub purchase_id: &'a str,
    pub holds: Decimal,
    pub accruals: Decimal,
    pub context: &'a Context,
    pub after: &'a Balances,
    /// The cheque's items (a confirm; empty for a cancel).
    pub items: &'a [ChequeItem],
    /// Its payments besides points (a confirm; empty for a cancel).
    pub tenders: &'a [Tender],
}

/// `PurchaseConfirmed`.
pub(super) fn confirmed(m: Marker<'_>) -> (&'static str, Vec<u8>) {
    let msg = pb::PurchaseConfirmed {
        account: account(m.key),
        operation_id: m.operation_id.to_owned(),
        purchase_id: m.purchase_id.to_owned(),
        captured: m.holds.to_string(),
        accrued: m.accruals.to_string(),
        context: Some(m.context.into()),
        balance_after: after(m.after),
        cheque_items: m.items.iter().map(item).collect(),
        tenders: m.tenders.iter().map(tender).collect(),
    };
    (PURCHASE_CONFIRMED, msg.encode_to_vec())
}

/// `PurchaseCancelled`.
pub(super) fn cancelled(m: Marker<'_>) -> (&'static str, Vec<u8>) {
    let msg = pb::PurchaseCancelled {
        account: account(m.key),
        operation_id: m.operation_id.to_owned(),
        purchase_id: m.purchase_id.to_owned(),
        released: m.holds.to_string(),
        dropped: m.accruals.to_string(),
        context: Some(m.context.into()),
        balance_after: after(m.after),
    };
    (PURCHASE_CANCELLED, msg.encode_to_vec())
}

/// Decodes one of the purchase events; `None` for any other type.
pub(super) fn decode(d: &Decoder<'_>, payload: &[u8]) -> Option<Result<Event, DecodeError>> {
    Some(match d.event_type {
        PENDING_ACCRUED => pending_accrued_from(d, payload),
        PENDING_DROPPED => d.decode(payload).and_then(|m: pb::PendingAccrualDropped| {
            Ok(Event::PendingDropped {
                key: d.key(m.account)?,
                operation_id: m.operation_id,
                purchase_id: m.purchase_id,
                amount: d.decimal("amount", &m.amount)?,
                after: d.after(m.balance_after)?,
            })
        }),
        PURCHASE_CONFIRMED => d.decode(payload).and_then(|m: pb::PurchaseConfirmed| {
            Ok(Event::PurchaseConfirmed {
                key: d.key(m.account)?,
                operation_id: m.operation_id,
                purchase_id: m.purchase_id,
                captured: d.decimal("captured", &m.captured)?,
                accrued: d.decimal("accrued", &m.accrued)?,
                context: d.context(m.context)?,
                items: m
                    .cheque_items
                    .into_iter()
                    .map(|i| {
                        Ok(ChequeItem {
                            count: d.decimal("cheque_items.count", &i.count)?,
                            amount: d.decimal("cheque_items.amount", &i.amount)?,
                            description: i.description,
                        })
                    })
                    .collect::<Result<_, DecodeError>>()?,
                tenders: m
                    .tenders
                    .into_iter()
                    .map(|t| {
                        Ok(Tender {
                            withdraw_type: wire::withdraw_type(t.withdraw_type).ok_or_else(
                                || d.err(format!("tenders: no withdraw type {}", t.withdraw_type)),
                            )?,
                            amount: d.decimal("tenders.amount", &t.amount)?,
                            currency: t.currency,
                            description: t.description,
                            reference: t.reference,
                        })
                    })
                    .collect::<Result<_, DecodeError>>()?,
                after: d.after(m.balance_after)?,
            })
        }),
        PURCHASE_CANCELLED => d.decode(payload).and_then(|m: pb::PurchaseCancelled| {
            Ok(Event::PurchaseCancelled {
                key: d.key(m.account)?,
                operation_id: m.operation_id,
                purchase_id: m.purchase_id,
                released: d.decimal("released", &m.released)?,
                dropped: d.decimal("dropped", &m.dropped)?,
                context: d.context(m.context)?,
                after: d.after(m.balance_after)?,
            })
        }),
        _ => return None,
    })
}

fn pending_accrued_from(d: &Decoder<'_>, payload: &[u8]) -> Result<Event, DecodeError> {
    let m: pb::PendingAccrued = d.decode(payload)?;
    let b = m.bucket.ok_or_else(|| d.err("bucket is missing"))?;
    Ok(Event::PendingAccrued {
        key: d.key(m.account)?,
        pending: Pending {
            operation_id: m.operation_id,
            amount: d.decimal("amount", &m.amount)?,
            expires_at: d.opt_time("bucket.expires_at", b.expires_at)?,
            lifetime: b.lifetime,
            kind: d.kind(m.kind)?,
            reward_type: d.reward_type(m.reward_type)?,
            context: d.context(m.context)?,
            lapses_at: d.time("lapses_at", m.lapses_at)?,
        },
        after: d.after(m.balance_after)?,
    })
}
