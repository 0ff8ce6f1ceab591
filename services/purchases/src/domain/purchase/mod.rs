//! The purchase aggregate: one purchase (stream `purchase/<purchase_id>`)
//! through its steps. The use cases make the ledger calls (idempotent, by
//! ids derived from the purchase and the step) and hand their outcome in
//! the command; the aggregate decides whether the step may happen and
//! records it.
//!
//! States: new (no step yet) → open (calculated, paid, bonus computed) →
//! confirmed (then refunds) | cancelled | timed out. A settled purchase takes
//! no further step but refunds (confirmed only).

mod checks;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;
use rust_decimal::Decimal;

use super::calc::{Calculation, LineResult};
use super::cheque::Cheque;
use super::giftcard::GiftCardPay;
use super::refund::{PurchasedLine, RefundShare};

pub use super::refusal::PurchaseError;

/// Who sent a step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// Partner (legal entity) id.
    pub partner_id: String,
    /// Location (shop) id.
    pub location_id: String,
    /// Device (till) id.
    pub device_id: String,
    /// Cashier.
    pub cashier: String,
}

/// What every step of a purchase carries into its event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepRef {
    /// The purchase.
    pub purchase_id: String,
    /// The step's operation id.
    pub operation_id: String,
    /// The member.
    pub member_id: String,
    /// The card, masked.
    pub card_masked: String,
    /// The step's `operationDate` (else when it was received).
    pub operation_date: Option<DateTime<Utc>>,
    /// Who sent it.
    pub device: Device,
}

/// A payment with points.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payment {
    /// Points paid.
    pub points: Decimal,
    /// The ledger hold.
    pub hold_id: String,
}

/// The points and cash a Bonus step put pending in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pending {
    /// Points earned.
    pub points: Decimal,
    /// Cash to load.
    pub charged: Decimal,
    /// The ledger's pending accrual of the points ("" when none).
    pub accrual_operation_id: String,
    /// The ledger's pending accrual of the cash ("" when none).
    pub charge_operation_id: String,
    /// Seed 002: the e-mail template to send on Confirm when the cheque
    /// loads the card ("" = none).
    pub template_id: String,
    /// The card-load articles' descriptions.
    pub article_description: String,
    /// Language of the receipt and the e-mail's amounts.
    pub language: String,
    /// Gift certificates paying part of the cheque (held until Confirm).
    pub gift_cards: Vec<GiftCardPay>,
}

/// A message for identity to send (seed 002's card-load e-mail).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageRequest {
    /// Its idempotency key at identity.
    pub request_id: String,
    /// The template.
    pub template_id: String,
    /// Placeholder values (`amount`, `article_description`); identity fills
    /// in the member's own (`forename`, `cardnumber`, ...).
    pub values: BTreeMap<String, String>,
}

/// What a refund moved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundTotals {
    /// Points paid back.
    pub returned_points: Decimal,
    /// Points taken back.
    pub taken_back_points: Decimal,
    /// Points not taken back (already spent).
    pub uncollected_points: Decimal,
    /// Points recorded as the member's debt.
    pub debt_points: Decimal,
    /// Money returned.
    pub money: Decimal,
    /// Of `money`, what went back onto gift certificates.
    pub gift_card_money: Decimal,
}

/// A step of a purchase, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Calculate.
    Calculated {
        /// The step.
        step: StepRef,
        /// The cheque as sent.
        cheque: Cheque,
        /// The cheque after discounts.
        calc: Calculation,
        /// Points payable, capped by the member's balance.
        available: Decimal,
        /// Coupons applied.
        coupons: Vec<String>,
    },
    /// Payment.
    Paid {
        /// The step.
        step: StepRef,
        /// The payment.
        payment: Payment,
        /// The cheque with the points per line.
        calc: Calculation,
    },
    /// Bonus.
    BonusCalculated {
        /// The step.
        step: StepRef,
        /// The cheque as sent.
        cheque: Cheque,
        /// The cheque with the points earned per line.
        calc: Calculation,
        /// What the ledger holds pending.
        pending: Pending,
    },
    /// A message for identity to send, recorded with the Confirm that
    /// loaded the card (published as `loyalty.purchases.message_requested`,
    /// identity's `MessageRequested`). Its step names only the member: the
    /// rest is the Confirm's, recorded just before it.
    MessageRequested {
        /// The step.
        step: StepRef,
        /// The message.
        message: MessageRequest,
    },
    /// Confirm.
    Confirmed {
        /// The step.
        step: StepRef,
        /// The cheque's number.
        cheque_number: String,
        /// The lines as paid (the History row's items).
        calc: Calculation,
        /// Points spent.
        withdrawn: Decimal,
        /// Points accrued.
        accrued: Decimal,
        /// Cash loaded.
        charged: Decimal,
        /// Money spent from gift certificates.
        gift_cards: Decimal,
    },
    /// Cancel.
    Cancelled {
        /// The step.
        step: StepRef,
        /// Points released.
        released: Decimal,
        /// Points of the pending accrual dropped.
        dropped: Decimal,
        /// Money given back to gift certificates.
        gift_cards: Decimal,
    },
    /// The service cancelled a purchase left unconfirmed.
    TimedOut {
        /// The step (the service's own operation id).
        step: StepRef,
        /// When it was due.
        deadline: DateTime<Utc>,
        /// Money given back to gift certificates.
        gift_cards: Decimal,
    },
    /// A refund of a confirmed purchase.
    Refunded {
        /// The step.
        step: StepRef,
        /// Per line.
        lines: Vec<RefundShare>,
        /// Totals.
        totals: RefundTotals,
    },
}

