//! `Processing/Balance` (a card's points and cash for a partner device) and
//! getPossibleLoyalty (seed 003) as JSON and as SOAP at one path.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use loyalty_proto::purchases::v1 as pb;
use serde::{Deserialize, Serialize};
use tonic::Code;
use utoipa::ToSchema;

use super::cheque::IdentifierIn;
use super::{App, JsonBody};
use crate::amount::Amount;
use crate::envelope::{Envelope, ErrorAnswer};
use crate::error::GatewayError;
use crate::soap::{self, PossibleLoyalty};

/// Longest `orderId` (seed 003: ANS36).
pub const MAX_ORDER_ID: usize = 36;

/// Whose balance. (No `Debug`: it carries a card number.)
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct BalanceRequest {
    /// The card or member; without it, the member of the bearer token.
    pub identifier: Option<IdentifierIn>,
}

/// One account of the member.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountOut {
    /// `Bonus` (points) or `Cash`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Currency code.
    pub currency: String,
    /// What can be spent now.
    pub available: Option<Amount>,
    /// Held by unfinished purchases.
    pub held: Option<Amount>,
    /// Earned by unconfirmed purchases, not yet spendable.
    pub pending: Option<Amount>,
    /// What expires next.
    pub next_expiring_amount: Option<Amount>,
    /// When it expires.
    pub next_expiry: Option<DateTime<Utc>>,
}

fn account(kind: &'static str, b: Option<pb::AccountBalance>) -> Option<AccountOut> {
    let b = b?;
    Some(AccountOut {
        kind,
        currency: b.currency,
        available: Amount::from_wire(&b.available),
        held: Amount::from_wire(&b.held),
        pending: Amount::from_wire(&b.pending),
        next_expiring_amount: Amount::from_wire(&b.next_expiring_amount),
        next_expiry: b.next_expiry.and_then(|t| t.try_into().ok()),
    })
}

/// The balance of a card: its points and cash accounts.
#[utoipa::path(
    post,
    path = "/api/v1/Processing/Balance",
    operation_id = "processing_balance",
    tag = "Processing",
    request_body = BalanceRequest,
    responses(
        (status = 200, description = "The accounts", body = Envelope<Vec<AccountOut>>),
        (status = 400, description = "Invalid fields, or no card and no member token", body = Envelope<serde_json::Value>),
        (status = 401, description = "No or unknown API key, or a bad member token", body = Envelope<serde_json::Value>),
        (status = 404, description = "Unknown card (messageCode CardNotFound)", body = Envelope<serde_json::Value>),
        (status = 503, description = "A service is unavailable", body = Envelope<serde_json::Value>),
        ErrorAnswer,
    ),
    security(("api_key" = []), ("api_key" = [], "bearer" = []))
)]
pub async fn balance(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<BalanceRequest>,
) -> Result<Envelope<Vec<AccountOut>>, GatewayError> {
    app.keys.device(&headers)?;
    let identifier = match (&body.identifier, crate::auth::bearer(&headers)) {
        (Some(id), _) => id.to_pb()?,
        (None, Some(token)) => pb::Identifier {
            r#type: pb::IdentifierType::MemberId as i32,
            value: app.upstream.member_of(token).await?,
        },
        (None, None) => return Err(GatewayError::invalid("identifier", "is required")),
    };
    let up = &app.upstream;
    let r = up
        .purchases()
        .balance(up.request(pb::BalanceRequest {
            identifier: Some(identifier),
        }))
        .await?
        .into_inner();
    let accounts = [account("Bonus", r.bonus), account("Cash", r.cash)];
    Ok(Envelope::ok(accounts.into_iter().flatten().collect()))
}

/// getPossibleLoyalty's JSON request (seed 003's fields). (No `Debug`: it
/// carries a PAN.)
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PossibleLoyaltyRequest {
    /// The order in the payment system (at most 36 characters).
    pub order_id: String,
    /// `ru` or `en`.
    pub language: String,
    /// A card binding made earlier (instead of `pan`).
    pub binding_id: String,
    /// The payment card's number, 12 to 19 digits (instead of `bindingId`).
    pub pan: String,
}

/// getPossibleLoyalty's JSON answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PossibleLoyaltyAnswer {
    /// `0` processed, `5` access denied, `6` order not found, `7` system error.
    pub error_code: String,
    /// The error's description in the requested language.
    pub error_message: Option<String>,
    /// Fewest points a payment may use.
    pub min_amount: Option<Amount>,
    /// Most points a payment may use.
    pub max_amount: Option<Amount>,
    /// The program's code.
    pub service_name: Option<String>,
}

fn is_soap(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("text/xml") || ct.starts_with("application/soap+xml")
        })
}

