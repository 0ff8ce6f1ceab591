//! A purchase's footprint on the account: pending accruals, and the confirm
//! or cancel that settles all of the purchase's holds and pending accruals
//! in one decision (one append), so a crash can never split them.
//!
//! Rules:
//! - a pending accrual is not spendable and not in the booked balances; it
//!   counts as `pending` until it lapses (`lapses_at`, inclusive);
//! - a confirm captures every open hold of the purchase in full (operation
//!   id `purchase/<hold_id>`, refundable under it) and turns every pending
//!   accrual into an ordinary accrual with the same operation id; a lapsed
//!   hold or pending accrual refuses the confirm (`PurchaseLapsed`);
//! - a cancel releases every open hold of the purchase and drops every
//!   pending accrual, lapsed or not;
//! - a settled purchase takes no new hold or pending accrual, and is
//!   settled once: another confirm or cancel under a new operation id is
//!   refused with the state it is in.

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;
use rust_decimal::Decimal;

use super::super::rules::shift;
use super::holds::HoldStatus;
use super::{Account, AccountKey, Bucket, Command, Context, Event, LedgerError, Refundable};
use crate::domain::model::{Pending, WithdrawType};

/// Operation-id prefix of the captures and releases a confirm or cancel
/// records for a purchase's holds (`purchase/<hold_id>`).
pub const PURCHASE_OPERATION_PREFIX: &str = "purchase/";

/// The operation id of the capture (or release) of `hold_id` by a confirm
/// (or cancel) of its purchase.
pub fn hold_settlement_id(hold_id: &str) -> String {
    format!("{PURCHASE_OPERATION_PREFIX}{hold_id}")
}

/// How a purchase was settled on the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    Confirmed,
    Cancelled,
}

/// Which way a purchase is being settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle<'a> {
    /// With the cheque's items and other payments (for the history).
    Confirm(&'a [ChequeItem], &'a [Tender]),
    Cancel,
}

/// One item of a confirmed purchase's cheque, for the member's history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChequeItem {
    /// Article name.
    pub description: String,
    /// Quantity.
    pub count: Decimal,
    /// Paid for the line after discounts.
    pub amount: Decimal,
}

/// A payment of a purchase besides points (a gift certificate), for the
/// member's history: a withdrawal of its type on the purchase's row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tender {
    /// Its type (a gift card).
    pub withdraw_type: WithdrawType,
    /// How much.
    pub amount: Decimal,
    /// Its currency.
    pub currency: String,
    /// What paid (masked).
    pub description: String,
    /// Its id where it was taken (a gift certificate's hold).
    pub reference: String,
}

impl Account {
    /// Credited by pending accruals that have not lapsed at `now`.
    pub fn pending(&self, now: DateTime<Utc>) -> Decimal {
        self.pending
            .values()
            .filter(|p| p.lapses_at > now)
            .fold(Decimal::ZERO, |s, p| s.saturating_add(p.amount))
    }

    /// Refuses when `purchase_id` (non-empty) is settled on the account.
    pub(super) fn ensure_unsettled(&self, purchase_id: &str) -> Result<(), LedgerError> {
        match self.settled.get(purchase_id) {
            Some(Settled::Confirmed) => Err(LedgerError::PurchaseConfirmed(purchase_id.to_owned())),
            Some(Settled::Cancelled) => Err(LedgerError::PurchaseCancelled(purchase_id.to_owned())),
            None => Ok(()),
        }
    }

    /// Decides a confirm or cancel (on a scratch copy: lapsed holds and due
    /// buckets expire first); `None` for any other command.
    pub(super) fn decide_settlement(
        &self,
        command: &Command,
    ) -> Option<Result<Vec<Event>, LedgerError>> {
        let (how, key, operation_id, purchase_id, context, now) = match command {
            Command::ConfirmPurchase {
                key,
                operation_id,
                purchase_id,
                context,
                items,
                tenders,
                now,
            } => (
                Settle::Confirm(items, tenders),
                key,
                operation_id,
                purchase_id,
                context,
                *now,
            ),
            Command::CancelPurchase {
                key,
                operation_id,
                purchase_id,
                context,
                now,
            } => (
                Settle::Cancel,
                key,
                operation_id,
                purchase_id,
                context,
                *now,
            ),
            _ => return None,
        };
        let mut state = self.clone();
        let mut events = state.expire_due(key, now);
        Some(
            state
                .settle(how, key, operation_id, purchase_id, context, now)
                .map(|settled| {
                    events.extend(settled);
                    // An accrual committed into a bucket already past its
                    // expiry (an old offline cheque) expires at once.
                    events.extend(state.expire_due(key, now));
                    events
                }),
        )
    }

    /// Decides a pending accrual.
    pub(super) fn decide_pending(
        &self,
        key: &AccountKey,
        pending: &Pending,
    ) -> Result<Event, LedgerError> {
        self.ensure_new_operation(&pending.operation_id)?;
        self.ensure_unsettled(&pending.context.purchase_id)?;
        Ok(Event::PendingAccrued {
            key: key.clone(),
            pending: pending.clone(),
            after: Default::default(),
        })
    }

