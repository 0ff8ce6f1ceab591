//! Small pure rules of the account: splitting draws, the balance change of
//! each event, and expiry tests.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::model::{Balances, Bucket, Draw, Event};

/// Splits `draws` into the first `amount` (in order) and the rest.
pub(super) fn split_draws(draws: &[Draw], amount: Decimal) -> (Vec<Draw>, Vec<Draw>) {
    let mut left = amount;
    let mut first = Vec::new();
    let mut rest = Vec::new();
    for d in draws {
        let take = left.min(d.amount).max(Decimal::ZERO);
        if !take.is_zero() {
            first.push(Draw {
                amount: take,
                ..d.clone()
            });
        }
        // Both non-negative with take <= each: the differences cannot overflow.
        let remainder = d.amount.saturating_sub(take);
        if remainder > Decimal::ZERO {
            rest.push(Draw {
                amount: remainder,
                ..d.clone()
            });
        }
        left = left.saturating_sub(take);
    }
    (first, rest)
}

type Op = fn(Decimal, Decimal) -> Option<Decimal>;

/// Balances after `event` from `b`, adding and subtracting with `add` / `sub`.
fn shift_with(b: Balances, event: &Event, add: Op, sub: Op) -> Option<Balances> {
    Some(match event {
        // Pending amounts are not spendable: nothing moves until a confirm
        // turns them into accruals (their own events).
        Event::Opened { .. }
        | Event::PendingAccrued { .. }
        | Event::PendingDropped { .. }
        | Event::PurchaseConfirmed { .. }
        | Event::PurchaseCancelled { .. } => b,
        Event::Accrued {
            amount,
            debt_repaid,
            ..
        } => Balances {
            available: add(b.available, sub(*amount, *debt_repaid)?)?,
            ..b
        },
        Event::Withdrawn { amount, .. } | Event::Expired { amount, .. } => Balances {
            available: sub(b.available, *amount)?,
            ..b
        },
        Event::Held { amount, .. } => Balances {
            available: sub(b.available, *amount)?,
            held: add(b.held, *amount)?,
        },
        Event::Captured {
            amount, returned, ..
        } => {
            let back = returned
                .iter()
                .try_fold(Decimal::ZERO, |s, d| add(s, d.amount))?;
            Balances {
                available: add(b.available, back)?,
                held: sub(sub(b.held, *amount)?, back)?,
            }
        }
        Event::Released { amount, .. } | Event::HoldExpired { amount, .. } => Balances {
            available: add(b.available, *amount)?,
            held: sub(b.held, *amount)?,
        },
        Event::Refunded { amount, credit, .. } => Balances {
            available: if *credit {
                add(b.available, *amount)?
            } else {
                sub(b.available, *amount)?
            },
            ..b
        },
    })
}

/// Balances after `event`, from the balances before it; `None` when a
/// balance would leave what a decimal can hold (the command is refused).
pub(super) fn shift(b: Balances, event: &Event) -> Option<Balances> {
    shift_with(b, event, Decimal::checked_add, Decimal::checked_sub)
}

/// Balances after an event already decided (folding the log): [`shift`],
/// saturating instead of failing. Every event this code decides passed the
/// checked [`shift`], so this never saturates on such a log; it only keeps a
/// replay of anything else from panicking.
pub(super) fn shift_folded(b: Balances, event: &Event) -> Balances {
    shift_with(
        b,
        event,
        |x, y| Some(x.saturating_add(y)),
        |x, y| Some(x.saturating_sub(y)),
    )
    .unwrap_or(b)
}

/// Whether `event` puts amounts back into a bucket whose expiry has passed.
pub(super) fn returns_into_due_bucket(event: &Event, now: DateTime<Utc>) -> bool {
    let due = |d: &[Draw]| d.iter().any(|d| d.expires_at.is_some_and(|t| t <= now));
    match event {
        Event::Captured { returned, .. }
        | Event::Released { returned, .. }
        | Event::HoldExpired { returned, .. } => due(returned),
        Event::Refunded {
            draws,
            credit: true,
            ..
        } => due(draws),
        _ => false,
    }
}

pub(super) fn is_due(bucket: &Bucket, now: DateTime<Utc>) -> bool {
    bucket.expires_at.is_some_and(|t| t <= now)
}
