//! The purchases service's gRPC error boundary: every failure becomes one
//! status. A refusal's `ErrorInfo.reason` is the seed's processing code
//! (`NotEnoughMoney`, `OperationIsConfirmed`, ...), with `errorMessage` and
//! `cashierMessage` in its metadata, so the gateway renders the seed's
//! answer from it.

use kit::aggregate::RepositoryError;
use kit::log::LogError;
use kit::status::{Refusal, StorageClass};
use tonic::Code;
use tonic_types::FieldViolation;

use crate::domain::amount::render;
use crate::domain::purchase::PurchaseError;

/// Error domain in google.rpc.ErrorInfo.
pub const DOMAIN: &str = "loyalty.purchases";

/// Everything a purchases call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: one violation per field (`InvalidRequest`).
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The purchase refused the step.
    #[error(transparent)]
    Purchase(#[from] PurchaseError),
    /// A change of the rules was refused.
    #[error(transparent)]
    Rules(crate::domain::versions::RulesError),
    /// The operation id was used for another request (`NotUniqueOperationID`).
    #[error("operation id {0:?} was already used for a different request")]
    NotUniqueOperationId(String),
    /// The purchase's stream was too contended: retry.
    #[error("the purchase is busy; retry")]
    Busy,
    /// Identity or the ledger could not answer; nothing of the step was
    /// recorded: retry with the same operation id.
    #[error("{0}; retry later")]
    Unavailable(String),
    /// Anything else: logged with an error id.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl<E> From<RepositoryError<E>> for ApiError
where
    E: std::error::Error + Send + Sync + 'static,
    ApiError: From<E>,
{
    fn from(e: RepositoryError<E>) -> Self {
        match e {
            RepositoryError::Domain(e) => e.into(),
            RepositoryError::Log(e) => e.into(),
            RepositoryError::TooManyConflicts { .. } => ApiError::Busy,
            RepositoryError::Decode { .. } => ApiError::Unexpected(anyhow::Error::new(e)),
        }
    }
}

impl ApiError {
    /// A repository error whose domain refusal is handled by the caller.
    pub fn from_repository<E: std::error::Error + Send + Sync + 'static>(
        e: RepositoryError<E>,
    ) -> Self {
        match e {
            RepositoryError::Domain(e) => ApiError::Unexpected(anyhow::Error::new(e)),
            RepositoryError::Log(e) => e.into(),
            RepositoryError::TooManyConflicts { .. } => ApiError::Busy,
            RepositoryError::Decode { .. } => ApiError::Unexpected(anyhow::Error::new(e)),
        }
    }

    /// A log error by its storage class.
    pub fn from_log(e: LogError) -> Self {
        match StorageClass::of(&e) {
            StorageClass::Retryable => ApiError::Busy,
            StorageClass::BadInput => {
                ApiError::Invalid(vec![FieldViolation::new("request", e.to_string())])
            }
            StorageClass::KeyReused => ApiError::NotUniqueOperationId(String::new()),
            StorageClass::Internal => ApiError::Unexpected(anyhow::Error::new(e)),
        }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::IdempotencyConflict { key } => {
                ApiError::NotUniqueOperationId(key.rsplit('/').next().unwrap_or_default().into())
            }
            other => ApiError::from_log(other),
        }
    }
}

impl Refusal for PurchaseError {
    fn code(&self) -> Code {
        match self {
            PurchaseError::NotFound(_)
            | PurchaseError::NotConfirmed(_)
            | PurchaseError::CardNotFound(_)
            | PurchaseError::OperationNotFound { .. } => Code::NotFound,
            PurchaseError::Confirmed(_)
            | PurchaseError::Cancelled(_)
            | PurchaseError::TimedOut(_)
            | PurchaseError::BonusExists(_)
            | PurchaseError::OtherMember(_)
            | PurchaseError::NotEnoughPoints { .. }
            | PurchaseError::PaymentLimitExceeded { .. }
            | PurchaseError::BelowMinimumPayment { .. }
            | PurchaseError::CouponNotValid(_)
            | PurchaseError::RefundExceedsPurchase(_)
            | PurchaseError::GiftCardNotValid { .. }
            | PurchaseError::GiftCardNotEnough { .. }
            | PurchaseError::DifferentCheque(_) => Code::FailedPrecondition,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            PurchaseError::NotFound(_) | PurchaseError::NotConfirmed(_) => "PurchaseNotFound",
            PurchaseError::CardNotFound(_) => "CardNotFound",
            PurchaseError::Confirmed(_) => "OperationIsConfirmed",
            PurchaseError::Cancelled(_) => "OperationIsCanceled",
            PurchaseError::TimedOut(_) => "OperationTimedOut",
            PurchaseError::BonusExists(_)
            | PurchaseError::OtherMember(_)
            | PurchaseError::DifferentCheque(_) => "DifferentCheque",
            PurchaseError::NotEnoughPoints { .. } | PurchaseError::GiftCardNotEnough { .. } => {
                "NotEnoughMoney"
            }
            PurchaseError::GiftCardNotValid { .. } => "GiftCardNotValid",
            PurchaseError::PaymentLimitExceeded { .. }
            | PurchaseError::BelowMinimumPayment { .. } => "PaymentLimitExceeded",
            PurchaseError::CouponNotValid(_) => "CouponNotValid",
            PurchaseError::RefundExceedsPurchase(_) => "RefundExceedsPurchase",
            PurchaseError::OperationNotFound { .. } => "OperationNotFound",
        }
    }

    fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut m = vec![
            ("errorMessage", self.to_string()),
            ("cashierMessage", cashier_message(self).to_owned()),
        ];
        match self {
            PurchaseError::NotEnoughPoints {
                available,
                requested,
            } => {
                m.push(("available", render(*available)));
                m.push(("requested", render(*requested)));
            }
            PurchaseError::GiftCardNotEnough {
                available,
                requested,
                ..
            } => {
                m.push(("available", render(*available)));
                m.push(("requested", render(*requested)));
            }
            PurchaseError::PaymentLimitExceeded { payable, requested } => {
                m.push(("available", render(*payable)));
                m.push(("requested", render(*requested)));
            }
            PurchaseError::BelowMinimumPayment { minimum, requested } => {
                m.push(("minimum", render(*minimum)));
                m.push(("requested", render(*requested)));
            }
            PurchaseError::NotFound(_)
            | PurchaseError::NotConfirmed(_)
            | PurchaseError::CardNotFound(_)
            | PurchaseError::Confirmed(_)
            | PurchaseError::Cancelled(_)
            | PurchaseError::TimedOut(_)
            | PurchaseError::BonusExists(_)
            | PurchaseError::OtherMember(_)
            | PurchaseError::CouponNotValid(_)
            | PurchaseError::RefundExceedsPurchase(_)
            | PurchaseError::GiftCardNotValid { .. }
            | PurchaseError::OperationNotFound { .. }
            | PurchaseError::DifferentCheque(_) => {}
        }
        m
    }
}

/// What the till shows the cashier.
fn cashier_message(e: &PurchaseError) -> &'static str {
    match e {
        PurchaseError::NotFound(_) | PurchaseError::NotConfirmed(_) => "Purchase not found",
        PurchaseError::CardNotFound(_) => "Card not found",
        PurchaseError::Confirmed(_) => "The purchase is confirmed already",
        PurchaseError::Cancelled(_) => "The purchase is cancelled",
        PurchaseError::TimedOut(_) => "The purchase timed out and is cancelled",
        PurchaseError::BonusExists(_)
        | PurchaseError::OtherMember(_)
        | PurchaseError::DifferentCheque(_) => "The cheque differs from the purchase",
        PurchaseError::NotEnoughPoints { .. } => "Not enough points on the card",
        PurchaseError::GiftCardNotValid { .. } => "The gift certificate cannot pay",
        PurchaseError::GiftCardNotEnough { .. } => "Not enough money on the gift certificate",
        PurchaseError::PaymentLimitExceeded { .. } | PurchaseError::BelowMinimumPayment { .. } => {
            "Points beyond what this cheque allows"
        }
        PurchaseError::CouponNotValid(_) => "Coupon not valid",
        PurchaseError::RefundExceedsPurchase(_) => "More returned than was bought",
        PurchaseError::OperationNotFound { .. } => "No such operation in this purchase",
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(violations) => kit::status::invalid(violations),
            ApiError::Purchase(refusal) => kit::status::refused(&refusal, DOMAIN),
            ApiError::Rules(crate::domain::versions::RulesError::VersionMismatch {
                expected,
                actual,
            }) => kit::status::status(
                Code::Aborted,
                e.to_string(),
                "RULES_VERSION_MISMATCH",
                DOMAIN,
                vec![
                    ("expected_version", expected.to_string()),
                    ("version", actual.to_string()),
                ],
            ),
            ApiError::NotUniqueOperationId(ref id) => kit::status::status(
                Code::AlreadyExists,
                e.to_string(),
                "NotUniqueOperationID",
                DOMAIN,
                vec![("operationId", id.clone())],
            ),
            ApiError::Busy => {
                kit::status::status(Code::Aborted, e.to_string(), "Busy", DOMAIN, Vec::new())
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %e, "upstream unavailable");
                kit::status::status(
                    Code::Unavailable,
                    e.to_string(),
                    "DependencyUnavailable",
                    DOMAIN,
                    Vec::new(),
                )
            }
            ApiError::Unexpected(error) => kit::status::internal(error.as_ref(), DOMAIN),
        }
    }
}
