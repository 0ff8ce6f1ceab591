//! Rendering a command's events as the `OperationResult` it answers with.

use chrono::{DateTime, Utc};
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;

use crate::app::operations::AccountState;
use crate::domain::account::{Balances, Draw, Event};
use crate::domain::money;

/// Balances of an event that moves nothing.
const NOTHING: Balances = Balances {
    available: Decimal::ZERO,
    held: Decimal::ZERO,
};

fn draws(d: &[Draw], precision: u32) -> Vec<pb::BucketDraw> {
    d.iter()
        .map(|d| pb::BucketDraw {
            bucket_id: d.bucket_id,
            amount: money::render(d.amount, precision),
            expires_at: d.expires_at.map(Into::into),
        })
        .collect()
}

/// Renders the result of the command's main (last) event, amounts with the
/// currency's `precision`.
pub(super) fn result_of(
    events: &[Event],
    now: DateTime<Utc>,
    precision: u32,
) -> pb::OperationResult {
    // The command's own event: expiries (of buckets and lapsed holds) may
    // come before or after it.
    let Some(main) = events
        .iter()
        .rev()
        .find(|e| !matches!(e, Event::Expired { .. } | Event::HoldExpired { .. }))
        .or(events.last())
    else {
        return pb::OperationResult::default();
    };
    let (key, id, amount, moved, after) = match main {
        Event::Accrued {
            key,
            operation_id,
            amount,
            bucket,
            after,
            ..
        } => (
            key,
            operation_id.clone(),
            *amount,
            vec![Draw {
                bucket_id: bucket.id,
                amount: *amount,
                expires_at: bucket.expires_at,
            }],
            after,
        ),
        Event::Withdrawn {
            key,
            operation_id,
            amount,
            draws,
            after,
            ..
        }
        | Event::Refunded {
            key,
            operation_id,
            amount,
            draws,
            after,
            ..
        } => (key, operation_id.clone(), *amount, draws.clone(), after),
        Event::Held {
            key,
            hold_id,
            amount,
            draws,
            after,
            ..
        } => (key, hold_id.clone(), *amount, draws.clone(), after),
        Event::Captured {
            key,
            operation_id,
            amount,
            captured,
            after,
            ..
        } => (key, operation_id.clone(), *amount, captured.clone(), after),
        Event::Released {
            key,
            hold_id,
            amount,
            returned,
            after,
            ..
        }
        | Event::HoldExpired {
            key,
            hold_id,
            amount,
            returned,
            after,
            ..
        } => (key, hold_id.clone(), *amount, returned.clone(), after),
        Event::Expired {
            key, amount, after, ..
        } => (key, String::new(), *amount, Vec::new(), after),
        Event::PendingAccrued {
            key,
            pending,
            after,
        } => (
            key,
            pending.operation_id.clone(),
            pending.amount,
            Vec::new(),
            after,
        ),
        Event::PendingDropped {
            key,
            operation_id,
            amount,
            after,
            ..
        } => (key, operation_id.clone(), *amount, Vec::new(), after),
        // Rendered by `settlement_of`.
        Event::PurchaseConfirmed {
            key,
            operation_id,
            after,
            ..
        }
        | Event::PurchaseCancelled {
            key,
            operation_id,
            after,
            ..
        } => (key, operation_id.clone(), Decimal::ZERO, Vec::new(), after),
        // Never a command's own event; an opening moves nothing.
        Event::Opened { key, .. } => (key, String::new(), Decimal::ZERO, Vec::new(), &NOTHING),
    };
    let (uncollected, debt) = match main {
        Event::Refunded {
            uncollected, debt, ..
        } => (*uncollected, *debt),
        Event::Accrued { debt_repaid, .. } => (Decimal::ZERO, *debt_repaid),
        _ => (Decimal::ZERO, Decimal::ZERO),
    };
    pb::OperationResult {
        operation_id: id,
        account: Some(pb::AccountRef {
            member_id: key.member_id.clone(),
            currency: key.currency.clone(),
        }),
        amount: money::render(amount, precision),
        draws: draws(&moved, precision),
        balance_after: Some(pb::BalanceAfter {
            available: money::render(after.available, precision),
            held: money::render(after.held, precision),
        }),
        recorded_at: Some(now.into()),
        uncollected: money::render(uncollected, precision),
        debt: money::render(debt, precision),
    }
}

