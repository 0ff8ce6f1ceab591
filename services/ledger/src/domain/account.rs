//! The account aggregate: one member's balance in one currency, kept in
//! lifetime buckets, with holds and a record of operations for refunds.
//!
//! Rules:
//! - a balance never goes negative: an overdraw is refused with the
//!   available and requested amounts;
//! - withdrawals and holds draw from the soonest-expiring buckets first and
//!   record which buckets they drew from, so refunds and releases put the
//!   amounts back where they came from;
//! - a refund is linked to its original and never exceeds what is left of it;
//!   a refund of an accrual takes back only what is left in that accrual's
//!   own bucket (none once it expired or was spent) and reports the rest as
//!   uncollected: it never draws on the member's other buckets;
//! - buckets whose expiry has passed are expired (exactly once) before any
//!   other change, so nothing ever spends an expired amount;
//! - holds whose expiry has passed are released by a `HoldExpired`
//!   (exactly once) before that, and can no longer be captured or released
//!   (see [`holds`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;
use rust_decimal::Decimal;

use super::rules::{is_due, returns_into_due_bucket, shift, shift_folded, split_draws};

pub use super::model::{
    AccountKey, Balances, Bucket, Command, Context, Draw, Event, Kind, LedgerError, Pending,
};
pub use settle::{ChequeItem, PURCHASE_OPERATION_PREFIX, Tender, hold_settlement_id};

mod holds;
mod plans;
mod refund;
mod settle;

use holds::HoldState;
use settle::Settled;

/// Outcome of one line of [`Account::plan_lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// Applied now.
    Applied,
    /// Applied before (same operation id and amount).
    AlreadyApplied,
    /// Refused, with the reason.
    Rejected(String),
}

/// An operation that can be refunded.
#[derive(Debug, Clone, PartialEq)]
struct Refundable {
    /// True for credits (accruals), false for debits (withdrawals, captures).
    credit: bool,
    /// Bucket of a credit, or the draws of a debit.
    draws: Vec<Draw>,
    /// Original amount.
    amount: Decimal,
    /// Refunded so far (for an accrual, what was taken back plus what was
    /// not there to take).
    refunded: Decimal,
    /// False for refunds and releases: their ids are taken, nothing to refund.
    refundable: bool,
}

impl Refundable {
    /// An operation refundable up to `amount`: a credit taken back out of
    /// `draws` (its bucket), or a debit paid back into them.
    fn new(credit: bool, draws: Vec<Draw>, amount: Decimal) -> Self {
        Self {
            credit,
            draws,
            amount,
            refunded: Decimal::ZERO,
            refundable: true,
        }
    }

    /// An id taken by an operation with nothing to refund (a release, a
    /// purchase's settlement).
    fn taken() -> Self {
        Self {
            credit: true,
            draws: Vec::new(),
            amount: Decimal::ZERO,
            refunded: Decimal::ZERO,
            refundable: false,
        }
    }
}

/// State of one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// Balances as booked: every bucket counts until its expiry is recorded, so
    /// each event's `after` equals the running sum of the stream.
    booked: Balances,
    buckets: BTreeMap<u64, Bucket>,
    next_bucket: u64,
    holds: HashMap<String, HoldState>,
    operations: HashMap<String, Refundable>,
    /// Pending accruals of purchases not yet settled, by operation id.
    pending: BTreeMap<String, Pending>,
    /// Purchases confirmed or cancelled on the account.
    settled: HashMap<String, Settled>,
    /// Owed by the member (refunds of points already spent).
    debt: Decimal,
    /// True once any event (even an opening) is folded in.
    has_events: bool,
}

impl Account {
    /// Owed by the member: later accruals pay it first.
    pub fn debt(&self) -> Decimal {
        self.debt
    }

    /// True when the account has any event (an opening counts).
    pub fn has_events(&self) -> bool {
        self.has_events
    }

    /// Spendable amount at `now`: buckets due to expire are not spendable;
    /// what lapsed holds give back (into buckets not due) is.
    pub fn available(&self, now: DateTime<Utc>) -> Decimal {
        self.buckets
            .values()
            .filter(|b| !is_due(b, now))
            .fold(Decimal::ZERO, |s, b| s.saturating_add(b.amount))
            .saturating_add(self.lapsed_returns(now))
    }

