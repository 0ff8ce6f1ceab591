//! The gateway's one error boundary: every failure becomes an HTTP status
//! and an envelope. [`status_table`] is the one table from a service's gRPC
//! code to an HTTP status and a result state; it is exhaustive (a new code
//! does not compile without its row).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::Code;
use tonic_types::StatusExt;

use crate::envelope::{Envelope, ResultBlock, ResultState, ValidationError};

/// Everything a gateway call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed; nothing was sent on.
    #[error("invalid request")]
    Invalid(Vec<ValidationError>),
    /// No credentials, or credentials the gateway does not accept.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Credentials that do not allow this call.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The body is larger than `--max-body-kib`.
    #[error("the request body is too large")]
    TooLarge,
    /// No such path.
    #[error("{0}")]
    NotFound(&'static str),
    /// The path exists, not with this method.
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// Too many requests from one address or for one login.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry can pass.
        retry_after_secs: u64,
    },
    /// A service answered with an error status.
    #[error("{}", .0.message())]
    Upstream(tonic::Status),
    /// Anything else: logged with an error id.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<tonic::Status> for GatewayError {
    fn from(status: tonic::Status) -> Self {
        GatewayError::Upstream(status)
    }
}

impl GatewayError {
    /// One invalid field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        GatewayError::Invalid(vec![ValidationError {
            field: field.to_owned(),
            error_messages: vec![message.into()],
        }])
    }
}

/// A service's gRPC code as the HTTP status and result state the gateway
/// answers with. Refusals by a rule are `Error`, malformed input is
/// `ValidationError`, the platform failing is `Fail`.
///
/// `ABORTED` (a busy aggregate, a version that moved) is a 503 `Error` with
/// `Retry-After`: retrying with the same operation id is safe. An
/// `UNAUTHENTICATED` or `PERMISSION_DENIED` without the service's
/// `ErrorInfo` is a service refusing the gateway's own credentials: a
/// `Fail`, not the caller's fault (see [`GatewayError::into_response`]).
pub fn status_table(code: Code) -> (StatusCode, ResultState) {
    use ResultState::{Error, Fail, Success, ValidationError as Invalid};
    match code {
        Code::Ok => (StatusCode::OK, Success),
        Code::InvalidArgument | Code::OutOfRange => (StatusCode::BAD_REQUEST, Invalid),
        Code::NotFound => (StatusCode::NOT_FOUND, Error),
        Code::AlreadyExists => (StatusCode::CONFLICT, Error),
        Code::Aborted => (StatusCode::SERVICE_UNAVAILABLE, Error),
        Code::FailedPrecondition => (StatusCode::UNPROCESSABLE_ENTITY, Error),
        Code::Unauthenticated => (StatusCode::UNAUTHORIZED, Error),
        Code::PermissionDenied => (StatusCode::FORBIDDEN, Error),
        Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, Error),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            (StatusCode::SERVICE_UNAVAILABLE, Fail)
        }
        Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, Fail),
        Code::Internal | Code::Unknown | Code::DataLoss => (StatusCode::BAD_GATEWAY, Fail),
    }
}

