//! The ledger's gRPC error boundary: every failure becomes one status, with
//! google.rpc error details that standard clients decode.

use std::collections::HashMap;

use rust_decimal::Decimal;

use kit::aggregate::RepositoryError;
use kit::log::LogError;
use tonic::Code;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::app::keys::IdempotencyKey;
use crate::domain::account::LedgerError;
use crate::domain::catalog::CatalogError;
use kit::status::StorageClass;

/// Error domain in google.rpc.ErrorInfo.
const DOMAIN: &str = "ledger.loyalty";

/// Everything a ledger call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: one violation per field.
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The account refused the command.
    #[error(transparent)]
    Domain(#[from] LedgerError),
    /// The catalog refused a new version.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The idempotency key was used for another request.
    #[error("operation id {0:?} was already used for a different request")]
    IdempotencyConflict(String),
    /// The stream was too contended.
    #[error("the account is too busy; retry")]
    Busy,
    /// A service the call depends on (identity, for member resolution)
    /// could not answer; nothing of the failed step was applied: retry.
    #[error("{0}; retry later")]
    Unavailable(String),
    /// A read model is behind the log for longer than a read waits: the
    /// answer would be stale; retry.
    #[error("{0} projection is behind the event log; retry")]
    Lagging(&'static str),
    /// The client broke the call off (reset or cancelled its upload).
    #[error("{0}")]
    Cancelled(String),
    /// Anything else (storage, corruption, shutdown): logged with an id.
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
            RepositoryError::Log(LogError::IdempotencyConflict { key }) => {
                let id = IdempotencyKey::parse(&key).map_or(key, |k| k.id().to_owned());
                ApiError::IdempotencyConflict(id)
            }
            RepositoryError::TooManyConflicts { .. } => ApiError::Busy,
            RepositoryError::Log(e) => match StorageClass::of(&e) {
                StorageClass::Retryable => ApiError::Busy,
                // The edge bounds every field; should an event still be too
                // large, it is the request's size, not the ledger's failure.
                StorageClass::BadInput => {
                    ApiError::Invalid(vec![FieldViolation::new("request", e.to_string())])
                }
                StorageClass::KeyReused => ApiError::IdempotencyConflict(String::new()),
                StorageClass::Internal => ApiError::Unexpected(anyhow::Error::new(e)),
            },
            RepositoryError::Decode { .. } => ApiError::Unexpected(anyhow::Error::new(e)),
        }
    }
}

fn info(reason: &str, metadata: HashMap<String, String>) -> ErrorDetails {
    ErrorDetails::with_error_info(reason, DOMAIN, metadata)
}

fn status(code: Code, message: String, reason: &str, metadata: &[(&str, String)]) -> tonic::Status {
    let metadata = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tonic::Status::with_error_details(code, message, info(reason, metadata))
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::Invalid(violations) => tonic::Status::with_error_details(
                Code::InvalidArgument,
                message,
                ErrorDetails::with_bad_request(violations),
            ),
            ApiError::Domain(refusal) => kit::status::refused(&refusal, DOMAIN),
            ApiError::Catalog(refusal) => kit::status::refused(&refusal, DOMAIN),
            ApiError::IdempotencyConflict(id) => status(
                Code::AlreadyExists,
                message,
                "IDEMPOTENCY_KEY_REUSED",
                &[("operation_id", id)],
            ),
            ApiError::Busy => status(Code::Aborted, message, "CONTENDED", &[]),
            ApiError::Lagging(_) => {
                tracing::warn!(error = %message, "projection behind");
                status(Code::Unavailable, message, "PROJECTION_BEHIND", &[])
            }
            ApiError::Cancelled(_) => status(Code::Cancelled, message, "CANCELLED", &[]),
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %message, "dependency unavailable");
                status(Code::Unavailable, message, "DEPENDENCY_UNAVAILABLE", &[])
            }
            ApiError::Unexpected(error) => kit::status::internal(error.as_ref(), DOMAIN),
        }
    }
}