    /// The next expiry after `now` and the amount expiring then.
    pub fn next_expiry(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Decimal)> {
        let next = self
            .buckets
            .values()
            .filter(|b| b.amount > Decimal::ZERO)
            .filter_map(|b| b.expires_at.filter(|t| *t > now))
            .min()?;
        let amount = self
            .buckets
            .values()
            .filter(|b| b.expires_at == Some(next))
            .fold(Decimal::ZERO, |s, b| s.saturating_add(b.amount));
        Some((next, amount))
    }

    /// The live buckets' balances summed per expiry, soonest first; the
    /// amount that never expires last (`None`).
    pub fn lifetimes(&self, now: DateTime<Utc>) -> Vec<(Option<DateTime<Utc>>, Decimal)> {
        let mut out: Vec<(Option<DateTime<Utc>>, Decimal)> = Vec::new();
        for b in self.buckets() {
            if b.amount <= Decimal::ZERO || b.expires_at.is_some_and(|t| t <= now) {
                continue;
            }
            match out.last_mut() {
                Some((at, sum)) if *at == b.expires_at => *sum = sum.saturating_add(b.amount),
                _ => out.push((b.expires_at, b.amount)),
            }
        }
        out
    }

    /// Buckets with a balance, soonest-expiring first.
    pub fn buckets(&self) -> Vec<&Bucket> {
        let mut v: Vec<&Bucket> = self.buckets.values().collect();
        v.sort_by_key(|b| (b.expires_at.is_none(), b.expires_at, b.id));
        v
    }

    /// Plans draws of `amount` from the soonest-expiring spendable buckets.
    fn plan_draws(&self, amount: Decimal, now: DateTime<Utc>) -> Result<Vec<Draw>, LedgerError> {
        self.draw_in_order(self.buckets(), amount, now)
    }

