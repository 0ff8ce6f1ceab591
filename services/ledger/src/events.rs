//! The ledger's events on the wire: domain events ⇄ `loyalty.ledger.v1`
//! messages (stored in the log as protobuf, published as proto3 JSON).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use kit::aggregate::{DecodeError, DomainEvent};
use kit::outbox::ProtoJsonCodec;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::wkt::Timestamp;
use prost::Message;
use rust_decimal::Decimal;

use crate::domain::account::{AccountKey, Balances, Bucket, Context, Draw, Event};
use crate::domain::model::{Kind, RewardType};

pub mod catalog;
pub mod purchase;
pub mod wire;

/// Full names of the event messages.
pub mod types {
    /// `AccountOpened`.
    pub const OPENED: &str = "loyalty.ledger.v1.AccountOpened";
    /// `PointsAccrued`.
    pub const ACCRUED: &str = "loyalty.ledger.v1.PointsAccrued";
    /// `PointsWithdrawn`.
    pub const WITHDRAWN: &str = "loyalty.ledger.v1.PointsWithdrawn";
    /// `PointsHeld`.
    pub const HELD: &str = "loyalty.ledger.v1.PointsHeld";
    /// `HoldCaptured`.
    pub const CAPTURED: &str = "loyalty.ledger.v1.HoldCaptured";
    /// `HoldReleased`.
    pub const RELEASED: &str = "loyalty.ledger.v1.HoldReleased";
    /// `PointsRefunded`.
    pub const REFUNDED: &str = "loyalty.ledger.v1.PointsRefunded";
    /// `PointsExpired`.
    pub const EXPIRED: &str = "loyalty.ledger.v1.PointsExpired";
    /// `HoldExpired`.
    pub const HOLD_EXPIRED: &str = "loyalty.ledger.v1.HoldExpired";
}

/// The JSON codec of every ledger event, for the outbox.
pub fn json_codec() -> ProtoJsonCodec {
    ProtoJsonCodec::new()
        .register::<pb::AccountOpened>(types::OPENED)
        .register::<pb::PointsAccrued>(types::ACCRUED)
        .register::<pb::PointsWithdrawn>(types::WITHDRAWN)
        .register::<pb::PointsHeld>(types::HELD)
        .register::<pb::HoldCaptured>(types::CAPTURED)
        .register::<pb::HoldReleased>(types::RELEASED)
        .register::<pb::PointsRefunded>(types::REFUNDED)
        .register::<pb::PointsExpired>(types::EXPIRED)
        .register::<pb::HoldExpired>(types::HOLD_EXPIRED)
        .register::<pb::PendingAccrued>(purchase::PENDING_ACCRUED)
        .register::<pb::PendingAccrualDropped>(purchase::PENDING_DROPPED)
        .register::<pb::PurchaseConfirmed>(purchase::PURCHASE_CONFIRMED)
        .register::<pb::PurchaseCancelled>(purchase::PURCHASE_CANCELLED)
        .register::<pb::BatchApplied>(crate::app::batch::BATCH_APPLIED)
        .register::<pb::BatchChunkAccepted>(crate::app::batch::BATCH_CHUNK_ACCEPTED)
        .register::<pb::CatalogChanged>(catalog::CATALOG_CHANGED)
}

fn ts(t: DateTime<Utc>) -> Timestamp {
    t.into()
}

fn account(k: &AccountKey) -> Option<pb::AccountRef> {
    Some(pb::AccountRef {
        member_id: k.member_id.clone(),
        currency: k.currency.clone(),
    })
}

fn after(b: &Balances) -> Option<pb::BalanceAfter> {
    Some(pb::BalanceAfter {
        available: b.available.to_string(),
        held: b.held.to_string(),
    })
}

fn draws(d: &[Draw]) -> Vec<pb::BucketDraw> {
    d.iter()
        .map(|d| pb::BucketDraw {
            bucket_id: d.bucket_id,
            amount: d.amount.to_string(),
            expires_at: d.expires_at.map(ts),
        })
        .collect()
}

