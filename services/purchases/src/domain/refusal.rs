//! Why a purchase step is refused: the seed's processing codes name each
//! case (see `crate::error` for the mapping to gRPC statuses).

use rust_decimal::Decimal;

/// Why a step is refused (the seed's processing codes name them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum PurchaseError {
    /// The purchase has had no step yet (`PurchaseNotFound`).
    #[error("purchase {0:?} not found")]
    NotFound(String),
    /// It is confirmed (`OperationIsConfirmed`).
    #[error("purchase {0:?} is confirmed")]
    Confirmed(String),
    /// It is cancelled (`OperationIsCanceled`).
    #[error("purchase {0:?} is cancelled")]
    Cancelled(String),
    /// It timed out and was cancelled (`OperationTimedOut`).
    #[error("purchase {0:?} was not confirmed in time and is cancelled")]
    TimedOut(String),
    /// It is not confirmed: nothing to refund (`PurchaseNotFound`).
    #[error("purchase {0:?} is not confirmed: nothing to refund")]
    NotConfirmed(String),
    /// Its points were computed already by another Bonus step.
    #[error("the points of purchase {0:?} are computed already")]
    BonusExists(String),
    /// The step belongs to another member than the purchase's.
    #[error("the card belongs to another member than purchase {0:?}'s")]
    OtherMember(String),
    /// No member has this card (`CardNotFound`).
    #[error("no member has card {0}")]
    CardNotFound(String),
    /// Not enough points (`NotEnoughMoney`).
    #[error("not enough points: {available} available, {requested} requested")]
    NotEnoughPoints {
        /// Spendable now.
        available: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// More points than the rules allow for the cheque (`PaymentLimitExceeded`).
    #[error("{requested} points exceed the {payable} payable for this cheque")]
    PaymentLimitExceeded {
        /// Most points payable.
        payable: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// Fewer points than one payment must use (`PaymentLimitExceeded`).
    #[error("{requested} points are below the minimum payment of {minimum}")]
    BelowMinimumPayment {
        /// The minimum.
        minimum: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// An unknown, expired or used coupon (`CouponNotValid`).
    #[error("coupon {0:?} is not valid")]
    CouponNotValid(String),
    /// A refund beyond what is left of a line (`RefundExceedsPurchase`).
    #[error("{0}")]
    RefundExceedsPurchase(String),
    /// A gift certificate of `pays` is unknown, not active, past its date,
    /// or a one-time one not paid whole (`GiftCardNotValid`).
    #[error("gift certificate {card}: {why}")]
    GiftCardNotValid {
        /// The certificate, masked.
        card: String,
        /// Why.
        why: String,
    },
    /// A gift certificate has less money than it should pay
    /// (`NotEnoughMoney`).
    #[error("gift certificate {card}: {available} available, {requested} requested")]
    GiftCardNotEnough {
        /// The certificate, masked.
        card: String,
        /// Its money not held.
        available: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// The step differs from the purchase's cheque (`DifferentCheque`).
    #[error("{0}")]
    DifferentCheque(String),
    /// An operation to cancel that the purchase has not recorded
    /// (`OperationNotFound`).
    #[error("purchase {purchase:?} has no operation {operation:?}")]
    OperationNotFound {
        /// The purchase.
        purchase: String,
        /// The operation asked for.
        operation: String,
    },
}