/// Asks purchases; answers seed 003's codes, never an HTTP error for a
/// refusal the seed has a code for.
async fn possible(
    app: &App,
    headers: &HeaderMap,
    r: pb::GetPossibleLoyaltyRequest,
) -> Result<PossibleLoyalty, GatewayError> {
    let system_error = |message: &str| PossibleLoyalty {
        error_code: "7".into(),
        error_message: message.into(),
        ..PossibleLoyalty::default()
    };
    let Ok(device) = app.keys.device(headers) else {
        return Ok(PossibleLoyalty {
            error_code: "5".into(),
            error_message: "Access denied".into(),
            ..PossibleLoyalty::default()
        });
    };
    // Seed 003: orderId is ANS36.
    if r.order_id.len() > MAX_ORDER_ID {
        return Err(GatewayError::invalid(
            "orderId",
            format!("is longer than {MAX_ORDER_ID} characters"),
        ));
    }
    // The order is the e-shop's purchase: the same partner's id space.
    let r = pb::GetPossibleLoyaltyRequest {
        order_id: super::processing::scoped(&device.partner_id, &r.order_id),
        ..r
    };
    let up = &app.upstream;
    // Seed 003's amounts are digits: 20, not 20.00.
    let digits = |v: &str| {
        Amount::from_wire(v)
            .map(Amount::to_wire)
            .unwrap_or_default()
    };
    match up.purchases().get_possible_loyalty(up.request(r)).await {
        Ok(a) => {
            let a = a.into_inner();
            Ok(PossibleLoyalty {
                error_code: a.error_code,
                error_message: a.error_message,
                min_amount: digits(&a.min_amount),
                max_amount: digits(&a.max_amount),
                service_name: a.service_name,
            })
        }
        Err(status) if status.code() == Code::InvalidArgument => Err(status.into()),
        Err(status) => {
            let error_id = uuid::Uuid::now_v7();
            tracing::error!(%error_id, code = ?status.code(), error = %status.message(), "getPossibleLoyalty failed");
            Ok(system_error(&format!("System error {error_id}")))
        }
    }
}

/// getPossibleLoyalty (seed 003): the points an order may be paid with.
/// JSON (`Content-Type: application/json`) or SOAP (`text/xml`, the seed's
/// envelope) at the same path.
#[utoipa::path(
    post,
    path = "/api/v1/Processing/getPossibleLoyalty",
    tag = "Processing",
    request_body(content(
        (PossibleLoyaltyRequest = "application/json"),
        (String = "text/xml", example = "<soapenv:Envelope …><soapenv:Body><loy1:getAvailableLoyalty xmlns:loy1=\"http://engine.paymentgate.ru/webservices/merchant/loyalty\"><arg0><orderId>…</orderId><pan>…</pan></arg0></loy1:getAvailableLoyalty></soapenv:Body></soapenv:Envelope>")
    )),
    responses(
        (status = 200, description = "Seed 003's answer (JSON in the envelope, or the SOAP response envelope)", body = Envelope<PossibleLoyaltyAnswer>),
        (status = 400, description = "Invalid fields (JSON)", body = Envelope<serde_json::Value>),
        (status = 413, description = "The body is too large", body = Envelope<serde_json::Value>),
        (status = 500, description = "SOAP only: a SOAP 1.1 Fault (soap:Client) for a request that is not seed 003's envelope or has invalid fields"),
        ErrorAnswer,
    ),
    security(("api_key" = []))
)]
pub async fn possible_loyalty(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if is_soap(&headers) => {
            return xml(
                e.status(),
                soap::render_fault(
                    "soap:Client",
                    "the request body could not be read (too large?)",
                ),
            );
        }
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return GatewayError::TooLarge.into_response();
        }
        Err(_) => return GatewayError::invalid("body", "could not be read").into_response(),
    };
    if is_soap(&headers) {
        return soap_possible(&app, &headers, &body).await;
    }
    let request: PossibleLoyaltyRequest = match super::parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let r = pb::GetPossibleLoyaltyRequest {
        order_id: request.order_id,
        language: request.language,
        binding_id: request.binding_id,
        pan: request.pan,
    };
    match possible(&app, &headers, r).await {
        Ok(p) => Envelope::ok(PossibleLoyaltyAnswer {
            error_code: p.error_code,
            error_message: (!p.error_message.is_empty()).then_some(p.error_message),
            min_amount: Amount::from_wire(&p.min_amount),
            max_amount: Amount::from_wire(&p.max_amount),
            service_name: (!p.service_name.is_empty()).then_some(p.service_name),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Validation errors as a fault string (field names and messages; no
/// values).
fn fault_text(errors: &[crate::envelope::ValidationError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.error_messages.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn soap_possible(app: &App, headers: &HeaderMap, body: &[u8]) -> Response {
    let client_fault = |message: &str| {
        xml(
            StatusCode::INTERNAL_SERVER_ERROR,
            soap::render_fault("soap:Client", message),
        )
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return client_fault("the request is not UTF-8");
    };
    let args = match soap::parse_request(text) {
        Ok(a) => a,
        Err(e) => return client_fault(&e.to_string()),
    };
    let r = pb::GetPossibleLoyaltyRequest {
        order_id: args.order_id,
        language: args.language,
        binding_id: args.binding_id,
        pan: args.pan,
    };
    match possible(app, headers, r).await {
        Ok(p) => xml(StatusCode::OK, soap::render_response(&p)),
        Err(GatewayError::Invalid(errors)) => client_fault(&fault_text(&errors)),
        Err(GatewayError::Upstream(status)) => {
            client_fault(&fault_text(&crate::error::violations(&status)))
        }
        Err(e) => client_fault(&e.to_string()),
    }
}
