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
        let take = left.min(d.amount);
        if !take.is_zero() {
            first.push(Draw {
                amount: take,
                ..d.clone()
            });
        }
        if d.amount > take {
            rest.push(Draw {
                amount: d.amount - take,
                ..d.clone()
            });
        }
        left -= take;
    }
    (first, rest)
}

/// Balances after `event`, from the balances before it.
pub(super) fn shift(b: Balances, event: &Event) -> Balances {
    let sum = |d: &[Draw]| d.iter().map(|d| d.amount).sum::<Decimal>();
    match event {
        Event::Opened { .. } => b,
        Event::Accrued { amount, .. } => Balances {
            available: b.available + amount,
            ..b
        },
        Event::Withdrawn { amount, .. } | Event::Expired { amount, .. } => Balances {
            available: b.available - amount,
            ..b
        },
        Event::Held { amount, .. } => Balances {
            available: b.available - amount,
            held: b.held + amount,
        },
        Event::Captured {
            amount, returned, ..
        } => {
            let back = sum(returned);
            Balances {
                available: b.available + back,
                held: b.held - amount - back,
            }
        }
        Event::Released { amount, .. } => Balances {
            available: b.available + amount,
            held: b.held - amount,
        },
        Event::Refunded { amount, credit, .. } => Balances {
            available: if *credit {
                b.available + amount
            } else {
                b.available - amount
            },
            ..b
        },
    }
}

/// Whether `event` puts amounts back into a bucket whose expiry has passed.
pub(super) fn returns_into_due_bucket(event: &Event, now: DateTime<Utc>) -> bool {
    let due = |d: &[Draw]| d.iter().any(|d| d.expires_at.is_some_and(|t| t <= now));
    match event {
        Event::Captured { returned, .. } | Event::Released { returned, .. } => due(returned),
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

pub(super) fn set_after(event: &mut Event, balances: Balances) {
    match event {
        Event::Accrued { after, .. }
        | Event::Withdrawn { after, .. }
        | Event::Held { after, .. }
        | Event::Captured { after, .. }
        | Event::Released { after, .. }
        | Event::Refunded { after, .. }
        | Event::Expired { after, .. } => *after = balances,
        Event::Opened { .. } => {}
    }
}
