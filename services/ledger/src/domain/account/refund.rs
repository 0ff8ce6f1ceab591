//! Refunds: of a debit (withdrawal, capture) the amounts go back to the
//! buckets they came from; of a credit (accrual) the points are taken back
//! from what is left of the accrual's own bucket, and what is no longer there
//! is handled by the refund's [`Shortfall`]: reported (`Uncollected`), taken
//! from the member's other buckets and then recorded as debt (`Debt`), or
//! the refund is refused (`Refuse`). A balance never goes negative.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::super::model::Shortfall;
use super::super::rules::{is_due, split_draws};
use super::{Account, AccountKey, Context, Draw, Event, LedgerError};

/// What a refund of a credit takes: the draws, what was not there, the debt.
struct Taken {
    draws: Vec<Draw>,
    uncollected: Decimal,
    debt: Decimal,
}

fn sum(draws: &[Draw]) -> Decimal {
    draws
        .iter()
        .fold(Decimal::ZERO, |s, d| s.saturating_add(d.amount))
}

impl Account {
    /// Decides a refund of `original_operation_id`.
    #[allow(clippy::too_many_arguments)] // the command's fields
    pub(super) fn decide_refund(
        &self,
        key: &AccountKey,
        operation_id: &str,
        original_operation_id: &str,
        amount: Option<Decimal>,
        context: &Context,
        now: DateTime<Utc>,
        shortfall: Shortfall,
    ) -> Result<Event, LedgerError> {
        self.ensure_new_operation(operation_id)?;
        let original = self
            .operations
            .get(original_operation_id)
            .ok_or_else(|| LedgerError::UnknownOperation(original_operation_id.to_owned()))?;
        if !original.refundable {
            return Err(LedgerError::NotRefundable(original_operation_id.to_owned()));
        }
        let remaining = original.amount.saturating_sub(original.refunded);
        if remaining <= Decimal::ZERO {
            return Err(LedgerError::AlreadyRefunded(
                original_operation_id.to_owned(),
            ));
        }
        let requested = amount.unwrap_or(remaining);
        if requested > remaining || requested.is_zero() {
            return Err(LedgerError::RefundExceedsOriginal {
                remaining,
                requested,
            });
        }
        let taken = if original.credit {
            self.take_back(&original.draws, requested, now, shortfall)?
        } else {
            // Give back to the buckets drawn from, latest-expiring first,
            // skipping what earlier refunds gave back.
            let (_, not_refunded_tail) =
                split_draws(&original.draws, remaining.saturating_sub(requested));
            Taken {
                draws: split_draws(&not_refunded_tail, requested).0,
                uncollected: Decimal::ZERO,
                debt: Decimal::ZERO,
            }
        };
        Ok(Event::Refunded {
            key: key.clone(),
            operation_id: operation_id.to_owned(),
            original_operation_id: original_operation_id.to_owned(),
            amount: sum(&taken.draws),
            uncollected: taken.uncollected,
            draws: taken.draws,
            credit: !original.credit,
            context: context.clone(),
            after: Default::default(),
            debt: taken.debt,
        })
    }

    /// Takes `requested` of an accrual back: first what is left of its own
    /// bucket, then as `shortfall` says.
    fn take_back(
        &self,
        original: &[Draw],
        requested: Decimal,
        now: DateTime<Utc>,
        shortfall: Shortfall,
    ) -> Result<Taken, LedgerError> {
        let mut draws = self.plan_refund_of_credit(original, requested, now);
        let own = sum(&draws);
        let missing = requested.saturating_sub(own);
        if missing.is_zero() {
            return Ok(Taken {
                draws,
                uncollected: Decimal::ZERO,
                debt: Decimal::ZERO,
            });
        }
        match shortfall {
            Shortfall::Uncollected => Ok(Taken {
                draws,
                uncollected: missing,
                debt: Decimal::ZERO,
            }),
            Shortfall::Refuse => Err(LedgerError::RefundShortfall {
                left: own,
                requested,
            }),
            Shortfall::Debt => {
                let own_bucket = draws.first().map(|d| d.bucket_id);
                let others: Vec<_> = self
                    .buckets()
                    .into_iter()
                    .filter(|b| Some(b.id) != own_bucket)
                    .collect();
                let spendable = others
                    .iter()
                    .filter(|b| !is_due(b, now))
                    .fold(Decimal::ZERO, |s, b| s.saturating_add(b.amount));
                let from_others = missing.min(spendable);
                draws.extend(self.draw_in_order(others, from_others, now)?);
                Ok(Taken {
                    draws,
                    uncollected: Decimal::ZERO,
                    debt: missing.saturating_sub(from_others),
                })
            }
        }
    }

    /// Plans taking an accrual back: at most `amount`, and only from what is
    /// left (spendable) in the accrual's own bucket — none when it expired or
    /// was spent. Other buckets are never drawn on.
    fn plan_refund_of_credit(
        &self,
        original: &[Draw],
        amount: Decimal,
        now: DateTime<Utc>,
    ) -> Vec<Draw> {
        original
            .first()
            .and_then(|d| self.buckets.get(&d.bucket_id))
            .filter(|b| !is_due(b, now) && b.amount > Decimal::ZERO)
            .map(|b| Draw {
                bucket_id: b.id,
                amount: amount.min(b.amount),
                expires_at: b.expires_at,
            })
            .into_iter()
            .collect()
    }
}
