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
        // Never a command's own event; an opening moves nothing.
        Event::Opened { key, .. } => (key, String::new(), Decimal::ZERO, Vec::new(), &NOTHING),
    };
    let uncollected = match main {
        Event::Refunded { uncollected, .. } => *uncollected,
        _ => Decimal::ZERO,
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
    }
}

/// One account's balance as `GetBalance` answers it, amounts with the
/// currency's precision.
pub(super) fn balance_of(s: &AccountState, now: DateTime<Utc>) -> pb::AccountBalance {
    let precision = s.currency.precision;
    let next = s.account.next_expiry(now);
    pb::AccountBalance {
        currency: s.currency.id.clone(),
        available: money::render(s.account.available(now), precision),
        held: money::render(s.account.held(now), precision),
        next_expiring_amount: money::render(next.map_or(Decimal::ZERO, |(_, a)| a), precision),
        next_expiry: next.map(|(t, _)| t.into()),
    }
}