/// Converts a domain event to its message; returns (type, bytes).
pub fn encode(event: &Event) -> (&'static str, Vec<u8>) {
    match event {
        Event::Opened {
            key,
            card_id,
            opened_at,
            source_event_id,
        } => (
            types::OPENED,
            pb::AccountOpened {
                account: account(key),
                card_id: card_id.clone(),
                opened_at: Some(ts(*opened_at)),
                source_event_id: source_event_id.clone(),
            }
            .encode_to_vec(),
        ),
        Event::Accrued {
            key,
            operation_id,
            amount,
            bucket,
            kind,
            reward_type,
            context,
            after: a,
            debt_repaid,
        } => (
            types::ACCRUED,
            pb::PointsAccrued {
                account: account(key),
                operation_id: operation_id.clone(),
                amount: amount.to_string(),
                bucket: Some(pb::Bucket {
                    id: bucket.id,
                    expires_at: bucket.expires_at.map(ts),
                    lifetime: bucket.lifetime.clone(),
                }),
                kind: pb::OperationKind::from(*kind) as i32,
                reward_type: pb::RewardType::from(*reward_type) as i32,
                context: Some(context.into()),
                balance_after: after(a),
                debt_repaid: debt_repaid.to_string(),
            }
            .encode_to_vec(),
        ),
        Event::Withdrawn {
            key,
            operation_id,
            amount,
            draws: d,
            kind,
            withdraw_type,
            context,
            after: a,
        } => (
            types::WITHDRAWN,
            pb::PointsWithdrawn {
                account: account(key),
                operation_id: operation_id.clone(),
                amount: amount.to_string(),
                draws: draws(d),
                kind: pb::OperationKind::from(*kind) as i32,
                withdraw_type: pb::WithdrawType::from(*withdraw_type) as i32,
                context: Some(context.into()),
                balance_after: after(a),
            }
            .encode_to_vec(),
        ),
        Event::Held {
            key,
            hold_id,
            amount,
            draws: d,
            context,
            after: a,
            expires_at,
        } => (
            types::HELD,
            pb::PointsHeld {
                account: account(key),
                hold_id: hold_id.clone(),
                amount: amount.to_string(),
                draws: draws(d),
                context: Some(context.into()),
                balance_after: after(a),
                expires_at: expires_at.map(ts),
            }
            .encode_to_vec(),
        ),
        Event::Captured {
            key,
            hold_id,
            operation_id,
            amount,
            captured,
            returned,
            context,
            after: a,
        } => (
            types::CAPTURED,
            pb::HoldCaptured {
                account: account(key),
                hold_id: hold_id.clone(),
                operation_id: operation_id.clone(),
                amount: amount.to_string(),
                captured: draws(captured),
                returned: draws(returned),
                context: Some(context.into()),
                balance_after: after(a),
            }
            .encode_to_vec(),
        ),
        Event::Released {
            key,
            hold_id,
            operation_id,
            amount,
            returned,
            context,
            after: a,
        } => (
            types::RELEASED,
            pb::HoldReleased {
                account: account(key),
                hold_id: hold_id.clone(),
                operation_id: operation_id.clone(),
                amount: amount.to_string(),
                returned: draws(returned),
                context: Some(context.into()),
                balance_after: after(a),
            }
            .encode_to_vec(),
        ),
        Event::HoldExpired {
            key,
            hold_id,
            amount,
            returned,
            expired_at,
            after: a,
        } => (
            types::HOLD_EXPIRED,
            pb::HoldExpired {
                account: account(key),
                hold_id: hold_id.clone(),
                amount: amount.to_string(),
                returned: draws(returned),
                expired_at: Some(ts(*expired_at)),
                balance_after: after(a),
            }
            .encode_to_vec(),
        ),
        Event::Refunded {
            key,
            operation_id,
            original_operation_id,
            amount,
            uncollected,
            draws: d,
            credit,
            context,
            after: a,
            debt,
        } => (
            types::REFUNDED,
            pb::PointsRefunded {
                account: account(key),
                operation_id: operation_id.clone(),
                original_operation_id: original_operation_id.clone(),
                amount: amount.to_string(),
                uncollected: uncollected.to_string(),
                draws: draws(d),
                credit: *credit,
                context: Some(context.into()),
                balance_after: after(a),
                debt: debt.to_string(),
            }
            .encode_to_vec(),
        ),
        Event::PendingAccrued {
            key,
            pending,
            after: a,
        } => purchase::pending_accrued(key, pending, a),
        Event::PendingDropped {
            key,
            operation_id,
            purchase_id,
            amount,
            after: a,
        } => purchase::pending_dropped(key, operation_id, purchase_id, *amount, a),
        Event::PurchaseConfirmed {
            key,
            operation_id,
            purchase_id,
            captured,
            accrued,
            context,
            items,
            tenders,
            after: a,
        } => purchase::confirmed(purchase::Marker {
            key,
            operation_id,
            purchase_id,
            holds: *captured,
            accruals: *accrued,
            context,
            after: a,
            items,
            tenders,
        }),
        Event::PurchaseCancelled {
            key,
            operation_id,
            purchase_id,
            released,
            dropped,
            context,
            after: a,
        } => purchase::cancelled(purchase::Marker {
            key,
            operation_id,
            purchase_id,
            holds: *released,
            accruals: *dropped,
            context,
            after: a,
            items: &[],
            tenders: &[],
        }),
        Event::Expired {
            key,
            bucket_id,
            amount,
            expired_at,
            after: a,
        } => (
            types::EXPIRED,
            pb::PointsExpired {
                account: account(key),
                bucket_id: *bucket_id,
                amount: amount.to_string(),
                expired_at: Some(ts(*expired_at)),
                balance_after: after(a),
            }
            .encode_to_vec(),
        ),
    }
}

