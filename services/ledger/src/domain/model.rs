//! The ledger's vocabulary: account keys, buckets, draws, commands, events
//! and errors.

use super::account::{ChequeItem, Tender};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub use super::command::Command;
pub use super::errors::LedgerError;

/// Identifies an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AccountKey {
    /// Member id.
    pub member_id: String,
    /// Currency external id.
    pub currency: String,
}

impl AccountKey {
    /// The account's stream in the event log.
    pub fn stream(&self) -> String {
        format!("account/{}/{}", self.member_id, self.currency)
    }

    /// The key of an account stream (currency ids contain no `/`).
    pub fn from_stream(stream: &str) -> Option<Self> {
        let (member, currency) = stream.strip_prefix("account/")?.rsplit_once('/')?;
        Some(Self {
            member_id: member.to_owned(),
            currency: currency.to_owned(),
        })
    }
}

/// Where an operation came from; carried as given into events and history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// Human-readable description (history `description`).
    pub description: String,
    /// Why it happened.
    pub reason: String,
    /// Card the operation was made with.
    pub card_id: String,
    /// Partner (legal entity) id.
    pub partner_id: String,
    /// Brand id.
    pub brand_id: String,
    /// Location (shop) id.
    pub location_id: String,
    /// Merchant name.
    pub merchant_name: String,
    /// Purchase (cheque) id.
    pub purchase_id: String,
    /// Batch request id.
    pub batch_id: String,
    /// When it happened at its source.
    pub operation_time: Option<DateTime<Utc>>,
    /// Amount of the underlying transaction, as given.
    pub transaction_amount: String,
    /// Cheque number of the purchase.
    pub cheque_number: String,
    /// Amount of the purchase, as given.
    pub purchase_amount: Option<GivenMoney>,
    /// The operator of a manual operation.
    pub operator_id: String,
}

/// An amount carried as given (not checked against the catalog).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GivenMoney {
    /// Decimal string.
    pub amount: String,
    /// Currency id.
    pub currency: String,
}

/// Kind of operation, for analytics and history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// For a purchase or by a partner system.
    #[default]
    Regular,
    /// By an operator (corrections, fraud, leaving the program).
    Manual,
    /// For social-network activity.
    Social,
    /// Cash loaded onto the card.
    Charging,
}

/// History reward type of an accrual (seed `rewardType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RewardType {
    /// Bonus points.
    #[default]
    Bonus,
    /// A direct discount (history only; never accrued as points).
    Discount,
    /// Extra bonus points (a gift).
    Gift,
    /// A top-up of the card.
    Charging,
}

/// History withdraw type of a withdrawal (seed `withdrawType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WithdrawType {
    /// Bonus points spent.
    #[default]
    Bonus,
    /// Payment with a gift card.
    GiftCard,
    /// Points withdrawn at the till, not as a payment.
    Withdraw,
}

/// An amount taken from or returned to one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    /// Bucket id.
    pub bucket_id: u64,
    /// Amount (positive).
    pub amount: Decimal,
    /// The bucket's expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A bucket of accrued amounts that expire together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Id, increasing within the account.
    pub id: u64,
    /// What is left in it.
    pub amount: Decimal,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Lifetime definition id.
    pub lifetime: String,
}

/// What a refund of an accrual does when the member no longer has all the
/// points it would take back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shortfall {
    /// Take what is left of the accrual's bucket; report the rest.
    #[default]
    Uncollected,
    /// Then take from the member's other buckets; record the rest as debt,
    /// which later accruals pay first.
    Debt,
    /// Refuse unless the accrual's bucket holds it all.
    Refuse,
}

