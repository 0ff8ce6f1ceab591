//! Spending a certificate as a payment in a purchase, in the purchase's two
//! phases: a hold takes part of the balance aside (no longer available),
//! the purchase's confirm captures it (the balance goes down; at zero, or
//! for a one-time certificate, the certificate is Redeemed), its cancel
//! releases it; a refund of the purchase restores money onto the
//! certificate (a Redeemed one is Activated again).
//!
//! Only an Activated certificate not past its expiration date takes a hold;
//! a one-time certificate is held whole. A hold may lapse: past its time it
//! holds nothing and cannot be captured (only released), so a purchase that
//! died between its hold and its record never keeps money aside for good.
//! Every command is keyed (hold id, refund id): the same one again changes
//! nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::certificate::{Certificate, CertificateError, Event};
use super::status::Status;

/// What happens to a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    /// Taken aside.
    Open,
    /// Spent.
    Captured,
    /// Given back.
    Released,
}

/// A hold on the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The purchase it pays.
    pub purchase_id: String,
    /// How much.
    pub amount: Decimal,
    /// Where it stands.
    pub status: HoldStatus,
    /// When it lapses unless captured or released (`None`: never).
    pub lapses_at: Option<DateTime<Utc>>,
}

impl Hold {
    /// Whether it holds money at `now`: open and not lapsed.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.status == HoldStatus::Open && self.lapses_at.is_none_or(|t| now < t)
    }
}

/// A use of the certificate in a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// Take `amount` aside for `purchase_id`.
    Hold {
        /// Its key.
        hold_id: String,
        /// The purchase.
        purchase_id: String,
        /// How much.
        amount: Decimal,
        /// Now (a certificate past its expiration date pays nothing).
        now: DateTime<Utc>,
        /// When the hold lapses (`None`: never).
        lapses_at: Option<DateTime<Utc>>,
    },
    /// Spend the hold (the purchase was confirmed).
    Capture {
        /// The hold.
        hold_id: String,
        /// Now (a lapsed hold cannot be captured).
        now: DateTime<Utc>,
    },
    /// Give the hold back (the purchase was cancelled).
    Release {
        /// The hold.
        hold_id: String,
    },
    /// Put `amount` back (the purchase was refunded).
    Restore {
        /// Its key.
        refund_id: String,
        /// The hold it refunds.
        hold_id: String,
        /// How much.
        amount: Decimal,
    },
}

/// What a use did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Used {
    /// Taken aside.
    Held {
        /// The hold.
        hold_id: String,
        /// The purchase.
        purchase_id: String,
        /// How much.
        amount: Decimal,
        /// When it lapses (`None`: never).
        lapses_at: Option<DateTime<Utc>>,
    },
    /// Spent.
    Captured {
        /// The hold.
        hold_id: String,
        /// How much.
        amount: Decimal,
        /// The balance after.
        amount_after: Decimal,
    },
    /// Given back.
    Released {
        /// The hold.
        hold_id: String,
    },
    /// Put back.
    Restored {
        /// The refund.
        refund_id: String,
        /// The hold it refunds.
        hold_id: String,
        /// How much.
        amount: Decimal,
        /// The balance after.
        amount_after: Decimal,
    },
}

/// Why a use is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UseError {
    /// Not Activated (or past its date).
    #[error("the certificate is {0}: it pays nothing")]
    NotActive(String),
    /// Less available than asked.
    #[error("the certificate has {available} available; {requested} asked")]
    NotEnough {
        /// Available.
        available: Decimal,
        /// Asked.
        requested: Decimal,
    },
    /// A one-time certificate is held whole.
    #[error("a one-time certificate is spent whole: hold {0}")]
    Whole(Decimal),
    /// No such hold.
    #[error("no hold {0}")]
    UnknownHold(String),
    /// The hold is settled the other way, or its id names another hold.
    #[error("hold {0} is settled already, or was made differently")]
    HoldConflict(String),
    /// The hold lapsed before it was captured.
    #[error("hold {0} lapsed before it was captured")]
    HoldLapsed(String),
    /// Not a positive amount.
    #[error("the amount must be positive")]
    NotPositive,
    /// More put back than the hold spent.
    #[error("{requested} is more than the {left} of hold {hold_id} left to refund")]
    RefundTooLarge {
        /// The hold.
        hold_id: String,
        /// Left.
        left: Decimal,
        /// Asked.
        requested: Decimal,
    },
}

impl Certificate {
    /// The balance not held at `now` (lapsed holds hold nothing).
    pub fn available(&self, now: DateTime<Utc>) -> Decimal {
        let held: Decimal = self
            .holds
            .values()
            .filter(|h| h.holds_at(now))
            .map(|h| h.amount)
            .sum();
        self.amount - held
    }