/// Decoding helpers that turn a missing or malformed field into an error.
struct Decoder<'a> {
    event_type: &'a str,
}

impl Decoder<'_> {
    fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            event_type: self.event_type.to_owned(),
            reason: reason.into(),
        }
    }

    fn context(&self, m: Option<pb::OperationContext>) -> Result<Context, DecodeError> {
        Context::try_from(m.unwrap_or_default())
            .map_err(|(field, e)| self.err(format!("context.{field}: {e}")))
    }
    fn decimal(&self, field: &str, s: &str) -> Result<Decimal, DecodeError> {
        Decimal::from_str(s).map_err(|_| self.err(format!("{field}: {s:?} is not a decimal")))
    }
    fn time(&self, field: &str, t: Option<Timestamp>) -> Result<DateTime<Utc>, DecodeError> {
        let t = t.ok_or_else(|| self.err(format!("{field} is missing")))?;
        DateTime::<Utc>::try_from(t).map_err(|e| self.err(format!("{field}: {e}")))
    }
    fn opt_time(
        &self,
        field: &str,
        t: Option<Timestamp>,
    ) -> Result<Option<DateTime<Utc>>, DecodeError> {
        t.map(|t| self.time(field, Some(t))).transpose()
    }
    fn key(&self, a: Option<pb::AccountRef>) -> Result<AccountKey, DecodeError> {
        let a = a.ok_or_else(|| self.err("account is missing"))?;
        Ok(AccountKey {
            member_id: a.member_id,
            currency: a.currency,
        })
    }
    fn after(&self, b: Option<pb::BalanceAfter>) -> Result<Balances, DecodeError> {
        let b = b.ok_or_else(|| self.err("balance_after is missing"))?;
        Ok(Balances {
            available: self.decimal("balance_after.available", &b.available)?,
            held: self.decimal("balance_after.held", &b.held)?,
        })
    }
    fn draws(&self, d: Vec<pb::BucketDraw>) -> Result<Vec<Draw>, DecodeError> {
        d.into_iter()
            .map(|d| {
                Ok(Draw {
                    bucket_id: d.bucket_id,
                    amount: self.decimal("draws.amount", &d.amount)?,
                    expires_at: self.opt_time("draws.expires_at", d.expires_at)?,
                })
            })
            .collect()
    }
    /// A decimal field written empty by events older than the field: zero.
    fn decimal_or_zero(&self, field: &str, s: &str) -> Result<Decimal, DecodeError> {
        if s.is_empty() {
            Ok(Decimal::ZERO)
        } else {
            self.decimal(field, s)
        }
    }
    fn kind(&self, value: i32) -> Result<Kind, DecodeError> {
        wire::kind(value).ok_or_else(|| self.err("unknown kind"))
    }
    fn reward_type(&self, value: i32) -> Result<RewardType, DecodeError> {
        wire::reward_type(value).ok_or_else(|| self.err("unknown reward_type"))
    }
    fn decode<M: Message + Default>(&self, payload: &[u8]) -> Result<M, DecodeError> {
        M::decode(payload).map_err(|e| self.err(e.to_string()))
    }
}

