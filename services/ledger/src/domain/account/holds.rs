//! Holds of the account: their state, folding hold events, and expiry.
//!
//! A hold placed with an expiry lapses at that time (inclusive, like a
//! bucket): from then on it is not capturable or releasable (HOLD_EXPIRED),
//! its amount no longer counts as held but as available, and the next
//! decision on the account (the scheduler's `Expire`, or any operation)
//! records a [`Event::HoldExpired`] first, exactly once. A capture or
//! release recorded before that closes the hold for good: it never expires.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Account, AccountKey, Draw, Event, LedgerError, Refundable};

/// How a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HoldStatus {
    /// Neither captured, released nor expired (it may have lapsed, though).
    Open,
    /// Captured or released.
    Closed,
    /// Released by the ledger at its expiry.
    Expired,
}

/// An open or closed hold.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HoldState {
    pub(super) amount: Decimal,
    pub(super) draws: Vec<Draw>,
    /// When it lapses; `None` for holds recorded before holds had one.
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) status: HoldStatus,
    /// The purchase it was placed for (`context.purchase_id`); empty when none.
    pub(super) purchase_id: String,
}

impl HoldState {
    /// Open, and its expiry has come at `now`.
    pub(super) fn lapsed(&self, now: DateTime<Utc>) -> bool {
        self.status == HoldStatus::Open && self.expires_at.is_some_and(|t| t <= now)
    }
}

impl Account {
    /// Amount reserved by open holds at `now` (lapsed holds no longer count,
    /// even before their expiry is recorded).
    pub fn held(&self, now: DateTime<Utc>) -> Decimal {
        self.holds
            .values()
            .filter(|h| h.status == HoldStatus::Open && !h.lapsed(now))
            .fold(Decimal::ZERO, |s, h| s.saturating_add(h.amount))
    }

    /// What lapsed holds will give back at `now` into buckets that are not
    /// due themselves: spendable, though not yet recorded as returned.
    pub(super) fn lapsed_returns(&self, now: DateTime<Utc>) -> Decimal {
        self.holds
            .values()
            .filter(|h| h.lapsed(now))
            .flat_map(|h| &h.draws)
            .filter(|d| d.expires_at.is_none_or(|t| t > now))
            .fold(Decimal::ZERO, |s, d| s.saturating_add(d.amount))
    }

    /// True when a hold has lapsed at `now` without its expiry recorded.
    pub(super) fn has_lapsed_hold(&self, now: DateTime<Utc>) -> bool {
        self.holds.values().any(|h| h.lapsed(now))
    }

    /// Records the expiry of every hold lapsed at `now` on this (scratch)
    /// state, earliest first; returns the events.
    pub(super) fn expire_lapsed_holds(
        &mut self,
        key: &AccountKey,
        now: DateTime<Utc>,
    ) -> Vec<Event> {
        let mut lapsed: Vec<(DateTime<Utc>, String)> = self
            .holds
            .iter()
            .filter(|(_, h)| h.lapsed(now))
            .filter_map(|(id, h)| Some((h.expires_at?, id.clone())))
            .collect();
        lapsed.sort();
        let mut events = Vec::with_capacity(lapsed.len());
        for (expired_at, hold_id) in lapsed {
            let Some(hold) = self.holds.get(&hold_id) else {
                continue;
            };
            let e = Event::HoldExpired {
                key: key.clone(),
                hold_id,
                amount: hold.amount,
                returned: hold.draws.clone(),
                expired_at,
                after: Default::default(),
            };
            // The hold's amount moves from held back to available: it came
            // out of available when the hold was placed, so the sum stays.
            events.push(self.book_folded(e));
        }
        events
    }

    /// The hold `hold_id`, if it can still be captured or released at `now`.
    pub(super) fn open_hold(
        &self,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> Result<&HoldState, LedgerError> {
        let hold = self
            .holds
            .get(hold_id)
            .ok_or_else(|| LedgerError::UnknownHold(hold_id.to_owned()))?;
        match hold.status {
            HoldStatus::Expired => Err(LedgerError::HoldExpired(hold_id.to_owned())),
            HoldStatus::Closed => Err(LedgerError::HoldClosed(hold_id.to_owned())),
            HoldStatus::Open if hold.lapsed(now) => {
                Err(LedgerError::HoldExpired(hold_id.to_owned()))
            }
            HoldStatus::Open => Ok(hold),
        }
    }

    /// Folds the hold events (placed, captured, released, expired); false
    /// for any other event.
    pub(super) fn fold_hold(&mut self, event: &Event) -> bool {
        match event {
            Event::Held {
                hold_id,
                amount,
                draws,
                expires_at,
                context,
                ..
            } => {
                self.take(draws);
                self.holds.insert(
                    hold_id.clone(),
                    HoldState {
                        amount: *amount,
                        draws: draws.clone(),
                        expires_at: *expires_at,
                        status: HoldStatus::Open,
                        purchase_id: context.purchase_id.clone(),
                    },
                );
            }
            Event::Captured {
                hold_id,
                operation_id,
                amount,
                captured,
                returned,
                ..
            } => {
                self.give(returned);
                self.close_hold(hold_id, HoldStatus::Closed);
                self.operations.insert(
                    operation_id.clone(),
                    Refundable::new(false, captured.clone(), *amount),
                );
            }
            Event::Released {
                hold_id,
                operation_id,
                returned,
                ..
            } => {
                self.give(returned);
                self.close_hold(hold_id, HoldStatus::Closed);
                // The release's id is taken; a release is not refundable.
                if !operation_id.is_empty() {
                    self.operations
                        .insert(operation_id.clone(), Refundable::taken());
                }
            }
            Event::HoldExpired {
                hold_id, returned, ..
            } => {
                self.give(returned);
                self.close_hold(hold_id, HoldStatus::Expired);
            }
            _ => return false,
        }
        true
    }

    fn close_hold(&mut self, hold_id: &str, status: HoldStatus) {
        if let Some(h) = self.holds.get_mut(hold_id) {
            h.status = status;
        }
    }
}
