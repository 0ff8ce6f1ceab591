//! Confirm, cancel and timeout: the ledger settles the purchase's holds and
//! pending accruals on each account in one command, the certificates
//! service captures or releases its gift certificates, then the step is
//! recorded.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Member, Reply, Step, Steps, Who, ledger_refusal};
use crate::domain::calc::Calculation;
use crate::domain::ids::{LedgerIds, mask_short};
use crate::domain::purchase::{Device, Purchase, PurchaseError, Record, StepRef};
use crate::error::ApiError;
use crate::upstream::{HistoryPayment, Item, Settled};

/// What the ledger settled on an account before the purchase recorded it:
/// the purchase's one hold and pending accrual (of points on the bonus
/// account, of cash on the other).
fn settled_by_ledger(state: &Purchase, bonus: bool) -> Settled {
    let pending = state.pending.as_ref();
    if bonus {
        Settled {
            holds: state.paid(),
            accruals: pending.map_or(Decimal::ZERO, |p| p.points),
        }
    } else {
        Settled {
            holds: Decimal::ZERO,
            accruals: pending.map_or(Decimal::ZERO, |p| p.charged),
        }
    }
}

/// What a till asks of a purchase's holds and pending accruals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Confirm.
    Confirm,
    /// Cancel: the whole purchase (`None`), or by one of its operations,
    /// which cancels the purchase too (see [`Purchase::check_cancel_target`]).
    Cancel(Option<String>),
}

impl Steps {
    /// Confirm or cancel the purchase: one ledger command per account
    /// settles its holds and pending accruals together.
    pub async fn settle(
        &self,
        step: &Step,
        settle: Settle,
        reply: Reply<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        self.run(step, reply, async move |state, m, r| {
            if let Settle::Cancel(Some(target)) = &settle
                && let Err(e) = state.check_cancel_target(target)
            {
                return Ok(Record::Refused(e));
            }
            let confirm = settle == Settle::Confirm;
            self.settle_on_ledger(state, m, r, confirm, None).await
        })
        .await
    }