/// Converts a stored message back into a domain event.
pub fn decode(event_type: &str, payload: &[u8]) -> Result<Event, DecodeError> {
    let d = Decoder { event_type };
    Ok(match event_type {
        types::OPENED => {
            let m: pb::AccountOpened = d.decode(payload)?;
            Event::Opened {
                key: d.key(m.account)?,
                card_id: m.card_id,
                opened_at: d.time("opened_at", m.opened_at)?,
                source_event_id: m.source_event_id,
            }
        }
        types::ACCRUED => {
            let m: pb::PointsAccrued = d.decode(payload)?;
            let b = m.bucket.ok_or_else(|| d.err("bucket is missing"))?;
            let amount = d.decimal("amount", &m.amount)?;
            // Events written before the field existed repaid nothing.
            let debt_repaid = d.decimal_or_zero("debt_repaid", &m.debt_repaid)?;
            Event::Accrued {
                key: d.key(m.account)?,
                operation_id: m.operation_id,
                amount,
                debt_repaid,
                bucket: Bucket {
                    id: b.id,
                    amount: amount.saturating_sub(debt_repaid),
                    expires_at: d.opt_time("bucket.expires_at", b.expires_at)?,
                    lifetime: b.lifetime,
                },
                kind: d.kind(m.kind)?,
                reward_type: d.reward_type(m.reward_type)?,
                context: d.context(m.context)?,
                after: d.after(m.balance_after)?,
            }
        }
        types::WITHDRAWN => {
            let m: pb::PointsWithdrawn = d.decode(payload)?;
            Event::Withdrawn {
                key: d.key(m.account)?,
                operation_id: m.operation_id,
                amount: d.decimal("amount", &m.amount)?,
                draws: d.draws(m.draws)?,
                kind: d.kind(m.kind)?,
                withdraw_type: wire::withdraw_type(m.withdraw_type)
                    .ok_or_else(|| d.err("unknown withdraw_type"))?,
                context: d.context(m.context)?,
                after: d.after(m.balance_after)?,
            }
        }
        types::HELD => {
            let m: pb::PointsHeld = d.decode(payload)?;
            Event::Held {
                key: d.key(m.account)?,
                hold_id: m.hold_id,
                amount: d.decimal("amount", &m.amount)?,
                draws: d.draws(m.draws)?,
                context: d.context(m.context)?,
                after: d.after(m.balance_after)?,
                expires_at: d.opt_time("expires_at", m.expires_at)?,
            }
        }
        types::CAPTURED => {
            let m: pb::HoldCaptured = d.decode(payload)?;
            Event::Captured {
                key: d.key(m.account)?,
                hold_id: m.hold_id,
                operation_id: m.operation_id,
                amount: d.decimal("amount", &m.amount)?,
                captured: d.draws(m.captured)?,
                returned: d.draws(m.returned)?,
                context: d.context(m.context)?,
                after: d.after(m.balance_after)?,
            }
        }
        types::RELEASED => {
            let m: pb::HoldReleased = d.decode(payload)?;
            Event::Released {
                key: d.key(m.account)?,
                hold_id: m.hold_id,
                operation_id: m.operation_id,
                amount: d.decimal("amount", &m.amount)?,
                returned: d.draws(m.returned)?,
                context: d.context(m.context)?,
                after: d.after(m.balance_after)?,
            }
        }
        types::HOLD_EXPIRED => {
            let m: pb::HoldExpired = d.decode(payload)?;
            Event::HoldExpired {
                key: d.key(m.account)?,
                hold_id: m.hold_id,
                amount: d.decimal("amount", &m.amount)?,
                returned: d.draws(m.returned)?,
                expired_at: d.time("expired_at", m.expired_at)?,
                after: d.after(m.balance_after)?,
            }
        }
        types::REFUNDED => {
            let m: pb::PointsRefunded = d.decode(payload)?;
            Event::Refunded {
                key: d.key(m.account)?,
                operation_id: m.operation_id,
                original_operation_id: m.original_operation_id,
                amount: d.decimal("amount", &m.amount)?,
                // Events written before the field existed: nothing uncollected.
                uncollected: d.decimal_or_zero("uncollected", &m.uncollected)?,
                draws: d.draws(m.draws)?,
                credit: m.credit,
                context: d.context(m.context)?,
                after: d.after(m.balance_after)?,
                debt: d.decimal_or_zero("debt", &m.debt)?,
            }
        }
        types::EXPIRED => {
            let m: pb::PointsExpired = d.decode(payload)?;
            Event::Expired {
                key: d.key(m.account)?,
                bucket_id: m.bucket_id,
                amount: d.decimal("amount", &m.amount)?,
                expired_at: d.time("expired_at", m.expired_at)?,
                after: d.after(m.balance_after)?,
            }
        }
        other => {
            return purchase::decode(&d, payload)
                .unwrap_or_else(|| Err(d.err(format!("unknown event type {other}"))));
        }
    })
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Event::Opened { .. } => types::OPENED,
            Event::Accrued { .. } => types::ACCRUED,
            Event::Withdrawn { .. } => types::WITHDRAWN,
            Event::Held { .. } => types::HELD,
            Event::Captured { .. } => types::CAPTURED,
            Event::Released { .. } => types::RELEASED,
            Event::HoldExpired { .. } => types::HOLD_EXPIRED,
            Event::Refunded { .. } => types::REFUNDED,
            Event::Expired { .. } => types::EXPIRED,
            Event::PendingAccrued { .. } => purchase::PENDING_ACCRUED,
            Event::PendingDropped { .. } => purchase::PENDING_DROPPED,
            Event::PurchaseConfirmed { .. } => purchase::PURCHASE_CONFIRMED,
            Event::PurchaseCancelled { .. } => purchase::PURCHASE_CANCELLED,
        }
    }
    fn encode(&self) -> Vec<u8> {
        encode(self).1
    }
    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        decode(event_type, payload)
    }
}

#[cfg(test)]
mod tests;
