//! The identity service's gRPC error boundary: every failure becomes one
//! status with google.rpc details (ErrorInfo reason + metadata, BadRequest
//! field violations); unexpected failures get an error id that is also
//! logged (`kit::status::internal`, the same format in every service; the
//! gateway renders it as the seed's `Fail` with "Идентификатор ошибки").

use std::collections::HashMap;

use kit::aggregate::RepositoryError;
use tonic::Code;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::card::{CardError, Taken};
use crate::domain::member::MemberError;
use crate::domain::message::FailReason;

/// Error domain in google.rpc.ErrorInfo.
const DOMAIN: &str = "identity.loyalty";

/// Everything an identity call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: one violation per field (answers: `question:<id>`).
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No, expired, revoked or rotated token.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// Wrong login or password.
    #[error("wrong login or password")]
    BadCredentials,
    /// A member's token used on another member.
    #[error("the token's member may not act on this member")]
    Forbidden,
    /// The member refused the command.
    #[error(transparent)]
    Member(#[from] MemberError),
    /// A card refused the command.
    #[error(transparent)]
    Card(#[from] CardError),
    /// Something unique is held by another member.
    #[error("{0} is already linked to another member")]
    Taken(&'static str),
    /// Nothing matches.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The flow is switched off by configuration.
    #[error("{0}")]
    Disabled(&'static str),
    /// A request id reused for another request.
    #[error("this request id was used for another request")]
    RequestReused,
    /// More than one thing matches where one was asked for.
    #[error("{0}")]
    Ambiguous(&'static str),
    /// The member has a virtual card already (one per member).
    #[error("the member has a virtual card already")]
    VirtualCardExists,
    /// A message could not be delivered.
    #[error("the message could not be delivered; retry")]
    Delivery,
    /// A message request failed for good (recorded as `MessageFailed`).
    #[error("the message cannot be sent: {reason}: {detail}", reason = .reason.as_str())]
    MessageFailed {
        /// Why.
        reason: FailReason,
        /// Details (no body, no recipient).
        detail: String,
    },
    /// A stream was too contended.
    #[error("busy; retry")]
    Busy,
    /// The event log refused or failed (rendered by its
    /// [`kit::status::StorageClass`]: bad input, retry, reused key, internal).
    #[error(transparent)]
    Storage(kit::log::LogError),
    /// Anything else: logged with an id.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// One invalid field.
pub fn violation(field: &str, description: impl Into<String>) -> ApiError {
    ApiError::Invalid(vec![FieldViolation::new(field, description)])
}

macro_rules! from_repo {
    ($err:ty, $arm:expr) => {
        impl From<RepositoryError<$err>> for ApiError {
            fn from(e: RepositoryError<$err>) -> Self {
                match e {
                    RepositoryError::Domain(d) => $arm(d),
                    RepositoryError::TooManyConflicts { .. } => ApiError::Busy,
                    RepositoryError::Log(e) => ApiError::Storage(e),
                    e @ RepositoryError::Decode { .. } => {
                        ApiError::Unexpected(anyhow::Error::new(e))
                    }
                }
            }
        }
    };
}
from_repo!(MemberError, ApiError::Member);
from_repo!(CardError, ApiError::Card);
from_repo!(Taken, |_| ApiError::Taken("it"));
from_repo!(std::convert::Infallible, |never| match never {});

fn status(code: Code, message: String, reason: &str, metadata: &[(&str, String)]) -> tonic::Status {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tonic::Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, metadata),
    )
}

fn member_status(e: MemberError, message: String) -> tonic::Status {
    let step = |s: crate::domain::model::Step| ("step", s.name().to_owned());
    let retry = |secs: i64| ("retry_after_seconds", secs.to_string());
    match e {
        MemberError::NotOpen => status(Code::NotFound, message, "MEMBER_NOT_FOUND", &[]),
        MemberError::AlreadyOpen => status(Code::AlreadyExists, message, "MEMBER_EXISTS", &[]),
        MemberError::StepAlreadyDone(s) => status(
            Code::FailedPrecondition,
            message,
            "STEP_ALREADY_DONE",
            &[step(s)],
        ),
        MemberError::StepRequired(s) => status(
            Code::FailedPrecondition,
            message,
            "STEP_REQUIRED",
            &[step(s)],
        ),
        MemberError::AlreadyRegistered => {
            status(Code::FailedPrecondition, message, "ALREADY_REGISTERED", &[])
        }
        MemberError::NothingToConfirm => {
            status(Code::FailedPrecondition, message, "NOTHING_TO_CONFIRM", &[])
        }
        MemberError::CodeExpired => status(
            Code::FailedPrecondition,
            message,
            "CONFIRM_CODE_EXPIRED",
            &[],
        ),
        MemberError::CodeLocked => status(
            Code::FailedPrecondition,
            message,
            "CONFIRM_CODE_LOCKED",
            &[],
        ),
        MemberError::ResendCooldown { retry_after_secs } => status(
            Code::ResourceExhausted,
            message,
            "RESEND_COOLDOWN",
            &[retry(retry_after_secs)],
        ),
        MemberError::DailyLimit { retry_after_secs } => status(
            Code::ResourceExhausted,
            message,
            "DAILY_LIMIT",
            &[retry(retry_after_secs)],
        ),
        MemberError::TokenInvalid => status(Code::Unauthenticated, message, "TOKEN_INVALID", &[]),
        MemberError::LoginLocked { retry_after_secs } => status(
            Code::ResourceExhausted,
            message,
            "LOGIN_LOCKED",
            &[retry(retry_after_secs)],
        ),
    }
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
            ApiError::Unauthenticated(why) => status(
                Code::Unauthenticated,
                message,
                "TOKEN_INVALID",
                &[("why", why.into())],
            ),
            ApiError::BadCredentials => {
                status(Code::Unauthenticated, message, "INVALID_CREDENTIALS", &[])
            }
            ApiError::Forbidden => status(Code::PermissionDenied, message, "FORBIDDEN", &[]),
            ApiError::Member(m) => member_status(m, message),
            ApiError::Card(c) => match c {
                CardError::Unknown => status(Code::NotFound, message, "CARD_NOT_FOUND", &[]),
                CardError::TakenByOther => {
                    status(Code::FailedPrecondition, message, "CARD_TAKEN", &[])
                }
                CardError::Blocked => {
                    status(Code::FailedPrecondition, message, "CARD_BLOCKED", &[])
                }
                CardError::Exists => status(Code::AlreadyExists, message, "CARD_EXISTS", &[]),
                CardError::RangeExhausted => status(
                    Code::ResourceExhausted,
                    message,
                    "VIRTUAL_RANGE_EXHAUSTED",
                    &[],
                ),
            },
            ApiError::Taken(what) => status(
                Code::AlreadyExists,
                message,
                "ALREADY_LINKED",
                &[("what", what.into())],
            ),
            ApiError::NotFound(what) => status(
                Code::NotFound,
                message,
                "NOT_FOUND",
                &[("what", what.into())],
            ),
            ApiError::Disabled(_) => status(Code::FailedPrecondition, message, "DISABLED", &[]),
            ApiError::RequestReused => {
                status(Code::AlreadyExists, message, "REQUEST_ID_REUSED", &[])
            }
            ApiError::Ambiguous(_) => status(Code::FailedPrecondition, message, "AMBIGUOUS", &[]),
            ApiError::VirtualCardExists => status(
                Code::FailedPrecondition,
                message,
                "VIRTUAL_CARD_EXISTS",
                &[],
            ),
            ApiError::Delivery => status(Code::Unavailable, message, "DELIVERY_FAILED", &[]),
            ApiError::MessageFailed { reason, .. } => {
                status(Code::FailedPrecondition, message, reason.as_str(), &[])
            }
            ApiError::Busy => status(Code::Aborted, message, "CONTENDED", &[]),
            ApiError::Storage(e) => kit::status::storage(&e, "request", DOMAIN),
            ApiError::Unexpected(error) => kit::status::internal(error.as_ref(), DOMAIN),
        }
    }
}
