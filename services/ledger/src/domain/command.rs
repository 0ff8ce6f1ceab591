//! The commands an account takes: what a request asks of it, decided by
//! the account aggregate.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::account::{ChequeItem, Tender};
use super::model::{AccountKey, Context, Kind, Pending, RewardType, Shortfall, WithdrawType};

/// A request to change an account. `now` is the command's time (the edge
/// reads the clock; the aggregate stays pure).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Credit `amount` into a new bucket expiring at `expires_at`.
    Accrue {
        /// Account.
        key: AccountKey,
        /// Operation id.
        operation_id: String,
        /// Amount (positive, validated).
        amount: Decimal,
        /// Lifetime definition id.
        lifetime: String,
        /// Expiry computed from the lifetime.
        expires_at: Option<DateTime<Utc>>,
        /// Kind.
        kind: Kind,
        /// Reward type.
        reward_type: RewardType,
        /// Source.
        context: Context,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Debit `amount`.
    Withdraw {
        /// Account.
        key: AccountKey,
        /// Operation id.
        operation_id: String,
        /// Amount (positive, validated).
        amount: Decimal,
        /// Kind.
        kind: Kind,
        /// Withdraw type.
        withdraw_type: WithdrawType,
        /// Source.
        context: Context,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Reserve `amount`.
    Hold {
        /// Account.
        key: AccountKey,
        /// Hold id.
        hold_id: String,
        /// Amount (positive, validated).
        amount: Decimal,
        /// Source.
        context: Context,
        /// Now.
        now: DateTime<Utc>,
        /// When the hold lapses (the edge adds its time-to-live to `now`);
        /// `None`: never.
        expires_at: Option<DateTime<Utc>>,
    },
    /// Spend all (`None`) or part of a hold.
    Capture {
        /// Account.
        key: AccountKey,
        /// Capture operation id.
        operation_id: String,
        /// Hold id.
        hold_id: String,
        /// Amount, or the whole hold.
        amount: Option<Decimal>,
        /// Source.
        context: Context,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Return a hold's amount.
    Release {
        /// Account.
        key: AccountKey,
        /// Release operation id.
        operation_id: String,
        /// Hold id.
        hold_id: String,
        /// Source.
        context: Context,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Refund all that is left (`None`) or part of an earlier operation.
    Refund {
        /// Account.
        key: AccountKey,
        /// Refund operation id.
        operation_id: String,
        /// The original operation.
        original_operation_id: String,
        /// Amount, or all that is left.
        amount: Option<Decimal>,
        /// Source.
        context: Context,
        /// Now.
        now: DateTime<Utc>,
        /// A refund of an accrual: what to do when the points are gone.
        shortfall: Shortfall,
    },
    /// Credit a pending accrual for a purchase.
    AccruePending {
        /// Account.
        key: AccountKey,
        /// The pending accrual (its bucket's expiry computed by the edge).
        pending: Pending,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Capture the purchase's open holds and commit its pending accruals.
    ConfirmPurchase {
        /// Account.
        key: AccountKey,
        /// The confirm's operation id.
        operation_id: String,
        /// The purchase.
        purchase_id: String,
        /// Source.
        context: Context,
        /// The cheque's items (for the history).
        items: Vec<ChequeItem>,
        /// Its payments besides points (for the history).
        tenders: Vec<Tender>,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Release the purchase's open holds and drop its pending accruals.
    CancelPurchase {
        /// Account.
        key: AccountKey,
        /// The cancel's operation id.
        operation_id: String,
        /// The purchase.
        purchase_id: String,
        /// Source.
        context: Context,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Expire every bucket due at `now`.
    Expire {
        /// Account.
        key: AccountKey,
        /// Now.
        now: DateTime<Utc>,
    },
}

impl Command {
    /// The account and time of the command.
    pub fn key_and_time(&self) -> (&AccountKey, DateTime<Utc>) {
        match self {
            Command::Accrue { key, now, .. }
            | Command::Withdraw { key, now, .. }
            | Command::Hold { key, now, .. }
            | Command::Capture { key, now, .. }
            | Command::Release { key, now, .. }
            | Command::Refund { key, now, .. }
            | Command::AccruePending { key, now, .. }
            | Command::ConfirmPurchase { key, now, .. }
            | Command::CancelPurchase { key, now, .. }
            | Command::Expire { key, now } => (key, *now),
        }
    }
}
