//! Bonus: the points the purchase earns and the cash its card-load lines
//! load, pending in the ledger until Confirm; the gift certificates of its
//! `pays` are held first (a refusal of either leaves nothing held).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{BonusInput, Member, Reply, Step, Steps, ledger_refusal, refusal_of};
use crate::domain::calc::{self, Calculation};
use crate::domain::cheque::Cheque;
use crate::domain::ids::LedgerIds;
use crate::domain::purchase::{Pending, Purchase, PurchaseError, Record, StepRef};
use crate::error::ApiError;
use crate::upstream::PendingKind;

impl Steps {
    /// Bonus: the points the purchase earns (and the cash its card-load
    /// lines load), pending in the ledger until Confirm.
    pub async fn bonus(
        &self,
        step: &Step,
        input: BonusInput,
        reply: Reply<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        self.run(step, reply, async move |state, m, r| {
            self.earn(step, state, m, r, input).await
        })
        .await
    }

    async fn earn(
        &self,
        step: &Step,
        state: &Purchase,
        m: &Member,
        step_ref: StepRef,
        input: BonusInput,
    ) -> Result<Record, ApiError> {
        let rules = self.rules_at(step.operation_date);
        let BonusInput {
            cheque,
            points_paid,
            gift_cards,
            template_id,
            language,
        } = input;
        let probe = Record::BonusCalculated {
            cheque: Cheque::default(),
            calc: Calculation::default(),
            pending: Pending::default(),
        };
        if let Err(e) = state.check(&probe, &m.id) {
            return Ok(Record::Refused(e));
        }
        if points_paid != state.paid() {
            return Ok(Record::Refused(PurchaseError::DifferentCheque(format!(
                "the cheque says {points_paid} points were paid; the purchase's payments hold {}",
                state.paid()
            ))));
        }
        if !state.payments.is_empty()
            && let Some(why) = calc::differs_from_paid(&state.lines, &cheque)
        {
            return Ok(Record::Refused(PurchaseError::DifferentCheque(why)));
        }
        let mut calc = match Calculation::of(&rules, &cheque) {
            Ok(c) => c,
            Err(e) => return Ok(Record::Refused(refusal_of(e))),
        };
        let paid: BTreeMap<u32, Decimal> =
            state.lines.iter().map(|l| (l.position, l.paid)).collect();
        if let Err(e) = calc::earn(&rules, &mut calc, &cheque, &paid) {
            return Ok(Record::Refused(refusal_of(e)));
        }
        let held = match self
            .hold_gift_cards(step, &gift_cards, &rules.cash_currency)
            .await?
        {
            Ok(held) => held,
            Err(refused) => return Ok(Record::Refused(refused)),
        };
        let ids = LedgerIds::of(&step.purchase_id);
        let context = self.context(step_ref, state, Some(&cheque));
        let article_description = cheque
            .lines
            .iter()
            .filter(|l| rules.is_card_load(l))
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut pending = Pending {
            points: calc.earned,
            charged: calc.charged,
            template_id,
            article_description,
            language,
            gift_cards: held,
            ..Pending::default()
        };
        for (amount, kind) in [
            (calc.earned, PendingKind::Points),
            (calc.charged, PendingKind::Charge),
        ] {
            if amount <= Decimal::ZERO {
                continue;
            }
            let (id, currency, lifetime) = match kind {
                PendingKind::Points => (
                    ids.accrual("bonus"),
                    &rules.bonus_currency,
                    rules.lifetime.as_str(),
                ),
                PendingKind::Charge => (ids.charge("bonus"), &rules.cash_currency, ""),
            };
            let done = self
                .upstream
                .accrue_pending(
                    &id,
                    &m.id,
                    currency,
                    amount,
                    lifetime,
                    kind,
                    self.ledger_ttl_secs,
                    &context,
                )
                .await;
            if let Err(e) = done {
                let refusal = ledger_refusal(e, amount, &step.purchase_id)?;
                // Refused: the gift certificates' holds go back now (else
                // they would lapse); an outage keeps them for the retry.
                self.release_gift_cards(&pending.gift_cards).await;
                return Ok(Record::Refused(refusal));
            }
            match kind {
                PendingKind::Points => pending.accrual_operation_id = id,
                PendingKind::Charge => pending.charge_operation_id = id,
            }
        }
        Ok(Record::BonusCalculated {
            cheque,
            calc,
            pending,
        })
    }
}
