//! What the identity service consumes from NATS (see docs/events.md):
//!
//! - `loyalty.*.message_requested` (durable consumer `identity-messages`):
//!   a `MessageRequested` from any service. The member's template is
//!   rendered and sent, and the outcome recorded (`MessageSent` or
//!   `MessageFailed`), once per `request_id`: a redelivered or republished
//!   request is answered from the recorded outcome and sends nothing.
//!
//! A malformed request (not JSON, a bad id) is rejected and dead-lettered at
//! once to `loyalty.dlq.identity-messages` with the reason. A request that
//! fails for good (unknown member or template, no confirmed contact,
//! missing values, an undeliverable address) is recorded as
//! `MessageFailed` and acknowledged. A provider's temporary failure is
//! retried with backoff, then dead-lettered.

use std::sync::Arc;

use kit::bootstrap::Runtime;
use kit::consumer::{HandlerError, Inbound, decode_json};
use loyalty_proto::identity::v1 as pb;

use crate::app::Identity;
use crate::error::ApiError;

/// Durable consumer of message requests.
pub const MESSAGES_CONSUMER: &str = "identity-messages";
/// Its filter: every service's `message_requested`.
pub const MESSAGES_SUBJECTS: &str = "loyalty.*.message_requested";

/// Handles one message request.
pub async fn handle_message_request(
    identity: &Identity,
    inbound: &Inbound,
) -> Result<(), HandlerError> {
    let request: pb::MessageRequested = decode_json(&inbound.payload)
        .map_err(|e| HandlerError::Reject(anyhow::anyhow!("not a MessageRequested: {e}")))?;
    let request = crate::grpc::convert::message_request(request);
    match identity.send_message(&request).await {
        Ok(_) | Err(ApiError::MessageFailed { .. }) => Ok(()),
        Err(ApiError::RequestReused) => Err(HandlerError::Reject(anyhow::anyhow!(
            "request id {} was used for another request",
            request.request_id
        ))),
        Err(ApiError::Invalid(violations)) => {
            let why = violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect::<Vec<_>>()
                .join("; ");
            Err(HandlerError::Reject(anyhow::anyhow!(
                "invalid request: {why}"
            )))
        }
        Err(ApiError::Storage(e)) => Err(HandlerError::from_storage(e)),
        // Everything else may pass: a member or template defined later, a
        // provider back up, a stream less contended. Named one by one, so a
        // new error has to be placed here.
        Err(
            e @ (ApiError::Unauthenticated(_)
            | ApiError::BadCredentials
            | ApiError::Forbidden
            | ApiError::Member(_)
            | ApiError::Card(_)
            | ApiError::Taken(_)
            | ApiError::NotFound(_)
            | ApiError::Disabled(_)
            | ApiError::Ambiguous(_)
            | ApiError::VirtualCardExists
            | ApiError::Delivery
            | ApiError::Busy
            | ApiError::Unexpected(_)),
        ) => Err(HandlerError::Retry(anyhow::Error::new(e))),
    }
}

/// Starts the consumers (none without a NATS URL).
pub fn start(runtime: &mut Runtime, identity: Arc<Identity>) {
    let subscription = kit::service::Subscription {
        name: MESSAGES_CONSUMER,
        filter: MESSAGES_SUBJECTS,
        metrics_prefix: "messages",
    };
    kit::service::consume(runtime, subscription, move |inbound: Inbound| {
        let identity = Arc::clone(&identity);
        async move { handle_message_request(&identity, &inbound).await }
    });
}