    /// The ledger's part of a confirm or cancel (or a timeout: `deadline`).
    async fn settle_on_ledger(
        &self,
        state: &Purchase,
        m: &Member,
        step_ref: StepRef,
        confirm: bool,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Record, ApiError> {
        let rules = self.rules_at(state.opened_at);
        let probe = match (confirm, deadline) {
            (true, _) => Record::Confirmed {
                cheque_number: String::new(),
                calc: Calculation::default(),
                withdrawn: Decimal::ZERO,
                accrued: Decimal::ZERO,
                charged: Decimal::ZERO,
                gift_cards: Decimal::ZERO,
            },
            (false, Some(deadline)) => Record::TimedOut {
                deadline,
                gift_cards: Decimal::ZERO,
            },
            (false, None) => Record::Cancelled {
                released: Decimal::ZERO,
                dropped: Decimal::ZERO,
                gift_cards: Decimal::ZERO,
            },
        };
        if let Err(e) = state.check(&probe, &m.id) {
            return Ok(Record::Refused(e));
        }
        if confirm
            && deadline.is_none()
            && let Some(lapsed) = self.lapsed_gift_card(state, self.now())
        {
            return Ok(Record::Refused(lapsed));
        }
        let ids = LedgerIds::of(&state.purchase_id);
        let mut context = self.context(step_ref, state, None);
        if confirm {
            context.items = state
                .lines
                .iter()
                .map(|l| Item {
                    name: l.name.clone(),
                    count: l.quantity,
                    amount: l.amount,
                })
                .collect();
            context.tenders = state
                .gift_cards()
                .iter()
                .map(|g| HistoryPayment {
                    amount: g.amount,
                    currency: rules.cash_currency.clone(),
                    description: format!("Gift certificate {}", mask_short(&g.masked)),
                    reference: g.hold_id.clone(),
                })
                .collect();
        }
        let mut accounts = vec![&rules.bonus_currency];
        let charged = state.pending.as_ref().map_or(Decimal::ZERO, |p| p.charged);
        if charged > Decimal::ZERO {
            accounts.push(&rules.cash_currency);
        }
        let mut totals = Vec::new();
        for currency in accounts {
            // A timeout has its own ledger id: its request (the service's
            // context) differs from a till's Cancel of the same purchase.
            let id = match (confirm, deadline) {
                (true, None) => ids.confirm(currency),
                (true, Some(_)) => ids.finish_confirm(currency),
                (false, None) => ids.cancel(currency),
                (false, Some(_)) => ids.timeout(currency),
            };
            let done_already = if confirm {
                "PURCHASE_CONFIRMED"
            } else {
                "PURCHASE_CANCELLED"
            };
            match self
                .upstream
                .settle(confirm, &id, &m.id, currency, &context)
                .await
            {
                Ok(s) => totals.push(s),
                // A till's Cancel (Confirm) reached the ledger but its record
                // was lost: the sweep records what the ledger did already.
                Err(e) if deadline.is_some() && e.reason() == Some(done_already) => {
                    totals.push(settled_by_ledger(state, currency == &rules.bonus_currency));
                }
                Err(e) => {
                    return ledger_refusal(e, Decimal::ZERO, &state.purchase_id)
                        .map(Record::Refused);
                }
            }
        }
        // The ledger first: a confirm it refused (lapsed) spends no gift
        // certificate; one it took can always capture them (they are held
        // for longer than the ledger's hold).
        let gift_cards = self
            .settle_gift_cards(state, confirm, deadline.is_some())
            .await?;
        let bonus = totals.first().cloned().unwrap_or_default();
        let cash = totals.get(1).cloned().unwrap_or_default();
        Ok(match (confirm, deadline) {
            (true, _) => Record::Confirmed {
                cheque_number: state.cheque_number.clone(),
                calc: Calculation {
                    lines: state.lines.clone(),
                    total_amount: state.lines.iter().map(|l| l.amount).sum(),
                    total_discount: state.lines.iter().map(|l| l.discount).sum(),
                    payable: Decimal::ZERO,
                    earned: state.lines.iter().map(|l| l.earned).sum(),
                    charged: cash.accruals,
                },
                withdrawn: bonus.holds,
                accrued: bonus.accruals,
                charged: cash.accruals,
                gift_cards,
            },
            (false, Some(deadline)) => Record::TimedOut {
                deadline,
                gift_cards,
            },
            (false, None) => Record::Cancelled {
                released: bonus.holds,
                dropped: bonus.accruals,
                gift_cards,
            },
        })
    }

    /// The timeout of one purchase left open past `deadline`: cancelled on
    /// the ledger and recorded as timed out (its own key: a second sweep
    /// repeats it). When the ledger confirmed it already (a Confirm whose
    /// record was lost), the confirm is finished on every account and
    /// recorded instead.
    pub async fn time_out(
        &self,
        purchase_id: &str,
        deadline: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let _one_at_a_time = self.purchases.lock(purchase_id).await;
        let state = self.purchase(purchase_id)?;
        if state.member_id.is_empty() {
            return Ok(());
        }
        let step = Step {
            purchase_id: purchase_id.to_owned(),
            operation_id: format!("timeout/{purchase_id}"),
            operation_date: None,
            who: Who::Purchase,
            device: Device::default(),
            request_hash: kit::log::request_hash(purchase_id.as_bytes()),
        };
        let member = Member {
            id: state.member_id.clone(),
            masked: state.card_masked.clone(),
        };
        let step_ref = self.step_ref(&step, Some(&member));
        let mut record = self
            .settle_on_ledger(&state, &member, step_ref.clone(), false, Some(deadline))
            .await?;
        if let Record::Refused(PurchaseError::Confirmed(_)) = record {
            // A Confirm reached the ledger and its record was lost: the
            // purchase is confirmed (on every account), not timed out.
            record = self
                .settle_on_ledger(&state, &member, step_ref.clone(), true, Some(deadline))
                .await?;
        }
        match self
            .record(step_ref, record, step.request_hash, &|_, _| Vec::new())
            .await
        {
            Ok(_) | Err(ApiError::Purchase(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