    /// Decides a confirm or cancel of `purchase_id` on this scratch state
    /// (lapsed holds already expired), applying each event as it goes.
    fn settle(
        &mut self,
        how: Settle,
        key: &AccountKey,
        operation_id: &str,
        purchase_id: &str,
        context: &Context,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, LedgerError> {
        self.ensure_new_operation(operation_id)?;
        self.ensure_unsettled(purchase_id)?;
        let mut holds: Vec<(String, HoldStatus, bool)> = self
            .holds
            .iter()
            .filter(|(_, h)| h.purchase_id == purchase_id)
            .map(|(id, h)| (id.clone(), h.status, h.lapsed(now)))
            .collect();
        holds.sort_by(|a, b| a.0.cmp(&b.0));
        let pending: Vec<Pending> = self
            .pending
            .values()
            .filter(|p| p.context.purchase_id == purchase_id)
            .cloned()
            .collect();
        if matches!(how, Settle::Confirm(..)) {
            let lapsed_hold = holds
                .iter()
                .any(|(_, status, lapsed)| *status == HoldStatus::Expired || *lapsed);
            if lapsed_hold || pending.iter().any(|p| p.lapses_at <= now) {
                return Err(LedgerError::PurchaseLapsed(purchase_id.to_owned()));
            }
        }
        let mut events = Vec::new();
        let (mut holds_total, mut pending_total) = (Decimal::ZERO, Decimal::ZERO);
        for (hold_id, status, _) in holds {
            if status != HoldStatus::Open {
                continue;
            }
            let Some(hold) = self.holds.get(&hold_id) else {
                continue;
            };
            let settlement_id = hold_settlement_id(&hold_id);
            self.ensure_new_operation(&settlement_id)?;
            holds_total = holds_total
                .checked_add(hold.amount)
                .ok_or(LedgerError::BalanceOutOfRange)?;
            let event = match how {
                Settle::Confirm(..) => Event::Captured {
                    key: key.clone(),
                    hold_id,
                    operation_id: settlement_id,
                    amount: hold.amount,
                    captured: hold.draws.clone(),
                    returned: Vec::new(),
                    context: context.clone(),
                    after: Default::default(),
                },
                Settle::Cancel => Event::Released {
                    key: key.clone(),
                    hold_id,
                    operation_id: settlement_id,
                    amount: hold.amount,
                    returned: hold.draws.clone(),
                    context: context.clone(),
                    after: Default::default(),
                },
            };
            self.record(event, &mut events)?;
        }
        for p in pending {
            pending_total = pending_total
                .checked_add(p.amount)
                .ok_or(LedgerError::BalanceOutOfRange)?;
            let event = match how {
                Settle::Confirm(..) => {
                    // Debt is paid first; the bucket holds the rest.
                    let debt_repaid = self.debt.min(p.amount);
                    Event::Accrued {
                        key: key.clone(),
                        operation_id: p.operation_id,
                        amount: p.amount,
                        bucket: Bucket {
                            id: self.next_bucket,
                            amount: p.amount.saturating_sub(debt_repaid),
                            expires_at: p.expires_at,
                            lifetime: p.lifetime,
                        },
                        kind: p.kind,
                        reward_type: p.reward_type,
                        context: p.context,
                        after: Default::default(),
                        debt_repaid,
                    }
                }
                Settle::Cancel => Event::PendingDropped {
                    key: key.clone(),
                    operation_id: p.operation_id,
                    purchase_id: purchase_id.to_owned(),
                    amount: p.amount,
                    after: Default::default(),
                },
            };
            self.record(event, &mut events)?;
        }
        let marker = match how {
            Settle::Confirm(items, tenders) => Event::PurchaseConfirmed {
                key: key.clone(),
                operation_id: operation_id.to_owned(),
                purchase_id: purchase_id.to_owned(),
                captured: holds_total,
                accrued: pending_total,
                context: context.clone(),
                items: items.to_vec(),
                tenders: tenders.to_vec(),
                after: Default::default(),
            },
            Settle::Cancel => Event::PurchaseCancelled {
                key: key.clone(),
                operation_id: operation_id.to_owned(),
                purchase_id: purchase_id.to_owned(),
                released: holds_total,
                dropped: pending_total,
                context: context.clone(),
                after: Default::default(),
            },
        };
        self.record(marker, &mut events)?;
        Ok(events)
    }

    /// Sets the balances after `event` (checked), folds it, keeps it.
    fn record(&mut self, mut event: Event, events: &mut Vec<Event>) -> Result<(), LedgerError> {
        let after = shift(self.booked, &event).ok_or(LedgerError::BalanceOutOfRange)?;
        event.set_after(after);
        self.apply(&event);
        events.push(event);
        Ok(())
    }

    /// Folds the purchase events; false for any other event.
    pub(super) fn fold_purchase(&mut self, event: &Event) -> bool {
        let (operation_id, settled) = match event {
            Event::PendingAccrued { pending, .. } => {
                self.pending
                    .insert(pending.operation_id.clone(), pending.clone());
                return true;
            }
            Event::PendingDropped { operation_id, .. } => {
                self.pending.remove(operation_id);
                (operation_id, None)
            }
            Event::PurchaseConfirmed {
                operation_id,
                purchase_id,
                ..
            } => (operation_id, Some((purchase_id, Settled::Confirmed))),
            Event::PurchaseCancelled {
                operation_id,
                purchase_id,
                ..
            } => (operation_id, Some((purchase_id, Settled::Cancelled))),
            _ => return false,
        };
        if let Some((purchase_id, how)) = settled {
            self.settled.entry(purchase_id.clone()).or_insert(how);
        }
        // The id is taken; nothing of it is refundable.
        self.operations
            .insert(operation_id.clone(), Refundable::taken());
        true
    }
}
