//! Refund of a confirmed purchase, whole or by lines: the shares of the
//! returned quantities (cumulative, exact), then the ledger gives back the
//! points paid on them (refunds of the captures, hold by hold in payment
//! order), takes back the points they earned (a refund of the accrual, with
//! the configured shortfall policy for points already spent: debt by
//! default; never a negative balance) and takes back the cash their
//! card-load lines loaded; the money goes back onto the gift certificates
//! that paid, first, up to what each paid. The take-backs go first, the cash before the
//! points: a refusal of the first leaves nothing done. With the default
//! policies (`debt`, `uncollected`) the points' take-back is never refused;
//! with `refuse` it can be, after the cash was taken back — a known gap
//! (the cash's take-back is not compensated).

use rust_decimal::Decimal;

use super::{Member, Reply, Step, Steps, ledger_refusal};
use crate::domain::giftcard::split;
use crate::domain::ids::LedgerIds;
use crate::domain::purchase::{Purchase, PurchaseError, Record, RefundTotals, StepRef};
use crate::domain::refund::{RefundError, shares};
use crate::error::ApiError;
use crate::upstream::Shortfall;

/// The capture of `hold_id` by the ledger's confirm (its refundable id).
fn capture_of(hold_id: &str) -> String {
    format!("purchase/{hold_id}")
}

/// How `amount` more of the points paid back splits over the purchase's
/// holds, when `before` were paid back already: hold `i` covers the points
/// from the sum of the holds before it up to that plus its own.
fn over_holds(state: &Purchase, before: Decimal, amount: Decimal) -> Vec<(String, Decimal)> {
    let parts: Vec<Decimal> = state.payments.iter().map(|p| p.points).collect();
    split(&parts, before, amount)
        .into_iter()
        .map(|(i, part)| (state.payments[i].hold_id.clone(), part))
        .collect()
}

impl Steps {
    /// Refund: `lines` (position, quantity) of the confirmed purchase, or
    /// everything left when empty.
    pub async fn refund(
        &self,
        step: &Step,
        lines: Vec<(u32, Decimal)>,
        reply: Reply<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        self.run(step, reply, async move |state, m, r| {
            self.refund_on_ledger(step, state, m, r, &lines).await
        })
        .await
    }

    async fn refund_on_ledger(
        &self,
        step: &Step,
        state: &Purchase,
        m: &Member,
        step_ref: StepRef,
        lines: &[(u32, Decimal)],
    ) -> Result<Record, ApiError> {
        let rules = self.rules_at(state.opened_at);
        let probe = Record::Refunded {
            lines: Vec::new(),
            totals: RefundTotals::default(),
        };
        if let Err(e) = state.check(&probe, &m.id) {
            return Ok(Record::Refused(e));
        }
        let shares = match shares(&state.purchased_lines(), &state.refunded, lines) {
            Ok(s) => s,
            Err(
                e @ (RefundError::UnknownPosition(_)
                | RefundError::ExceedsLine { .. }
                | RefundError::NothingLeft
                | RefundError::BadQuantity),
            ) => {
                return Ok(Record::Refused(PurchaseError::RefundExceedsPurchase(
                    e.to_string(),
                )));
            }
        };
        let sum = |f: fn(&crate::domain::refund::RefundShare) -> Decimal| -> Decimal {
            shares.iter().map(f).sum()
        };
        let returned = sum(|s| s.returned_points);
        let taken = sum(|s| s.taken_back_points);
        let money = sum(|s| s.money);
        let card_load_cash: Decimal = shares
            .iter()
            .filter(|s| {
                state
                    .lines
                    .iter()
                    .any(|l| l.position == s.position && l.card_load)
            })
            .map(|s| s.money)
            .sum();
        let ids = LedgerIds::of(&state.purchase_id);
        let context = self.context(step_ref, state, None);
        let bonus = &rules.bonus_currency;
        let refusal = |e| ledger_refusal(e, Decimal::ZERO, &state.purchase_id).map(Record::Refused);
        let pending = state.pending.clone().unwrap_or_default();
        let mut totals = RefundTotals {
            returned_points: returned,
            money,
            ..RefundTotals::default()
        };
        if card_load_cash > Decimal::ZERO && !pending.charge_operation_id.is_empty() {
            let id = ids.refund(&step.operation_id, "cash");
            let cash = &rules.cash_currency;
            if let Err(e) = self
                .upstream
                .refund(
                    &id,
                    &m.id,
                    cash,
                    &pending.charge_operation_id,
                    card_load_cash,
                    self.shortfall,
                    &context,
                )
                .await
            {
                return refusal(e);
            }
        }
        if taken > Decimal::ZERO && !pending.accrual_operation_id.is_empty() {
            let id = ids.refund(&step.operation_id, "take");
            match self
                .upstream
                .refund(
                    &id,
                    &m.id,
                    bonus,
                    &pending.accrual_operation_id,
                    taken,
                    self.shortfall,
                    &context,
                )
                .await
            {
                Ok(r) => {
                    totals.taken_back_points = r.amount;
                    totals.uncollected_points = r.uncollected;
                    totals.debt_points = r.debt;
                }
                Err(e) => return refusal(e),
            }
        }
        // Points and money paid are given back last: the take-backs above
        // are the ones that can be refused, and a refusal must leave nothing
        // done.
        for (i, (hold_id, part)) in over_holds(state, state.returned_points, returned)
            .into_iter()
            .enumerate()
        {
            let id = ids.refund(&step.operation_id, &format!("give{i}"));
            if let Err(e) = self
                .upstream
                .refund(
                    &id,
                    &m.id,
                    bonus,
                    &capture_of(&hold_id),
                    part,
                    Shortfall::Uncollected,
                    &context,
                )
                .await
            {
                return refusal(e);
            }
        }
        // Of the money, the gift certificates get theirs back first (each
        // slice under its own key: a retry restores nothing twice).
        totals.gift_card_money = self.restore_gift_cards(state, money - returned).await?;
        Ok(Record::Refunded {
            lines: shares,
            totals,
        })
    }
}