    /// Decides a use.
    pub(super) fn decide_use(&self, u: &Use) -> Result<Vec<Event>, UseError> {
        let used = match u {
            Use::Hold {
                hold_id,
                purchase_id,
                amount,
                now,
                lapses_at,
            } => {
                // The same hold again is a repeat only while it still holds:
                // one released, captured or lapsed is not there to pay.
                if let Some(h) = self.holds.get(hold_id) {
                    let same = h.purchase_id == *purchase_id && h.amount == *amount;
                    return match (same, h.status) {
                        (true, HoldStatus::Open) if h.holds_at(*now) => Ok(Vec::new()),
                        (true, HoldStatus::Open) => Err(UseError::HoldLapsed(hold_id.clone())),
                        _ => Err(UseError::HoldConflict(hold_id.clone())),
                    };
                }
                if *amount <= Decimal::ZERO {
                    return Err(UseError::NotPositive);
                }
                let past = self.dates.expiration.is_some_and(|d| d < now.date_naive());
                if self.status != Status::Activated || past {
                    let what = if past {
                        "past its date".to_owned()
                    } else {
                        self.status.to_string()
                    };
                    return Err(UseError::NotActive(what));
                }
                let available = self.available(*now);
                if self.issue.one_time && *amount != available {
                    return Err(UseError::Whole(available));
                }
                if *amount > available {
                    return Err(UseError::NotEnough {
                        available,
                        requested: *amount,
                    });
                }
                Used::Held {
                    hold_id: hold_id.clone(),
                    purchase_id: purchase_id.clone(),
                    amount: *amount,
                    lapses_at: *lapses_at,
                }
            }
            Use::Capture { hold_id, .. } | Use::Release { hold_id } => {
                let h = self
                    .holds
                    .get(hold_id)
                    .ok_or_else(|| UseError::UnknownHold(hold_id.clone()))?;
                let capture = matches!(u, Use::Capture { .. });
                let lapsed = matches!(u, Use::Capture { now, .. } if !h.holds_at(*now));
                match (h.status, capture) {
                    (HoldStatus::Captured, true) | (HoldStatus::Released, false) => {
                        return Ok(Vec::new());
                    }
                    (HoldStatus::Open, true) if lapsed => {
                        return Err(UseError::HoldLapsed(hold_id.clone()));
                    }
                    (HoldStatus::Open, true) => Used::Captured {
                        hold_id: hold_id.clone(),
                        amount: h.amount,
                        amount_after: self.amount - h.amount,
                    },
                    (HoldStatus::Open, false) => Used::Released {
                        hold_id: hold_id.clone(),
                    },
                    _ => return Err(UseError::HoldConflict(hold_id.clone())),
                }
            }
            Use::Restore {
                refund_id,
                hold_id,
                amount,
            } => {
                if self.refunds.contains_key(refund_id) {
                    return Ok(Vec::new());
                }
                let h = self
                    .holds
                    .get(hold_id)
                    .filter(|h| h.status == HoldStatus::Captured)
                    .ok_or_else(|| UseError::UnknownHold(hold_id.clone()))?;
                if *amount <= Decimal::ZERO {
                    return Err(UseError::NotPositive);
                }
                let restored: Decimal = self
                    .refunds
                    .values()
                    .filter(|(hold, _)| hold == hold_id)
                    .map(|(_, a)| *a)
                    .sum();
                let left = h.amount - restored;
                if *amount > left {
                    return Err(UseError::RefundTooLarge {
                        hold_id: hold_id.clone(),
                        left,
                        requested: *amount,
                    });
                }
                Used::Restored {
                    refund_id: refund_id.clone(),
                    hold_id: hold_id.clone(),
                    amount: *amount,
                    amount_after: self.amount + *amount,
                }
            }
        };
        Ok(vec![Event::Used {
            certificate_id: self.id.clone(),
            used,
        }])
    }

    /// Folds a use.
    pub(super) fn apply_use(&mut self, used: &Used) {
        match used {
            Used::Held {
                hold_id,
                purchase_id,
                amount,
                lapses_at,
            } => {
                self.holds.insert(
                    hold_id.clone(),
                    Hold {
                        purchase_id: purchase_id.clone(),
                        amount: *amount,
                        status: HoldStatus::Open,
                        lapses_at: *lapses_at,
                    },
                );
            }
            Used::Captured {
                hold_id,
                amount_after,
                ..
            } => {
                if let Some(h) = self.holds.get_mut(hold_id) {
                    h.status = HoldStatus::Captured;
                }
                self.amount = *amount_after;
                if self.amount.is_zero() || self.issue.one_time {
                    self.status = Status::Redeemed;
                }
            }
            Used::Released { hold_id } => {
                if let Some(h) = self.holds.get_mut(hold_id) {
                    h.status = HoldStatus::Released;
                }
            }
            Used::Restored {
                refund_id,
                hold_id,
                amount,
                amount_after,
            } => {
                self.refunds
                    .insert(refund_id.clone(), (hold_id.clone(), *amount));
                self.amount = *amount_after;
                if self.status == Status::Redeemed {
                    self.status = Status::Activated;
                }
            }
        }
    }
}

/// Refunds onto a certificate, by refund id: (hold, amount).
pub type Refunds = BTreeMap<String, (String, Decimal)>;

impl From<UseError> for CertificateError {
    fn from(e: UseError) -> Self {
        CertificateError::Use(e)
    }
}
