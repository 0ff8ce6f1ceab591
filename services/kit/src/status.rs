//! Failures as gRPC statuses, the same way in every service.
//!
//! - A domain refusal implements [`Refusal`] (code, reason, metadata) with
//!   an exhaustive match per error type; [`refused`] renders it with a
//!   `google.rpc.ErrorInfo` in the service's error domain.
//! - Every [`LogError`] has a [`StorageClass`] (no catch-all): bad input,
//!   retryable, a reused idempotency key, or internal. Handlers map it to a
//!   status with [`storage`], consumers decide retry vs dead letter with
//!   [`StorageClass::retryable`].
//! - [`internal`] is the one format of an unexpected failure: an error id in
//!   the answer, the details only in the log under the same id.
//! - [`quote`] bounds how much of a bad value an error repeats.

use std::collections::HashMap;

use tonic::Code;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::log::LogError;

/// Longest prefix of a bad value an error message repeats, in characters.
pub const QUOTE_CHARS: usize = 32;

/// `value` for an error message: at most [`QUOTE_CHARS`] characters, then
/// `…` and the full length, so a 10 kB value never travels back in trailers.
pub fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let prefix: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_none() {
        format!("{prefix:?}")
    } else {
        format!("{prefix:?}… ({} bytes)", value.len())
    }
}

/// A domain refusal: a rule of the domain said no. Implement it with one
/// exhaustive `match` per error type (no catch-all arm), so a new variant
/// cannot compile without its status.
pub trait Refusal: std::fmt::Display {
    /// The gRPC code (FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS, ...).
    fn code(&self) -> Code;
    /// The stable reason clients switch on, e.g. `INSUFFICIENT_FUNDS`.
    fn reason(&self) -> &'static str;
    /// Details for the client (`google.rpc.ErrorInfo` metadata).
    fn metadata(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A refusal as a status: its code, its message, and an `ErrorInfo` with its
/// reason and metadata in error `domain` (e.g. `ledger.loyalty`).
pub fn refused(refusal: &dyn Refusal, domain: &str) -> tonic::Status {
    status(
        refusal.code(),
        refusal.to_string(),
        refusal.reason(),
        domain,
        refusal.metadata(),
    )
}

/// A status with an `ErrorInfo` (reason, domain, metadata).
pub fn status(
    code: Code,
    message: String,
    reason: &str,
    domain: &str,
    metadata: Vec<(&'static str, String)>,
) -> tonic::Status {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    tonic::Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, domain, metadata),
    )
}

/// Bad input: INVALID_ARGUMENT with one `BadRequest` violation per field.
pub fn invalid(violations: Vec<FieldViolation>) -> tonic::Status {
    let message = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    tonic::Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {message}"),
        ErrorDetails::with_bad_request(violations),
    )
}

/// An unexpected failure: logged with a fresh error id and its whole cause
/// chain; the caller gets INTERNAL with only that id (also in `ErrorInfo`
/// metadata `error_id`), so support can find the log line.
pub fn internal(error: &(dyn std::error::Error + 'static), domain: &str) -> tonic::Status {
    let error_id = uuid::Uuid::now_v7().to_string();
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(%error_id, error = %chain, "unexpected failure");
    status(
        Code::Internal,
        format!("internal error {error_id}"),
        "INTERNAL",
        domain,
        vec![("error_id", error_id)],
    )
}

/// What kind of failure a [`LogError`] is, for answers and for consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    /// The request itself cannot be stored (too large, bad ids): answer
    /// INVALID_ARGUMENT; a consumer dead-letters it.
    BadInput,
    /// Try again shortly (contention, a full queue): UNAVAILABLE / ABORTED;
    /// a consumer retries.
    Retryable,
    /// The idempotency key was used for another request: ALREADY_EXISTS;
    /// a consumer dead-letters it.
    KeyReused,
    /// Storage failed or is damaged: INTERNAL (logged with an id); a
    /// consumer retries (the service stops if its log is poisoned).
    Internal,
}

impl StorageClass {
    /// The class of `error` — every variant named, no catch-all.
    pub fn of(error: &LogError) -> Self {
        match error {
            LogError::Conflict { .. } | LogError::Overloaded => StorageClass::Retryable,
            LogError::InvalidStreamId { .. }
            | LogError::InvalidEventType(_)
            | LogError::InvalidMetadata(_)
            | LogError::EventTooLarge { .. }
            | LogError::TooManyEvents { .. }
            | LogError::EmptyAppend
            | LogError::InvalidIdempotencyKey(_) => StorageClass::BadInput,
            LogError::IdempotencyConflict { .. } => StorageClass::KeyReused,
            LogError::StreamNotFound(_)
            | LogError::Corrupt { .. }
            | LogError::CorruptIdempotency { .. }
            | LogError::InconsistentIndex { .. }
            | LogError::FlushFailed
            | LogError::Closed
            | LogError::Storage(_)
            | LogError::Unreadable { .. }
            | LogError::Io(_) => StorageClass::Internal,
        }
    }