/// A service's field path (`step.operation_id`, `cheque.lines[0].goods_id`)
/// in the public API's spelling (`operationId`, `cheque.lines[0].goodsId`):
/// camel case, and the step's fields at the top of the body.
pub fn public_field(path: &str) -> String {
    let path = path.strip_prefix("step.").unwrap_or(path);
    let path = path.strip_prefix("device.").unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The `ErrorInfo` reason of a service's status (`NotEnoughMoney`), if any.
pub fn reason(status: &tonic::Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
}

/// Fields whose values are secrets or card data: a service's description
/// of them is replaced, since it may quote a prefix of the value.
const SENSITIVE: &[&str] = &[
    "identifier",
    "pan",
    "bindingId",
    "pinCode",
    "cardNumber",
    "password",
    "confirmCode",
    "login",
    "token",
    "phoneNumber",
    "email",
    "details",
    "certificate",
];

fn sensitive(field: &str) -> bool {
    field
        .split(['.', '['])
        .any(|part| SENSITIVE.contains(&part))
}

/// The violations of an `INVALID_ARGUMENT` status, by public field
/// (descriptions of sensitive fields replaced).
pub fn violations(status: &tonic::Status) -> Vec<ValidationError> {
    let details = status.get_error_details();
    let mut out: Vec<ValidationError> = Vec::new();
    for v in details
        .bad_request()
        .map(|b| b.field_violations.as_slice())
        .unwrap_or_default()
    {
        let field = public_field(&v.field);
        let message = if sensitive(&field) {
            "is not valid".to_owned()
        } else {
            v.description.clone()
        };
        match out.iter_mut().find(|e| e.field == field) {
            Some(e) => e.error_messages.push(message),
            None => out.push(ValidationError {
                field,
                error_messages: vec![message],
            }),
        }
    }
    if out.is_empty() {
        out.push(ValidationError {
            field: String::new(),
            error_messages: vec!["the request is not valid".to_owned()],
        });
    }
    out
}

fn envelope(
    status: StatusCode,
    state: ResultState,
    message: String,
    code: Option<String>,
    validation: Option<Vec<ValidationError>>,
) -> Response {
    let body = Envelope::<serde_json::Value> {
        data: None,
        result: ResultBlock {
            state,
            message: Some(message),
            message_code: code,
            validation_errors: validation,
            error_id: None,
        },
    };
    (status, Json(body)).into_response()
}

/// The one format of a failure of the platform: a fresh error id in the
/// answer (`errorId`, and in the message) and in the log line with the
/// cause; `messageCode` says what kind (`Unavailable`, `Timeout`,
/// `NotImplemented`, `InternalError`).
pub fn fail(status: StatusCode, cause: &str) -> Response {
    let error_id = uuid::Uuid::now_v7().to_string();
    tracing::error!(%error_id, error = %cause, "request failed");
    let code = match status {
        StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
        StatusCode::GATEWAY_TIMEOUT => "Timeout",
        StatusCode::NOT_IMPLEMENTED => "NotImplemented",
        _ => "InternalError",
    };
    let body = Envelope::<serde_json::Value> {
        data: None,
        result: ResultBlock {
            state: ResultState::Fail,
            message: Some(format!("the request failed; error id {error_id}")),
            message_code: Some(code.to_owned()),
            validation_errors: None,
            error_id: Some(error_id),
        },
    };
    let mut r = (status, Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match self {
            GatewayError::Invalid(errors) => envelope(
                StatusCode::BAD_REQUEST,
                ResultState::ValidationError,
                "the request has invalid fields".into(),
                Some("ValidationError".into()),
                Some(errors),
            ),
            GatewayError::Unauthorized(why) => {
                let mut r = envelope(
                    StatusCode::UNAUTHORIZED,
                    ResultState::Error,
                    why.into(),
                    Some("Unauthorized".into()),
                    None,
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            GatewayError::Forbidden(why) => envelope(
                StatusCode::FORBIDDEN,
                ResultState::Error,
                why.into(),
                Some("Forbidden".into()),
                None,
            ),
            GatewayError::TooLarge => envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                ResultState::ValidationError,
                "the request body is too large".into(),
                Some("TooLarge".into()),
                Some(vec![ValidationError {
                    field: "body".into(),
                    error_messages: vec!["larger than the gateway accepts".into()],
                }]),
            ),
            GatewayError::NotFound(why) => envelope(
                StatusCode::NOT_FOUND,
                ResultState::Error,
                why.into(),
                Some("NotFound".into()),
                None,
            ),
            GatewayError::MethodNotAllowed => envelope(
                StatusCode::METHOD_NOT_ALLOWED,
                ResultState::Error,
                "this method is not allowed on this path; see /openapi.json".into(),
                Some("MethodNotAllowed".into()),
                None,
            ),
            GatewayError::RateLimited { retry_after_secs } => {
                let mut r = envelope(
                    StatusCode::TOO_MANY_REQUESTS,
                    ResultState::Error,
                    format!("too many requests; retry in {retry_after_secs} s"),
                    Some("RateLimited".into()),
                    None,
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                r
            }
            GatewayError::Upstream(status)
                if matches!(
                    status.code(),
                    Code::Unauthenticated | Code::PermissionDenied
                ) && reason(&status).is_none() =>
            {
                fail(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "a service refused the gateway's credentials: {}",
                        status.message()
                    ),
                )
            }
            GatewayError::Upstream(status) => {
                let (http, state) = status_table(status.code());
                match state {
                    ResultState::ValidationError => envelope(
                        http,
                        state,
                        "the request has invalid fields".into(),
                        Some("ValidationError".into()),
                        Some(violations(&status)),
                    ),
                    ResultState::Fail => {
                        fail(http, &format!("{:?}: {}", status.code(), status.message()))
                    }
                    ResultState::Success | ResultState::Error => {
                        let code =
                            reason(&status).unwrap_or_else(|| format!("{:?}", status.code()));
                        let mut r =
                            envelope(http, state, status.message().to_owned(), Some(code), None);
                        if matches!(status.code(), Code::ResourceExhausted | Code::Aborted) {
                            r.headers_mut()
                                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                        }
                        r
                    }
                }
            }
            GatewayError::Unexpected(e) => {
                fail(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_paths_read_as_the_public_fields() {
        assert_eq!(public_field("step.operation_id"), "operationId");
        assert_eq!(
            public_field("cheque.lines[0].goods_id"),
            "cheque.lines[0].goodsId"
        );
        assert_eq!(public_field("step.device.cashier"), "cashier");
        assert_eq!(public_field("amount"), "amount");
    }

    #[test]
    fn descriptions_of_sensitive_fields_are_not_passed_on() {
        let status = kit::status::invalid(vec![
            tonic_types::FieldViolation::new(
                "step.identifier.value",
                "\"4276 0100 1386 6254\" has characters other than printable ASCII",
            ),
            tonic_types::FieldViolation::new("step.operation_id", "is required"),
        ]);
        let v = violations(&status);
        assert_eq!(v[0].field, "identifier.value");
        assert!(!v[0].error_messages[0].contains("4276"), "{v:?}");
        assert_eq!(v[1].error_messages, vec!["is required".to_owned()]);
    }

    #[test]
    fn every_code_has_a_row_and_failures_are_fail() {
        assert_eq!(
            status_table(Code::Unavailable),
            (StatusCode::SERVICE_UNAVAILABLE, ResultState::Fail)
        );
        assert_eq!(
            status_table(Code::InvalidArgument),
            (StatusCode::BAD_REQUEST, ResultState::ValidationError)
        );
        assert_eq!(status_table(Code::NotFound).1, ResultState::Error);
    }
}