/// A step asked of the purchase (the ledger's part already done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The step.
    pub step: StepRef,
    /// What it records.
    pub record: Record,
}

/// What a step records: the event body it proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// See [`Event::Calculated`].
    Calculated {
        /// Cheque.
        cheque: Cheque,
        /// Calculation.
        calc: Calculation,
        /// Payable, capped.
        available: Decimal,
        /// Coupons.
        coupons: Vec<String>,
    },
    /// See [`Event::Paid`].
    Paid {
        /// Payment.
        payment: Payment,
        /// Calculation.
        calc: Calculation,
    },
    /// See [`Event::BonusCalculated`].
    BonusCalculated {
        /// Cheque.
        cheque: Cheque,
        /// Calculation.
        calc: Calculation,
        /// Pending.
        pending: Pending,
    },
    /// See [`Event::Confirmed`].
    Confirmed {
        /// The cheque's number.
        cheque_number: String,
        /// The lines as paid.
        calc: Calculation,
        /// Points spent.
        withdrawn: Decimal,
        /// Points accrued.
        accrued: Decimal,
        /// Cash loaded.
        charged: Decimal,
        /// Gift certificates' money spent.
        gift_cards: Decimal,
    },
    /// See [`Event::Cancelled`].
    Cancelled {
        /// Released.
        released: Decimal,
        /// Dropped.
        dropped: Decimal,
        /// Gift certificates' money given back.
        gift_cards: Decimal,
    },
    /// See [`Event::TimedOut`].
    TimedOut {
        /// Deadline.
        deadline: DateTime<Utc>,
        /// Gift certificates' money given back.
        gift_cards: Decimal,
    },
    /// See [`Event::Refunded`].
    Refunded {
        /// Lines.
        lines: Vec<RefundShare>,
        /// Totals.
        totals: RefundTotals,
    },
    /// The step was refused before anything was recorded (unknown card,
    /// not enough points, a limit of the rules): the refusal is stored under
    /// the step's key, so a repeat gets it again.
    Refused(PurchaseError),
}

/// Where the purchase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// No step yet.
    #[default]
    New,
    /// Steps, not settled.
    Open,
    /// Confirmed.
    Confirmed,
    /// Cancelled.
    Cancelled,
    /// Timed out (cancelled by the service).
    TimedOut,
}

/// State of one purchase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purchase {
    /// Where it stands.
    pub status: Status,
    /// Its id ("" before the first step).
    pub purchase_id: String,
    /// Its member.
    pub member_id: String,
    /// The card, masked.
    pub card_masked: String,
    /// When its first step was recorded (its deadline runs from here).
    pub opened_at: Option<DateTime<Utc>>,
    /// The latest calculation (Bonus over Payment over Calculate).
    pub lines: Vec<LineResult>,
    /// The cheque number.
    pub cheque_number: String,
    /// Points payable, as Calculate last said.
    pub available: Decimal,
    /// Payments.
    pub payments: Vec<Payment>,
    /// What Bonus put pending.
    pub pending: Option<Pending>,
    /// Quantities refunded per position.
    pub refunded: BTreeMap<u32, Decimal>,
    /// Points paid back by refunds so far.
    pub returned_points: Decimal,
    /// Money put back onto gift certificates by refunds so far.
    pub gift_card_returned: Decimal,
    /// The operation ids of its recorded steps.
    pub operations: BTreeSet<String>,
}

impl Purchase {
    /// Points paid, all payments together.
    pub fn paid(&self) -> Decimal {
        self.payments
            .iter()
            .fold(Decimal::ZERO, |s, p| s.saturating_add(p.points))
    }

    /// The gift certificates paying part of it.
    pub fn gift_cards(&self) -> &[GiftCardPay] {
        self.pending
            .as_ref()
            .map_or(&[], |p| p.gift_cards.as_slice())
    }

    /// Seed 002's e-mail when a confirm loaded `charged` onto the card and
    /// the Bonus step asked for it.
    fn card_load_message(&self, step: &StepRef, charged: Decimal) -> Option<MessageRequest> {
        let pending = self.pending.as_ref()?;
        if pending.template_id.is_empty() || charged <= Decimal::ZERO {
            return None;
        }
        let mut amount = super::amount::render(charged);
        if pending.language != "en" {
            amount = amount.replace('.', ",");
        }
        Some(MessageRequest {
            request_id: super::ids::LedgerIds::of(&step.purchase_id).message("card-load"),
            template_id: pending.template_id.clone(),
            values: BTreeMap::from([
                ("amount".to_owned(), amount),
                (
                    "article_description".to_owned(),
                    pending.article_description.clone(),
                ),
            ]),
        })
    }

