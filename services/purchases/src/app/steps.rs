//! The purchase steps: resolve the member, decide what the rules allow,
//! make the ledger's part (idempotent, by ids derived from the purchase and
//! the step), and record the step under its operation id.
//!
//! A step's outcome, refusals included, is stored under its key: a repeat
//! gets the first answer without asking anyone again. A step whose ledger
//! call fails for an outage records nothing and can be retried with the same
//! operation id: the ledger repeats its first answer, never a second effect.
//! A step that dies between the ledger call and the record leaves a hold or
//! pending accrual the ledger lets lapse after the confirm timeout.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kit::aggregate::{Executed, Idempotency, Repository};
use kit::clock::Clock;
use kit::keylock::KeyLocks;
use kit::log::Metadata;
use rust_decimal::Decimal;

use crate::app::rules::RulesHandle;
use crate::domain::calc::{self, CalcError, Calculation};
use crate::domain::cheque::Cheque;
use crate::domain::coupon::CouponUse;
use crate::domain::giftcard::Tender;
use crate::domain::ids::{LedgerIds, mask_card};
use crate::domain::purchase::{
    Command, Device, Event, Payment, Purchase, PurchaseError, Record, StepRef,
};
use crate::domain::rules::Rules;
use crate::error::ApiError;
use crate::upstream::{Context, Shortfall, Upstream, UpstreamError};

mod bonus;
mod coupons;
mod giftcards;
mod possible;
mod refund;
mod settle;

pub use possible::{Possible, PossibleCode};
pub use settle::Settle;

/// Who the step names as the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A card number.
    Card(String),
    /// The member id itself.
    Member(String),
    /// Nobody: the purchase's member (Confirm, Cancel, Refund).
    Purchase,
}

/// A step as the edge hands it over.
#[derive(Debug, Clone)]
pub struct Step {
    /// The purchase.
    pub purchase_id: String,
    /// The step's operation id.
    pub operation_id: String,
    /// `operationDate`.
    pub operation_date: Option<DateTime<Utc>>,
    /// The member.
    pub who: Who,
    /// Who sends it.
    pub device: Device,
    /// The method and the SHA-256 of the request (the key's request hash).
    pub request_hash: [u8; 32],
}

/// What a Bonus step brings besides its step.
#[derive(Debug, Clone, Default)]
pub struct BonusInput {
    /// The cheque (after discounts, before points).
    pub cheque: Cheque,
    /// Points paid according to its `pays`.
    pub points_paid: Decimal,
    /// Gift certificates paying according to its `pays`.
    pub gift_cards: Vec<Tender>,
    /// Seed 002: the e-mail template to send on Confirm when the cheque
    /// loads the card ("" = none).
    pub template_id: String,
    /// Language of the receipt and the e-mail ("" = ru).
    pub language: String,
}

/// Renders the answer stored under a step's key from the purchase after it
/// and the events recorded.
pub type Reply<'a> = &'a (dyn Fn(&Purchase, &[Event]) -> Vec<u8> + Send + Sync);

/// The purchase use cases.
pub struct Steps {
    repo: Arc<Repository<Purchase>>,
    coupons: Repository<CouponUse>,
    upstream: Upstream,
    rules: Arc<RulesHandle>,
    clock: Clock,
    ledger_ttl_secs: u32,
    confirm_timeout_secs: u32,
    shortfall: Shortfall,
    /// One step of a purchase at a time: each decides on the state the one
    /// before it recorded (two refunds of one purchase cannot both take the
    /// same lines; a Payment cannot slip in beside a Confirm).
    purchases: KeyLocks,
}

/// The member a step is for.
struct Member {
    id: String,
    masked: String,
}

fn stream(purchase_id: &str) -> String {
    format!("purchase/{purchase_id}")
}

fn key(operation_id: &str) -> String {
    format!("op/{operation_id}")
}