    /// Plans draws of `amount` from spendable buckets taken in `order`;
    /// refuses an amount above what is spendable.
    fn draw_in_order<'a>(
        &self,
        order: impl IntoIterator<Item = &'a Bucket>,
        amount: Decimal,
        now: DateTime<Utc>,
    ) -> Result<Vec<Draw>, LedgerError> {
        let available = self.available(now);
        if amount > available {
            return Err(LedgerError::InsufficientFunds {
                available,
                requested: amount,
            });
        }
        let mut left = amount;
        let mut draws = Vec::new();
        for b in order {
            if left.is_zero() {
                break;
            }
            if is_due(b, now) || b.amount.is_zero() {
                continue;
            }
            let take = left.min(b.amount);
            draws.push(Draw {
                bucket_id: b.id,
                amount: take,
                expires_at: b.expires_at,
            });
            left = left.saturating_sub(take);
        }
        Ok(draws)
    }

    fn take(&mut self, draws: &[Draw]) {
        for d in draws {
            if let Some(b) = self.buckets.get_mut(&d.bucket_id) {
                b.amount = b.amount.saturating_sub(d.amount);
            }
        }
    }

    fn give(&mut self, draws: &[Draw]) {
        for d in draws {
            if let Some(b) = self.buckets.get_mut(&d.bucket_id) {
                b.amount = b.amount.saturating_add(d.amount);
            }
        }
    }

    /// Expires every lapsed hold, then every due bucket (with what the holds
    /// gave back into it) of this (scratch) state; returns the events.
    fn expire_due(&mut self, key: &AccountKey, now: DateTime<Utc>) -> Vec<Event> {
        let mut events = self.expire_lapsed_holds(key, now);
        let mut due: Vec<(Option<DateTime<Utc>>, u64, Decimal)> = self
            .buckets
            .values()
            .filter(|b| is_due(b, now) && !b.amount.is_zero())
            .map(|b| (b.expires_at, b.id, b.amount))
            .collect();
        due.sort();
        for (expires_at, bucket_id, amount) in due {
            // Taking what is in a bucket out of the balance cannot overflow.
            events.push(self.book_folded(Event::Expired {
                key: key.clone(),
                bucket_id,
                amount,
                expired_at: expires_at.unwrap_or(now),
                after: Balances::default(),
            }));
        }
        events
    }

    /// Applies `e`, decided on this (scratch) state, with the balances
    /// after it as folding the log computes them ([`shift_folded`]): for
    /// events that cannot overflow. Returns it.
    fn book_folded(&mut self, mut e: Event) -> Event {
        let after = shift_folded(self.booked, &e);
        e.set_after(after);
        self.apply(&e);
        e
    }

    fn ensure_new_operation(&self, id: &str) -> Result<(), LedgerError> {
        if self.operations.contains_key(id) || self.pending.contains_key(id) {
            return Err(LedgerError::OperationExists(id.to_owned()));
        }
        Ok(())
    }

    fn decide_one(&self, command: &Command) -> Result<Option<Event>, LedgerError> {
        let zero = Balances::default();
        Ok(Some(match command {
            Command::Accrue {
                key,
                operation_id,
                amount,
                lifetime,
                expires_at,
                kind,
                reward_type,
                context,
                ..
            } => {
                self.ensure_new_operation(operation_id)?;
                // Debt is paid first; the bucket holds the rest.
                let debt_repaid = self.debt.min(*amount);
                let bucket = Bucket {
                    id: self.next_bucket,
                    amount: amount.saturating_sub(debt_repaid),
                    expires_at: *expires_at,
                    lifetime: lifetime.clone(),
                };
                Event::Accrued {
                    key: key.clone(),
                    operation_id: operation_id.clone(),
                    amount: *amount,
                    bucket,
                    kind: *kind,
                    reward_type: *reward_type,
                    context: context.clone(),
                    after: zero,
                    debt_repaid,
                }
            }
            Command::Withdraw {
                key,
                operation_id,
                amount,
                kind,
                withdraw_type,
                context,
                now,
            } => {
                self.ensure_new_operation(operation_id)?;
                Event::Withdrawn {
                    key: key.clone(),
                    operation_id: operation_id.clone(),
                    amount: *amount,
                    draws: self.plan_draws(*amount, *now)?,
                    kind: *kind,
                    withdraw_type: *withdraw_type,
                    context: context.clone(),
                    after: zero,
                }
            }
            Command::Hold {
                key,
                hold_id,
                amount,
                context,
                now,
                expires_at,
            } => {
                if self.holds.contains_key(hold_id) {
                    return Err(LedgerError::HoldExists(hold_id.clone()));
                }
                self.ensure_unsettled(&context.purchase_id)?;
                Event::Held {
                    key: key.clone(),
                    hold_id: hold_id.clone(),
                    amount: *amount,
                    draws: self.plan_draws(*amount, *now)?,
                    context: context.clone(),
                    after: zero,
                    expires_at: *expires_at,
                }
            }
            Command::Capture {
                key,
                operation_id,
                hold_id,
                amount,
                context,
                now,
            } => {
                self.ensure_new_operation(operation_id)?;
                let hold = self.open_hold(hold_id, *now)?;
                let requested = amount.unwrap_or(hold.amount);
                if requested > hold.amount {
                    return Err(LedgerError::CaptureExceedsHold {
                        held: hold.amount,
                        requested,
                    });
                }
                // Spend from the hold's draws in order; the rest goes back.
                let (captured, returned) = split_draws(&hold.draws, requested);
                Event::Captured {
                    key: key.clone(),
                    hold_id: hold_id.clone(),
                    operation_id: operation_id.clone(),
                    amount: requested,
                    captured,
                    returned,
                    context: context.clone(),
                    after: zero,
                }
            }
            Command::Release {
                key,
                operation_id,
                hold_id,
                context,
                now,
            } => {
                self.ensure_new_operation(operation_id)?;
                let hold = self.open_hold(hold_id, *now)?;
                Event::Released {
                    key: key.clone(),
                    hold_id: hold_id.clone(),
                    operation_id: operation_id.clone(),
                    amount: hold.amount,
                    returned: hold.draws.clone(),
                    context: context.clone(),
                    after: zero,
                }
            }
            Command::Refund {
                key,
                operation_id,
                original_operation_id,
                amount,
                context,
                now,
                shortfall,
            } => self.decide_refund(
                key,
                operation_id,
                original_operation_id,
                *amount,
                context,
                *now,
                *shortfall,
            )?,
            Command::AccruePending { key, pending, .. } => self.decide_pending(key, pending)?,
            // Settlements are decided on a scratch copy by `decide`; an
            // expiry has no event of its own.
            Command::ConfirmPurchase { .. }
            | Command::CancelPurchase { .. }
            | Command::Expire { .. } => return Ok(None),
        }))
    }
}

impl Aggregate for Account {
    type Command = Command;
    type Event = Event;
    type Error = LedgerError;