    /// The confirmed lines, as refunds read them.
    pub fn purchased_lines(&self) -> Vec<PurchasedLine> {
        self.lines
            .iter()
            .map(|l| PurchasedLine {
                position: l.position,
                quantity: l.quantity,
                amount: l.amount,
                paid: l.paid,
                earned: l.earned,
            })
            .collect()
    }
}

impl Aggregate for Purchase {
    type Command = Command;
    type Event = Event;
    type Error = PurchaseError;

    fn decide(&self, command: &Command) -> Result<Vec<Event>, PurchaseError> {
        let mut state = self.clone();
        if state.purchase_id.is_empty() {
            state.purchase_id = command.step.purchase_id.clone();
        }
        state.check(&command.record, &command.step.member_id)?;
        let step = command.step.clone();
        Ok(vec![match command.record.clone() {
            Record::Calculated {
                cheque,
                calc,
                available,
                coupons,
            } => Event::Calculated {
                step,
                cheque,
                calc,
                available,
                coupons,
            },
            Record::Paid { payment, calc } => Event::Paid {
                step,
                payment,
                calc,
            },
            Record::BonusCalculated {
                cheque,
                calc,
                pending,
            } => Event::BonusCalculated {
                step,
                cheque,
                calc,
                pending,
            },
            Record::Confirmed {
                cheque_number,
                calc,
                withdrawn,
                accrued,
                charged,
                gift_cards,
            } => {
                let message = self.card_load_message(&step, charged);
                let confirmed = Event::Confirmed {
                    step: step.clone(),
                    cheque_number,
                    calc,
                    withdrawn,
                    accrued,
                    charged,
                    gift_cards,
                };
                return Ok(match message {
                    Some(message) => vec![confirmed, Event::MessageRequested { step, message }],
                    None => vec![confirmed],
                });
            }
            Record::Cancelled {
                released,
                dropped,
                gift_cards,
            } => Event::Cancelled {
                step,
                released,
                dropped,
                gift_cards,
            },
            Record::TimedOut {
                deadline,
                gift_cards,
            } => Event::TimedOut {
                step,
                deadline,
                gift_cards,
            },
            Record::Refunded { lines, totals } => Event::Refunded {
                step,
                lines,
                totals,
            },
            // `check` refused it above.
            Record::Refused(e) => return Err(e),
        }])
    }

    fn apply(&mut self, event: &Event) {
        let step = event.step();
        if self.status == Status::New {
            self.status = Status::Open;
            self.purchase_id = step.purchase_id.clone();
            self.opened_at = step.operation_date;
        }
        if self.member_id.is_empty() {
            self.member_id = step.member_id.clone();
            self.card_masked = step.card_masked.clone();
        }
        if !self.operations.contains(&step.operation_id) {
            self.operations.insert(step.operation_id.clone());
        }
        match event {
            Event::Calculated {
                cheque,
                calc,
                available,
                ..
            } => {
                self.lines = calc.lines.clone();
                self.cheque_number = cheque.number.clone();
                self.available = *available;
            }
            Event::Paid { payment, calc, .. } => {
                self.lines = calc.lines.clone();
                self.payments.push(payment.clone());
            }
            Event::BonusCalculated {
                cheque,
                calc,
                pending,
                ..
            } => {
                self.lines = calc.lines.clone();
                self.cheque_number = cheque.number.clone();
                self.pending = Some(pending.clone());
            }
            Event::Confirmed { .. } => self.status = Status::Confirmed,
            Event::MessageRequested { .. } => {}
            Event::Cancelled { .. } => self.status = Status::Cancelled,
            Event::TimedOut { .. } => self.status = Status::TimedOut,
            Event::Refunded { lines, totals, .. } => {
                self.returned_points = self.returned_points.saturating_add(totals.returned_points);
                self.gift_card_returned = self
                    .gift_card_returned
                    .saturating_add(totals.gift_card_money);
                for l in lines {
                    let q = self.refunded.entry(l.position).or_default();
                    *q = q.saturating_add(l.quantity);
                }
            }
        }
    }

    fn encode_refusal(error: &PurchaseError) -> Option<Vec<u8>> {
        serde_json::to_vec(error).ok()
    }

    fn decode_refusal(bytes: &[u8]) -> Option<PurchaseError> {
        serde_json::from_slice(bytes).ok()
    }
}

impl Event {
    /// The step the event records.
    pub fn step(&self) -> &StepRef {
        match self {
            Event::Calculated { step, .. }
            | Event::MessageRequested { step, .. }
            | Event::Paid { step, .. }
            | Event::BonusCalculated { step, .. }
            | Event::Confirmed { step, .. }
            | Event::Cancelled { step, .. }
            | Event::TimedOut { step, .. }
            | Event::Refunded { step, .. } => step,
        }
    }
}