/// One account's balance as `GetBalance` answers it, amounts with the
/// currency's precision.
pub(super) fn balance_of(s: &AccountState, now: DateTime<Utc>) -> pb::AccountBalance {
    let precision = s.currency.precision;
    let next = s.account.next_expiry(now);
    pb::AccountBalance {
        currency: s.currency.id.clone(),
        opened: s.account.has_events(),
        available: money::render(s.account.available(now), precision),
        held: money::render(s.account.held(now), precision),
        next_expiring_amount: money::render(next.map_or(Decimal::ZERO, |(_, a)| a), precision),
        next_expiry: next.map(|(t, _)| t.into()),
        pending: money::render(s.account.pending(now), precision),
        debt: money::render(s.account.debt(), precision),
        lifetimes: s
            .account
            .lifetimes(now)
            .into_iter()
            .map(|(at, amount)| pb::ExpiringAmount {
                amount: money::render(amount, precision),
                expires_at: at.map(Into::into),
            })
            .collect(),
    }
}

/// Renders what a confirm or cancel did: the holds it captured (released),
/// the pending accruals it committed (dropped), the balances after.
pub(super) fn settlement_of(
    events: &[Event],
    now: DateTime<Utc>,
    precision: u32,
) -> pb::PurchaseSettlement {
    let amount = |a: &Decimal| money::render(*a, precision);
    let mut out = pb::PurchaseSettlement {
        recorded_at: Some(now.into()),
        ..Default::default()
    };
    for e in events {
        match e {
            Event::Captured {
                hold_id,
                operation_id,
                amount: a,
                ..
            }
            | Event::Released {
                hold_id,
                operation_id,
                amount: a,
                ..
            } => out.holds.push(pb::SettledHold {
                hold_id: hold_id.clone(),
                operation_id: operation_id.clone(),
                amount: amount(a),
            }),
            Event::Accrued {
                operation_id,
                amount: a,
                bucket,
                ..
            } => out.accruals.push(pb::SettledAccrual {
                operation_id: operation_id.clone(),
                amount: amount(a),
                bucket: Some(pb::Bucket {
                    id: bucket.id,
                    expires_at: bucket.expires_at.map(Into::into),
                    lifetime: bucket.lifetime.clone(),
                }),
            }),
            Event::PendingDropped {
                operation_id,
                amount: a,
                ..
            } => out.accruals.push(pb::SettledAccrual {
                operation_id: operation_id.clone(),
                amount: amount(a),
                bucket: None,
            }),
            Event::PurchaseConfirmed {
                key,
                operation_id,
                purchase_id,
                after,
                ..
            }
            | Event::PurchaseCancelled {
                key,
                operation_id,
                purchase_id,
                after,
                ..
            } => {
                out.operation_id = operation_id.clone();
                out.purchase_id = purchase_id.clone();
                out.account = Some(pb::AccountRef {
                    member_id: key.member_id.clone(),
                    currency: key.currency.clone(),
                });
                out.balance_after = Some(pb::BalanceAfter {
                    available: money::render(after.available, precision),
                    held: money::render(after.held, precision),
                });
            }
            _ => {}
        }
    }
    // Expiries after the marker (an old offline cheque's bucket) moved the
    // balance further: the last event's balances are the ones after it all.
    if let Some(last) = events.last().and_then(Event::after) {
        out.balance_after = Some(pb::BalanceAfter {
            available: money::render(last.available, precision),
            held: money::render(last.held, precision),
        });
    }
    out
}
