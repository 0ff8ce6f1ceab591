//! The seeds' answer envelope, on every answer of the public API:
//! `{"data": …, "result": {"state", "message", "messageCode",
//! "validationErrors": [{"field", "errorMessages"}]}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ResultState {
    /// Done.
    Success,
    /// Refused by a rule (not found, already done, not enough points, ...).
    Error,
    /// The request is malformed: see `validationErrors`.
    ValidationError,
    /// The platform failed; `message` names an error id that is in the logs.
    Fail,
}

/// One field's problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationError {
    /// The field, in the request's own spelling (`cheque.lines[0].amount`).
    pub field: String,
    /// What is wrong with it.
    pub error_messages: Vec<String>,
}

/// The `result` part of the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultBlock {
    /// How the request ended.
    pub state: ResultState,
    /// A human-readable message (null on success).
    pub message: Option<String>,
    /// A stable code clients can switch on (`NotEnoughMoney`,
    /// `Unauthorized`, `RateLimited`, ...); null on success.
    pub message_code: Option<String>,
    /// Per-field problems when `state` is `ValidationError`, else null.
    pub validation_errors: Option<Vec<ValidationError>>,
    /// When `state` is `Fail`: the error id, also in the gateway's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

impl ResultBlock {
    /// A successful result.
    pub fn success() -> Self {
        Self {
            state: ResultState::Success,
            message: None,
            message_code: None,
            validation_errors: None,
            error_id: None,
        }
    }
}

/// The envelope around every answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// The answer's payload (null when there is none).
    pub data: Option<T>,
    /// How the request ended.
    pub result: ResultBlock,
}

impl<T: Serialize> Envelope<T> {
    /// A successful answer carrying `data`.
    pub fn ok(data: T) -> Self {
        Self {
            data: Some(data),
            result: ResultBlock::success(),
        }
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        (StatusCode::OK, Json(self)).into_response()
    }
}

/// A successful answer with no payload.
pub fn done() -> Envelope<serde_json::Value> {
    Envelope {
        data: None,
        result: ResultBlock::success(),
    }
}

/// The answer to any failure an operation does not list: the envelope with
/// `data: null`; its HTTP status and `result.state` follow the status table
/// (`error::status_table`, docs/gateway.md).
#[derive(utoipa::IntoResponses)]
#[response(
    status = "default",
    description = "Any other failure: the envelope with data null; the HTTP status and result.state follow the status table (docs/gateway.md)"
)]
pub struct ErrorAnswer(#[allow(dead_code)] Envelope<serde_json::Value>);