/// A pending accrual of a purchase: credited on confirm, dropped on cancel.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Operation id (also the id of the accrual it becomes).
    pub operation_id: String,
    /// Amount (positive, validated).
    pub amount: Decimal,
    /// Expiry of the bucket it will land in.
    pub expires_at: Option<DateTime<Utc>>,
    /// Lifetime definition id.
    pub lifetime: String,
    /// Kind (regular or charging).
    pub kind: Kind,
    /// Reward type.
    pub reward_type: RewardType,
    /// Source; `purchase_id` names the purchase.
    pub context: Context,
    /// When it lapses unconfirmed.
    pub lapses_at: DateTime<Utc>,
}

/// Balances after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balances {
    /// Spendable.
    pub available: Decimal,
    /// Reserved by open holds.
    pub held: Decimal,
}

/// What happened to an account.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The account was opened empty (a card was issued to the member); it
    /// moves no amount and is only ever an account's first event.
    Opened {
        /// Account.
        key: AccountKey,
        /// The card, masked; empty when unknown.
        card_id: String,
        /// When it was opened.
        opened_at: DateTime<Utc>,
        /// Id of the consumed event that opened it.
        source_event_id: String,
    },
    /// An amount was credited into a new bucket.
    Accrued {
        /// Account.
        key: AccountKey,
        /// Operation id.
        operation_id: String,
        /// Amount.
        amount: Decimal,
        /// The new bucket (with its amount).
        bucket: Bucket,
        /// Kind.
        kind: Kind,
        /// History reward type.
        reward_type: RewardType,
        /// Source.
        context: Context,
        /// Balances after.
        after: Balances,
        /// The part of `amount` that paid the account's debt; the bucket
        /// holds the rest.
        debt_repaid: Decimal,
    },
    /// An amount was debited.
    Withdrawn {
        /// Account.
        key: AccountKey,
        /// Operation id.
        operation_id: String,
        /// Amount.
        amount: Decimal,
        /// Buckets drawn from.
        draws: Vec<Draw>,
        /// Kind.
        kind: Kind,
        /// History withdraw type.
        withdraw_type: WithdrawType,
        /// Source.
        context: Context,
        /// Balances after.
        after: Balances,
    },
    /// An amount was reserved.
    Held {
        /// Account.
        key: AccountKey,
        /// Hold id.
        hold_id: String,
        /// Amount.
        amount: Decimal,
        /// Buckets it was taken from.
        draws: Vec<Draw>,
        /// Source.
        context: Context,
        /// Balances after.
        after: Balances,
        /// When the hold lapses (`None`: holds recorded before holds had a
        /// time-to-live; they never lapse).
        expires_at: Option<DateTime<Utc>>,
    },
    /// A hold was captured; the remainder went back.
    Captured {
        /// Account.
        key: AccountKey,
        /// Hold id.
        hold_id: String,
        /// Capture operation id.
        operation_id: String,
        /// Amount captured.
        amount: Decimal,
        /// Buckets the captured amount was spent from.
        captured: Vec<Draw>,
        /// Buckets the remainder went back to.
        returned: Vec<Draw>,
        /// Source.
        context: Context,
        /// Balances after.
        after: Balances,
    },
    /// A hold was released.
    Released {
        /// Account.
        key: AccountKey,
        /// Hold id.
        hold_id: String,
        /// The release operation's id (empty in events recorded before
        /// releases carried it).
        operation_id: String,
        /// Amount returned.
        amount: Decimal,
        /// Buckets it went back to.
        returned: Vec<Draw>,
        /// Source.
        context: Context,
        /// Balances after.
        after: Balances,
    },
    /// A hold still open at its expiry was released by the ledger.
    HoldExpired {
        /// Account.
        key: AccountKey,
        /// Hold id.
        hold_id: String,
        /// Amount returned.
        amount: Decimal,
        /// Buckets it went back to.
        returned: Vec<Draw>,
        /// The hold's expiry time.
        expired_at: DateTime<Utc>,
        /// Balances after.
        after: Balances,
    },
    /// An earlier operation was refunded.
    Refunded {
        /// Account.
        key: AccountKey,
        /// Refund operation id.
        operation_id: String,
        /// The original operation.
        original_operation_id: String,
        /// Amount moved (for a refund of an accrual: what its bucket still had).
        amount: Decimal,
        /// Refund of an accrual: the rest of the requested amount, not taken
        /// because the accrual's bucket no longer held it (zero otherwise).
        uncollected: Decimal,
        /// Buckets debited (refund of a credit) or credited (refund of a debit).
        draws: Vec<Draw>,
        /// True when the refund credits the account.
        credit: bool,
        /// Source.
        context: Context,
        /// Balances after.
        after: Balances,
        /// Shortfall [`Shortfall::Debt`]: the part recorded as the account's
        /// debt (zero otherwise).
        debt: Decimal,
    },
    /// An amount was credited as pending for a purchase: not spendable
    /// until the purchase is confirmed.
    PendingAccrued {
        /// Account.
        key: AccountKey,
        /// The pending accrual.
        pending: Pending,
        /// Balances after (unchanged).
        after: Balances,
    },
    /// A pending accrual was dropped with its cancelled purchase.
    PendingDropped {
        /// Account.
        key: AccountKey,
        /// The pending accrual's operation id.
        operation_id: String,
        /// The purchase.
        purchase_id: String,
        /// Amount dropped.
        amount: Decimal,
        /// Balances after (unchanged).
        after: Balances,
    },
    /// A purchase was confirmed (its captures and accruals precede this).
    PurchaseConfirmed {
        /// Account.
        key: AccountKey,
        /// The confirm's operation id.
        operation_id: String,
        /// The purchase.
        purchase_id: String,
        /// Total captured.
        captured: Decimal,
        /// Total accrued.
        accrued: Decimal,
        /// Source.
        context: Context,
        /// The cheque's items (for the history).
        items: Vec<ChequeItem>,
        /// Its payments besides points (for the history).
        tenders: Vec<Tender>,
        /// Balances after.
        after: Balances,
    },
    /// A purchase was cancelled (its releases and drops precede this).
    PurchaseCancelled {
        /// Account.
        key: AccountKey,
        /// The cancel's operation id.
        operation_id: String,
        /// The purchase.
        purchase_id: String,
        /// Total released.
        released: Decimal,
        /// Total dropped.
        dropped: Decimal,
        /// Source.
        context: Context,
        /// Balances after.
        after: Balances,
    },
    /// What was left in a bucket expired.
    Expired {
        /// Account.
        key: AccountKey,
        /// The bucket.
        bucket_id: u64,
        /// Amount expired.
        amount: Decimal,
        /// Its expiry time.
        expired_at: DateTime<Utc>,
        /// Balances after.
        after: Balances,
    },
}

/// The pattern of every event that carries the balances after it, binding
/// them to `$after`: the one list [`Event::after`] and [`Event::set_after`]
/// read.
macro_rules! with_balances {
    ($after:ident) => {
        Event::Accrued { $after, .. }
            | Event::Withdrawn { $after, .. }
            | Event::Held { $after, .. }
            | Event::Captured { $after, .. }
            | Event::Released { $after, .. }
            | Event::HoldExpired { $after, .. }
            | Event::Refunded { $after, .. }
            | Event::Expired { $after, .. }
            | Event::PendingAccrued { $after, .. }
            | Event::PendingDropped { $after, .. }
            | Event::PurchaseConfirmed { $after, .. }
            | Event::PurchaseCancelled { $after, .. }
    };
}

impl Event {
    /// The balances after the event; `None` for an opening (it moves
    /// nothing and carries none).
    pub fn after(&self) -> Option<Balances> {
        match self {
            with_balances!(after) => Some(*after),
            Event::Opened { .. } => None,
        }
    }

    /// Sets the balances after the event (an opening carries none).
    pub(super) fn set_after(&mut self, balances: Balances) {
        match self {
            with_balances!(after) => *after = balances,
            Event::Opened { .. } => {}
        }
    }
}