impl Steps {
    /// The use cases over `repo`, calling `upstream`, deciding by `rules`;
    /// a purchase left open `confirm_timeout_secs` is timed out, and its
    /// holds in the ledger lapse after `ledger_ttl_secs`.
    pub fn new(
        repo: Arc<Repository<Purchase>>,
        upstream: Upstream,
        rules: Arc<RulesHandle>,
        clock: Clock,
        confirm_timeout_secs: u32,
        ledger_ttl_secs: u32,
    ) -> Self {
        Self {
            coupons: Repository::new(Arc::clone(repo.log())),
            repo,
            upstream,
            rules,
            clock,
            ledger_ttl_secs,
            confirm_timeout_secs,
            shortfall: Shortfall::default(),
            purchases: KeyLocks::default(),
        }
    }

    /// The same use cases with refunds taking back spent points by `shortfall`.
    pub fn with_refund_shortfall(mut self, shortfall: Shortfall) -> Self {
        self.shortfall = shortfall;
        self
    }

    /// The rules in effect at `at` (now when `None`): a step is decided by
    /// the rules of the day it happened.
    pub fn rules_at(&self, at: Option<DateTime<Utc>>) -> Arc<Rules> {
        match at {
            Some(at) => self.rules.at(at).1,
            None => self.rules.current().1,
        }
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The log's head (projections wait for it).
    pub fn head(&self) -> u64 {
        self.repo.log().head()
    }

    /// The purchase as recorded.
    pub fn purchase(&self, purchase_id: &str) -> Result<Purchase, ApiError> {
        Ok(self.repo.load(&stream(purchase_id))?.0)
    }

    /// The stored outcome of an earlier identical step, if any.
    async fn repeat(&self, step: &Step) -> Result<Option<Vec<u8>>, ApiError> {
        let stored = self
            .repo
            .log()
            .check_idempotency(&key(&step.operation_id), &step.request_hash)
            .await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        if !stored.refused {
            return Ok(Some(stored.result));
        }
        let refusal: PurchaseError = serde_json::from_slice(&stored.result)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored refusal: {e}")))?;
        Err(refusal.into())
    }

    /// The member the step names, or the purchase's.
    async fn member(
        &self,
        step: &Step,
        state: &Purchase,
    ) -> Result<Result<Member, PurchaseError>, ApiError> {
        Ok(match &step.who {
            Who::Card(card) => match self.upstream.member_by_card(card).await.map_err(outage)? {
                Some(id) => Ok(Member {
                    id,
                    masked: mask_card(card),
                }),
                None => Err(PurchaseError::CardNotFound(mask_card(card))),
            },
            Who::Member(id) => Ok(Member {
                id: id.clone(),
                masked: String::new(),
            }),
            Who::Purchase if state.member_id.is_empty() => {
                Err(PurchaseError::NotFound(step.purchase_id.clone()))
            }
            Who::Purchase => Ok(Member {
                id: state.member_id.clone(),
                masked: state.card_masked.clone(),
            }),
        })
    }

    fn step_ref(&self, step: &Step, member: Option<&Member>) -> StepRef {
        StepRef {
            purchase_id: step.purchase_id.clone(),
            operation_id: step.operation_id.clone(),
            member_id: member.map(|m| m.id.clone()).unwrap_or_default(),
            card_masked: member.map(|m| m.masked.clone()).unwrap_or_default(),
            // Only the till's own date: a retry must send the ledger the same
            // request, so "now" never goes into it.
            operation_date: step.operation_date,
            device: step.device.clone(),
        }
    }

    fn context(&self, step: StepRef, state: &Purchase, cheque: Option<&Cheque>) -> Context {
        let step_date = step.operation_date;
        let total = cheque.and_then(Cheque::total).or_else(|| {
            (!state.lines.is_empty()).then(|| state.lines.iter().map(|l| l.amount).sum())
        });
        Context {
            step,
            cheque_number: cheque.map_or_else(|| state.cheque_number.clone(), |c| c.number.clone()),
            purchase_amount: total.map(|t| {
                let currency = self.rules_at(step_date).cash_currency.clone();
                (t, currency)
            }),
            items: Vec::new(),
            tenders: Vec::new(),
        }
    }

    /// Records `record` for the step under its key; the answer is what
    /// `reply` made of it (or the refusal).
    async fn record(
        &self,
        step: StepRef,
        record: Record,
        hash: [u8; 32],
        reply: Reply<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        let metadata = Metadata {
            correlation_id: Some(step.purchase_id.clone()),
            causation_id: Some(step.operation_id.clone()),
            traceparent: kit::telemetry::current_traceparent(),
        };
        let idempotency = Idempotency {
            key: key(&step.operation_id),
            request_hash: hash,
        };
        let command = Command {
            step: step.clone(),
            record,
        };
        let executed = self
            .repo
            .execute(
                &stream(&step.purchase_id),
                &command,
                Some(idempotency),
                metadata,
                |state, events| reply(state, events),
            )
            .await?;
        Ok(match executed {
            Executed::Applied { reply, .. } | Executed::Repeated { reply } => reply,
        })
    }

    /// Runs a step, one per purchase at a time: a repeat answers its stored
    /// answer; else the member is found, `decide` makes the rules' and the
    /// ledger's part for a known member, and the outcome (refusals too) is
    /// recorded under the step's key.
    async fn run(
        &self,
        step: &Step,
        reply: Reply<'_>,
        decide: impl AsyncFnOnce(&Purchase, &Member, StepRef) -> Result<Record, ApiError>,
    ) -> Result<Vec<u8>, ApiError> {
        let _one_at_a_time = self.purchases.lock(&step.purchase_id).await;
        if let Some(r) = self.repeat(step).await? {
            return Ok(r);
        }
        let state = self.purchase(&step.purchase_id)?;
        let member = self.member(step, &state).await?;
        let step_ref = self.step_ref(step, member.as_ref().ok());
        let record = match member {
            Err(e) => Record::Refused(e),
            Ok(m) => decide(&state, &m, step_ref.clone()).await?,
        };
        self.record(step_ref, record, step.request_hash, reply)
            .await
    }

    /// Calculate: the program's discounts and what the member may pay with
    /// points (capped by the balance).
    pub async fn calculate(
        &self,
        step: &Step,
        cheque: Cheque,
        coupons: Vec<String>,
        reply: Reply<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        self.run(step, reply, async move |state, m, _| {
            if state.paid() > Decimal::ZERO || state.pending.is_some() {
                return Ok(Record::Refused(PurchaseError::DifferentCheque(
                    "the purchase is paid or its points are computed: calculate a new purchase"
                        .into(),
                )));
            }
            let rules = self.rules_at(step.operation_date);
            let at = step.operation_date.unwrap_or_else(|| (self.clock)());
            let calc = match calc::calculate(&rules, &cheque, &coupons, at) {
                Ok(calc) => calc,
                Err(e) => return Ok(Record::Refused(refusal_of(e))),
            };
            if let Some(refused) = self.reserve_coupons(&rules, step, &coupons).await? {
                return Ok(Record::Refused(refused));
            }
            let balance = self
                .upstream
                .balance(&m.id, &rules.bonus_currency)
                .await
                .map_err(outage)?;
            Ok(Record::Calculated {
                available: calc.payable.min(balance.available).max(Decimal::ZERO),
                cheque,
                calc,
                coupons,
            })
        })
        .await
    }

    /// Payment: holds `points` of the member's for the purchase.
    pub async fn payment(
        &self,
        step: &Step,
        cheque: Cheque,
        points: Decimal,
        reply: Reply<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        self.run(step, reply, async move |state, m, r| {
            self.pay(step, state, m, r, cheque, points).await
        })
        .await
    }

    async fn pay(
        &self,
        step: &Step,
        state: &Purchase,
        m: &Member,
        step_ref: StepRef,
        cheque: Cheque,
        points: Decimal,
    ) -> Result<Record, ApiError> {
        let rules = self.rules_at(step.operation_date);
        let probe = Record::Paid {
            payment: Payment::default(),
            calc: Calculation::default(),
        };
        if let Err(e) = state.check(&probe, &m.id) {
            return Ok(Record::Refused(e));
        }
        // One payment per purchase, before its points are computed: the
        // lines' paid points and what they earn stay consistent.
        if !state.payments.is_empty() || state.pending.is_some() {
            return Ok(Record::Refused(PurchaseError::DifferentCheque(
                "the purchase is paid already, or its points are computed".into(),
            )));
        }
        let mut calc = match Calculation::of(&rules, &cheque) {
            Ok(c) => c,
            Err(e) => return Ok(Record::Refused(refusal_of(e))),
        };
        if let Err(e) = calc::pay(&rules, &mut calc, points) {
            return Ok(Record::Refused(refusal_of(e)));
        }
        let hold_id = LedgerIds::of(&step.purchase_id).hold("payment");
        let context = self.context(step_ref, state, Some(&cheque));
        let held = self
            .upstream
            .hold(
                &hold_id,
                &m.id,
                &rules.bonus_currency,
                points,
                self.ledger_ttl_secs,
                &context,
            )
            .await;
        if let Err(e) = held {
            return ledger_refusal(e, points, &step.purchase_id).map(Record::Refused);
        }
        Ok(Record::Paid {
            payment: Payment { points, hold_id },
            calc,
        })
    }
}

/// An upstream failure that is not a refusal: nothing recorded, retry.
fn outage(e: UpstreamError) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

/// A ledger refusal as the purchase's refusal (stored under the step's
/// key); an outage or an unexpected refusal as an error (not stored).
fn ledger_refusal(
    e: UpstreamError,
    requested: Decimal,
    purchase_id: &str,
) -> Result<PurchaseError, ApiError> {
    let id = purchase_id.to_owned();
    Ok(match e.reason() {
        Some("INSUFFICIENT_FUNDS" | "REFUND_SHORTFALL") => PurchaseError::NotEnoughPoints {
            available: e.decimal("available").unwrap_or_default(),
            requested: e.decimal("requested").unwrap_or(requested),
        },
        Some("PURCHASE_CONFIRMED") => PurchaseError::Confirmed(id),
        Some("PURCHASE_CANCELLED") => PurchaseError::Cancelled(id),
        Some("PURCHASE_LAPSED") => PurchaseError::TimedOut(id),
        Some("REFUND_EXCEEDS_ORIGINAL" | "ALREADY_REFUNDED") => {
            PurchaseError::RefundExceedsPurchase(e.to_string())
        }
        // The purchase's one hold or pending accrual was made (by a step
        // whose record was lost) with another request.
        Some("IDEMPOTENCY_KEY_REUSED") => PurchaseError::DifferentCheque(format!(
            "purchase {id:?} was paid or credited in the ledger with another cheque"
        )),
        Some(_) => {
            return Err(ApiError::Unexpected(anyhow::anyhow!(
                "the ledger refused: {e}"
            )));
        }
        None => return Err(outage(e)),
    })
}

/// A calculation's refusal as the purchase's.
fn refusal_of(e: CalcError) -> PurchaseError {
    match e {
        CalcError::UnknownCoupon(c) | CalcError::CouponNotValid(c) => {
            PurchaseError::CouponNotValid(c)
        }
        CalcError::PaymentLimitExceeded { payable, requested } => {
            PurchaseError::PaymentLimitExceeded { payable, requested }
        }
        CalcError::BelowMinimumPayment { minimum, requested } => {
            PurchaseError::BelowMinimumPayment { minimum, requested }
        }
        CalcError::OutOfRange => {
            PurchaseError::DifferentCheque("an amount of the cheque is out of range".into())
        }
    }
}
