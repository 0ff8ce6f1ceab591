//! The identity service's gRPC error boundary: every failure becomes one
//! status with google.rpc details (ErrorInfo reason + metadata, BadRequest
//! field violations); unexpected failures get an error id that is also
//! logged (`kit::status::internal`, the same format in every service; the
//! gateway renders it as the seed's `Fail` with "Идентификатор ошибки").

use kit::aggregate::RepositoryError;
use kit::status::{Refusal, internal, invalid, refused, storage};
use tonic::Code;
use tonic_types::FieldViolation;

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

fn status(
    code: Code,
    message: String,
    reason: &str,
    metadata: &[(&'static str, String)],
) -> tonic::Status {
    kit::status::status(code, message, reason, DOMAIN, metadata.to_vec())
}

impl Refusal for MemberError {
    fn code(&self) -> Code {
        match self {
            MemberError::NotOpen => Code::NotFound,
            MemberError::AlreadyOpen => Code::AlreadyExists,
            MemberError::StepAlreadyDone(_)
            | MemberError::StepRequired(_)
            | MemberError::AlreadyRegistered
            | MemberError::NothingToConfirm
            | MemberError::CodeExpired
            | MemberError::CodeLocked => Code::FailedPrecondition,
            MemberError::ResendCooldown { .. }
            | MemberError::DailyLimit { .. }
            | MemberError::LoginLocked { .. } => Code::ResourceExhausted,
            MemberError::TokenInvalid => Code::Unauthenticated,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            MemberError::NotOpen => "MEMBER_NOT_FOUND",
            MemberError::AlreadyOpen => "MEMBER_EXISTS",
            MemberError::StepAlreadyDone(_) => "STEP_ALREADY_DONE",
            MemberError::StepRequired(_) => "STEP_REQUIRED",
            MemberError::AlreadyRegistered => "ALREADY_REGISTERED",
            MemberError::NothingToConfirm => "NOTHING_TO_CONFIRM",
            MemberError::CodeExpired => "CONFIRM_CODE_EXPIRED",
            MemberError::CodeLocked => "CONFIRM_CODE_LOCKED",
            MemberError::ResendCooldown { .. } => "RESEND_COOLDOWN",
            MemberError::DailyLimit { .. } => "DAILY_LIMIT",
            MemberError::TokenInvalid => "TOKEN_INVALID",
            MemberError::LoginLocked { .. } => "LOGIN_LOCKED",
        }
    }

    fn metadata(&self) -> Vec<(&'static str, String)> {
        match self {
            MemberError::StepAlreadyDone(s) | MemberError::StepRequired(s) => {
                vec![("step", s.name().to_owned())]
            }
            MemberError::ResendCooldown { retry_after_secs }
            | MemberError::DailyLimit { retry_after_secs }
            | MemberError::LoginLocked { retry_after_secs } => {
                vec![("retry_after_seconds", retry_after_secs.to_string())]
            }
            MemberError::NotOpen
            | MemberError::AlreadyOpen
            | MemberError::AlreadyRegistered
            | MemberError::NothingToConfirm
            | MemberError::CodeExpired
            | MemberError::CodeLocked
            | MemberError::TokenInvalid => Vec::new(),
        }
    }
}

impl Refusal for CardError {
    fn code(&self) -> Code {
        match self {
            CardError::Unknown => Code::NotFound,
            CardError::TakenByOther | CardError::Blocked => Code::FailedPrecondition,
            CardError::Exists => Code::AlreadyExists,
            CardError::RangeExhausted => Code::ResourceExhausted,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            CardError::Unknown => "CARD_NOT_FOUND",
            CardError::TakenByOther => "CARD_TAKEN",
            CardError::Blocked => "CARD_BLOCKED",
            CardError::Exists => "CARD_EXISTS",
            CardError::RangeExhausted => "VIRTUAL_RANGE_EXHAUSTED",
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::Invalid(violations) => invalid(violations),
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
            ApiError::Member(m) => refused(&m, DOMAIN),
            ApiError::Card(c) => refused(&c, DOMAIN),
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
            ApiError::Storage(e) => storage(&e, "request", DOMAIN),
            ApiError::Unexpected(error) => internal(error.as_ref(), DOMAIN),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;
    use crate::domain::model::Step;

    #[test]
    fn refusals_keep_their_code_reason_and_details() {
        let s = tonic::Status::from(ApiError::Member(MemberError::StepRequired(
            Step::ChangePhone,
        )));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(
            s.message(),
            "step USER_ACTION_TYPE_CHANGE_PHONE is required first"
        );
        let info = s.get_details_error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("STEP_REQUIRED", DOMAIN)
        );
        assert_eq!(info.metadata["step"], "USER_ACTION_TYPE_CHANGE_PHONE");
        let s = tonic::Status::from(ApiError::Card(CardError::RangeExhausted));
        assert_eq!(s.code(), Code::ResourceExhausted);
        let info = s.get_details_error_info().unwrap();
        assert_eq!(info.reason, "VIRTUAL_RANGE_EXHAUSTED");
        let s = tonic::Status::from(violation("login", "bad"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "invalid request: login: bad");
    }
}
