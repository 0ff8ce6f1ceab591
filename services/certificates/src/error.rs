//! The certificates service's gRPC error boundary: every failure becomes
//! one status.

use kit::log::LogError;
use tonic::Code;
use tonic_types::FieldViolation;

use crate::app::import::ImportError;
use crate::domain::redemption::UseError;

/// Error domain in google.rpc.ErrorInfo.
pub const DOMAIN: &str = "loyalty.certificates";

/// Everything a certificates call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: one violation per field.
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No certificate has the identifier.
    #[error("no certificate has {0}")]
    NotFound(String),
    /// A payment with the certificate was refused.
    #[error(transparent)]
    Use(#[from] UseError),
    /// Another definition has the id.
    #[error("{0}")]
    Exists(String),
    /// The partner has no account in its type's currency in the
    /// ledger.
    #[error(
        "partner {partner_id} has no {currency} account in the ledger: open one (OpenAccount, owner partner:{partner_id}) first"
    )]
    PartnerAccountMissing {
        /// The partner.
        partner_id: String,
        /// The currency.
        currency: String,
    },
    /// A service this call needs did not answer (nothing was recorded).
    #[error("{0}")]
    Unavailable(String),
    /// This service never ran the import.
    #[error("no import {0}")]
    ImportNotFound(String),
    /// The same import is running now.
    #[error("import {0} is running; ask GetImport for its progress")]
    ImportRunning(String),
    /// The event log failed or refused.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Anything else: logged with an error id.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Header(reason) => ApiError::Invalid(vec![FieldViolation::new(
                "data",
                format!("the file's header: {reason}"),
            )]),
            ImportError::Unreadable { line, reason } => {
                ApiError::Invalid(vec![FieldViolation::new(
                    "data",
                    format!("line {line}: {reason}"),
                )])
            }
            ImportError::Log(e) => ApiError::Log(e),
            ImportError::Storage(reason) => ApiError::Unexpected(anyhow::anyhow!(reason)),
            ImportError::Running(id) => ApiError::ImportRunning(id),
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(v) => kit::status::invalid(v),
            ApiError::NotFound(_) => kit::status::status(
                Code::NotFound,
                e.to_string(),
                "CERTIFICATE_NOT_FOUND",
                DOMAIN,
                Vec::new(),
            ),
            ApiError::Use(UseError::NotPositive) => {
                kit::status::invalid(vec![FieldViolation::new("amount", e.to_string())])
            }
            ApiError::Use(ref u) => kit::status::status(
                match u {
                    UseError::UnknownHold(_) => Code::NotFound,
                    UseError::HoldConflict(_) => Code::AlreadyExists,
                    _ => Code::FailedPrecondition,
                },
                e.to_string(),
                match u {
                    UseError::NotActive(_) => "CERTIFICATE_NOT_ACTIVE",
                    UseError::NotEnough { .. } => "NOT_ENOUGH_MONEY",
                    UseError::Whole(_) => "ONE_TIME_WHOLE",
                    UseError::UnknownHold(_) => "HOLD_NOT_FOUND",
                    UseError::HoldConflict(_) => "HOLD_CONFLICT",
                    UseError::HoldLapsed(_) => "HOLD_LAPSED",
                    UseError::NotPositive => "INVALID",
                    UseError::RefundTooLarge { .. } => "REFUND_EXCEEDS_HOLD",
                },
                DOMAIN,
                match u {
                    UseError::NotEnough {
                        available,
                        requested,
                    } => vec![
                        ("available", available.to_string()),
                        ("requested", requested.to_string()),
                    ],
                    _ => Vec::new(),
                },
            ),
            ApiError::Exists(_) => kit::status::status(
                Code::AlreadyExists,
                e.to_string(),
                "ALREADY_DEFINED",
                DOMAIN,
                Vec::new(),
            ),
            ApiError::ImportNotFound(_) => kit::status::status(
                Code::NotFound,
                e.to_string(),
                "IMPORT_NOT_FOUND",
                DOMAIN,
                Vec::new(),
            ),
            ApiError::PartnerAccountMissing { .. } => kit::status::status(
                Code::FailedPrecondition,
                e.to_string(),
                "PARTNER_ACCOUNT_MISSING",
                DOMAIN,
                Vec::new(),
            ),
            ApiError::Unavailable(ref m) => tonic::Status::unavailable(m.clone()),
            ApiError::ImportRunning(_) => kit::status::status(
                Code::FailedPrecondition,
                e.to_string(),
                "IMPORT_RUNNING",
                DOMAIN,
                Vec::new(),
            ),
            ApiError::Log(ref log) => kit::status::storage(log, "data", DOMAIN),
            ApiError::Unexpected(ref err) => kit::status::internal(err.as_ref(), DOMAIN),
        }
    }
}
