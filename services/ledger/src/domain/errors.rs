//! Why the ledger refuses a command.

use rust_decimal::Decimal;

/// Why a command was refused. Serialisable: a refusal is stored under the
/// request's idempotency key, and a repeat gets the same refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum LedgerError {
    /// Not enough spendable amount.
    #[error("insufficient funds: available {available}, requested {requested}")]
    InsufficientFunds {
        /// Spendable now.
        available: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// No hold with this id.
    #[error("hold {0:?} does not exist")]
    UnknownHold(String),
    /// The hold was captured or released already.
    #[error("hold {0:?} is no longer open")]
    HoldClosed(String),
    /// The hold lapsed (its time-to-live passed) before it was captured or
    /// released; the ledger released it.
    #[error("hold {0:?} has expired")]
    HoldExpired(String),
    /// A hold with this id exists already.
    #[error("hold {0:?} exists already")]
    HoldExists(String),
    /// Capturing more than is held.
    #[error("capture of {requested} exceeds the hold of {held}")]
    CaptureExceedsHold {
        /// Held.
        held: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// No operation with this id in the account.
    #[error("operation {0:?} does not exist in this account")]
    UnknownOperation(String),
    /// The operation id is used by another operation of this account.
    #[error("operation id {0:?} is already used in this account")]
    OperationExists(String),
    /// The operation would take a balance beyond what the ledger can hold.
    #[error("the balance would leave the range the ledger can hold")]
    BalanceOutOfRange,
    /// The original was refunded in full already.
    #[error("operation {0:?} is refunded in full already")]
    AlreadyRefunded(String),
    /// The operation is a refund or a release: nothing to refund.
    #[error("operation {0:?} cannot be refunded")]
    NotRefundable(String),
    /// Refunding more than is left of the original.
    #[error("refund of {requested} exceeds the {remaining} left to refund")]
    RefundExceedsOriginal {
        /// Left to refund.
        remaining: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// A refund with shortfall [`super::model::Shortfall::Refuse`]: the
    /// accrual's bucket no longer holds all to take back.
    #[error("only {left} of the accrual is left to take back, {requested} requested")]
    RefundShortfall {
        /// Left in the accrual's bucket.
        left: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// The purchase was confirmed on this account already: it takes no new
    /// hold or pending accrual, no cancel (refund it instead) and no
    /// confirm under another operation id.
    #[error("purchase {0:?} is confirmed already")]
    PurchaseConfirmed(String),
    /// The purchase was cancelled on this account already.
    #[error("purchase {0:?} is cancelled already")]
    PurchaseCancelled(String),
    /// A hold or pending accrual of the purchase lapsed before the confirm:
    /// the purchase can only be cancelled.
    #[error("purchase {0:?} has a lapsed hold or pending accrual; cancel it")]
    PurchaseLapsed(String),
}