impl LedgerError {
    /// The refusal's gRPC code, stable reason and `ErrorInfo` metadata: one
    /// row a refusal.
    fn refusal(&self) -> (Code, &'static str, Vec<(&'static str, String)>) {
        use Code::{AlreadyExists as Exists, FailedPrecondition as Failed, NotFound, OutOfRange};
        use LedgerError as E;
        let hold = |id: &String| vec![("hold_id", id.clone())];
        let operation = |id: &String| vec![("operation_id", id.clone())];
        let original = |id: &String| vec![("original_operation_id", id.clone())];
        let purchase = |id: &String| vec![("purchase_id", id.clone())];
        let amounts = |field: &'static str, left: &Decimal, requested: &Decimal| {
            vec![
                (field, left.to_string()),
                ("requested", requested.to_string()),
            ]
        };
        match self {
            E::InsufficientFunds {
                available: a,
                requested: r,
            } => (Failed, "INSUFFICIENT_FUNDS", amounts("available", a, r)),
            E::UnknownHold(h) => (NotFound, "UNKNOWN_HOLD", hold(h)),
            E::HoldClosed(h) => (Failed, "HOLD_CLOSED", hold(h)),
            E::HoldExpired(h) => (Failed, "HOLD_EXPIRED", hold(h)),
            E::HoldExists(h) => (Exists, "HOLD_EXISTS", hold(h)),
            E::CaptureExceedsHold { held, requested: r } => {
                (Failed, "CAPTURE_EXCEEDS_HOLD", amounts("held", held, r))
            }
            E::UnknownOperation(o) => (NotFound, "UNKNOWN_OPERATION", original(o)),
            E::OperationExists(o) => (Exists, "OPERATION_EXISTS", operation(o)),
            E::AlreadyRefunded(o) => (Failed, "ALREADY_REFUNDED", original(o)),
            E::NotRefundable(o) => (Failed, "NOT_REFUNDABLE", original(o)),
            E::RefundShortfall { left, requested: r } => {
                (Failed, "REFUND_SHORTFALL", amounts("available", left, r))
            }
            E::PurchaseConfirmed(p) => (Failed, "PURCHASE_CONFIRMED", purchase(p)),
            E::PurchaseCancelled(p) => (Failed, "PURCHASE_CANCELLED", purchase(p)),
            E::PurchaseLapsed(p) => (Failed, "PURCHASE_LAPSED", purchase(p)),
            E::BalanceOutOfRange => (OutOfRange, "BALANCE_OUT_OF_RANGE", Vec::new()),
            E::RefundExceedsOriginal {
                remaining,
                requested: r,
            } => (
                Failed,
                "REFUND_EXCEEDS_ORIGINAL",
                amounts("remaining", remaining, r),
            ),
        }
    }
}

/// The account's refusals: what [`LedgerError::refusal`] says.
impl kit::status::Refusal for LedgerError {
    fn code(&self) -> Code {
        self.refusal().0
    }

    fn reason(&self) -> &'static str {
        self.refusal().1
    }

    fn metadata(&self) -> Vec<(&'static str, String)> {
        self.refusal().2
    }
}

impl kit::status::Refusal for CatalogError {
    fn code(&self) -> Code {
        match self {
            CatalogError::VersionMismatch { .. } => Code::Aborted,
            CatalogError::CurrencyRemoved(_) | CatalogError::PrecisionDecreased { .. } => {
                Code::FailedPrecondition
            }
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            CatalogError::VersionMismatch { .. } => "CATALOG_VERSION_MISMATCH",
            CatalogError::CurrencyRemoved(_) => "CURRENCY_REMOVED",
            CatalogError::PrecisionDecreased { .. } => "PRECISION_DECREASED",
        }
    }

    fn metadata(&self) -> Vec<(&'static str, String)> {
        match self {
            CatalogError::VersionMismatch { expected, actual } => vec![
                ("expected_version", expected.to_string()),
                ("version", actual.to_string()),
            ],
            CatalogError::CurrencyRemoved(currency) => vec![("currency", currency.clone())],
            CatalogError::PrecisionDecreased { currency, from, to } => vec![
                ("currency", currency.clone()),
                ("precision", from.to_string()),
                ("requested", to.to_string()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lagging_projection_is_unavailable() {
        let status = tonic::Status::from(ApiError::Lagging("the history"));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "PROJECTION_BEHIND"
        );
    }
}