    /// True when a consumer should retry the message rather than dead-letter it.
    pub fn retryable(self) -> bool {
        match self {
            StorageClass::Retryable | StorageClass::Internal => true,
            StorageClass::BadInput | StorageClass::KeyReused => false,
        }
    }
}

/// A [`LogError`] as a status, by its [`StorageClass`] (`field` names what a
/// bad-input error is about, e.g. `request`).
pub fn storage(error: &LogError, field: &str, domain: &str) -> tonic::Status {
    match StorageClass::of(error) {
        StorageClass::BadInput => invalid(vec![FieldViolation::new(field, error.to_string())]),
        StorageClass::Retryable => status(
            Code::Unavailable,
            format!("{error}; retry"),
            "RETRY",
            domain,
            Vec::new(),
        ),
        StorageClass::KeyReused => status(
            Code::AlreadyExists,
            error.to_string(),
            "KEY_REUSED",
            domain,
            Vec::new(),
        ),
        StorageClass::Internal => internal(error, domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_bounded() {
        assert_eq!(quote("RUB"), "\"RUB\"");
        let long = "X".repeat(10_000);
        let q = quote(&long);
        assert!(q.len() < 64, "{q}");
        assert!(q.ends_with("(10000 bytes)"));
    }

    #[test]
    fn storage_errors_have_a_class_and_a_status() {
        let too_large = LogError::EventTooLarge { size: 9, max: 1 };
        assert_eq!(StorageClass::of(&too_large), StorageClass::BadInput);
        assert_eq!(
            storage(&too_large, "request", "kit").code(),
            Code::InvalidArgument
        );
        assert!(StorageClass::of(&LogError::Overloaded).retryable());
        assert_eq!(
            storage(&LogError::Overloaded, "r", "kit").code(),
            Code::Unavailable
        );
        let reused = LogError::IdempotencyConflict { key: "k".into() };
        assert!(!StorageClass::of(&reused).retryable());
        assert!(matches!(
            crate::consumer::HandlerError::from_storage(reused),
            crate::consumer::HandlerError::Reject(_)
        ));
        assert!(matches!(
            crate::consumer::HandlerError::from_storage(LogError::Overloaded),
            crate::consumer::HandlerError::Retry(_)
        ));
        let failed = storage(&LogError::FlushFailed, "r", "kit");
        assert_eq!(failed.code(), Code::Internal);
        let info = failed.get_details_error_info().unwrap();
        assert!(failed.message().contains(&info.metadata["error_id"]));
    }
}

/// Longest id [`Violations::id`] takes.
pub const MAX_ID: usize = 128;

/// The violations of one request, gathered field by field before any is
/// answered, so a caller learns every bad field at once. Each service's edge
/// builds its checks on it; [`invalid`] turns them into the status.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is bad, and why.
    pub fn fail(&mut self, field: impl Into<String>, why: impl Into<String>) {
        self.0.push(FieldViolation::new(field, why));
    }

    /// The value a check of `field` gave, or `None` with its error recorded.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        checked: Result<T, E>,
    ) -> Option<T> {
        checked.map_err(|e| self.fail(field, e.to_string())).ok()
    }

    /// A required id (an operation, a purchase, a job): 1 to [`MAX_ID`]
    /// printable ASCII characters, no spaces; the value, checked or not.
    pub fn id(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() {
            self.fail(field, "is required");
        } else if value.len() > MAX_ID {
            self.fail(field, format!("is longer than {MAX_ID} characters"));
        } else if !value.chars().all(|c| c.is_ascii_graphic()) {
            self.fail(
                field,
                format!("{} has characters other than printable ASCII", quote(value)),
            );
        }
        value.to_owned()
    }

    /// How many violations so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no field was bad.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Nothing when no field was bad; else every violation.
    pub fn finish(self) -> Result<(), Vec<FieldViolation>> {
        self.finish_with(Some(()))
    }

    /// `value` when no field was bad; else every violation (`value` is
    /// `None` only when a check failed).
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, Vec<FieldViolation>> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            Some(_) | None => Err(self.0),
        }
    }
}