    /// Decides a command (see [`kit::aggregate::Aggregate::decide`]).
    fn decide(&self, command: &Command) -> Result<Vec<Event>, LedgerError> {
        let (key, now) = command.key_and_time();
        if let Some(settled) = self.decide_settlement(command) {
            return settled;
        }
        let due_bucket = self
            .buckets
            .values()
            .any(|b| is_due(b, now) && !b.amount.is_zero());
        if !due_bucket && !self.has_lapsed_hold(now) {
            // The common case: decide on the state as it is, no copy.
            let Some(mut e) = self.decide_one(command)? else {
                return Ok(Vec::new());
            };
            let after = shift(self.booked, &e).ok_or(LedgerError::BalanceOutOfRange)?;
            e.set_after(after);
            if !returns_into_due_bucket(&e, now) {
                return Ok(vec![e]);
            }
            let mut state = self.clone();
            state.apply(&e);
            let mut events = vec![e];
            events.extend(state.expire_due(key, now));
            return Ok(events);
        }
        // Expire what is due first, on a scratch copy, then decide on it.
        let mut state = self.clone();
        let mut events = state.expire_due(key, now);
        if let Some(mut e) = state.decide_one(command)? {
            let after = shift(state.booked, &e).ok_or(LedgerError::BalanceOutOfRange)?;
            e.set_after(after);
            let returns = returns_into_due_bucket(&e, now);
            state.apply(&e);
            events.push(e);
            // Amounts returned into a bucket past its expiry expire at once.
            if returns {
                events.extend(state.expire_due(key, now));
            }
        }
        Ok(events)
    }

    /// Folds an event (see [`kit::aggregate::Aggregate::apply`]).
    fn apply(&mut self, event: &Event) {
        self.booked = shift_folded(self.booked, event);
        self.has_events = true;
        match event {
            Event::Opened { .. } => {}
            Event::Accrued {
                operation_id,
                amount,
                bucket,
                debt_repaid,
                ..
            } => {
                self.next_bucket = self.next_bucket.max(bucket.id.saturating_add(1));
                self.debt = self.debt.saturating_sub(*debt_repaid);
                // A confirmed pending accrual becomes this accrual.
                self.pending.remove(operation_id);
                self.buckets.insert(bucket.id, bucket.clone());
                let draw = Draw {
                    bucket_id: bucket.id,
                    amount: *amount,
                    expires_at: bucket.expires_at,
                };
                self.operations.insert(
                    operation_id.clone(),
                    Refundable::new(true, vec![draw], *amount),
                );
            }
            Event::Withdrawn {
                operation_id,
                amount,
                draws,
                ..
            } => {
                self.take(draws);
                self.operations.insert(
                    operation_id.clone(),
                    Refundable::new(false, draws.clone(), *amount),
                );
            }
            Event::Held { .. }
            | Event::Captured { .. }
            | Event::Released { .. }
            | Event::HoldExpired { .. } => {
                self.fold_hold(event);
            }
            Event::PendingAccrued { .. }
            | Event::PendingDropped { .. }
            | Event::PurchaseConfirmed { .. }
            | Event::PurchaseCancelled { .. } => {
                self.fold_purchase(event);
            }
            Event::Refunded {
                operation_id,
                original_operation_id,
                amount,
                uncollected,
                draws,
                credit,
                debt,
                ..
            } => {
                if *credit {
                    self.give(draws);
                } else {
                    self.take(draws);
                }
                self.debt = self.debt.saturating_add(*debt);
                if let Some(op) = self.operations.get_mut(original_operation_id) {
                    op.refunded = op
                        .refunded
                        .saturating_add(*amount)
                        .saturating_add(*uncollected)
                        .saturating_add(*debt);
                }
                // The refund's own id is taken too; a refund is not refundable.
                self.operations.insert(
                    operation_id.clone(),
                    Refundable {
                        credit: !*credit,
                        draws: Vec::new(),
                        amount: *amount,
                        refunded: *amount,
                        refundable: false,
                    },
                );
            }
            Event::Expired {
                bucket_id, amount, ..
            } => {
                self.take(&[Draw {
                    bucket_id: *bucket_id,
                    amount: *amount,
                    expires_at: None,
                }]);
            }
        }
    }

    /// Refusals are stored under the request's key (same key, same answer,
    /// even after the balance changed), as JSON.
    fn encode_refusal(error: &LedgerError) -> Option<Vec<u8>> {
        serde_json::to_vec(error).ok()
    }

    fn decode_refusal(bytes: &[u8]) -> Option<LedgerError> {
        serde_json::from_slice(bytes).ok()
    }
}
