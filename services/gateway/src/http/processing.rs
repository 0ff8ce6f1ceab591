//! The processing methods of seed 001 for partner devices (tills, e-shops):
//! `Processing/Purchases/{purchaseId}/Calculate`, `…/Bonus/Available`,
//! `…/Bonus/Payment`, `…/Bonus`, `…/Refund`, `…/Confirm`, `…/Cancel`, and
//! `Processing/Balance`. Answers are the seed's: `data` is a list of one
//! answer with the processing `code`. A refusal by the processing
//! (`NotEnoughMoney`, `OperationIsConfirmed`, ...) is HTTP 200 with the code
//! in `data[0].code` (what seed-era clients read) and `result.state`
//! `Error`; malformed input, bad credentials and outages follow the status
//! table of [`crate::error`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use loyalty_proto::purchases::v1 as pb;
use serde::{Deserialize, Serialize};
use tonic::Code;
use tonic_types::StatusExt;
use utoipa::ToSchema;

use super::cheque::{ChequeIn, ChequeOut, CouponIn, IdentifierIn, PayIn, RefundLineIn, code_name};
use super::{App, JsonBody, some};
use crate::amount::Amount;
use crate::envelope::{Envelope, ErrorAnswer, ResultBlock, ResultState};
use crate::error::GatewayError;

/// Error domain of purchases' refusals.
const PURCHASES_DOMAIN: &str = "loyalty.purchases";

/// The body of a processing method. Each method reads the fields it names.
/// (No `Debug`: it carries card numbers and the PIN.)
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcessingRequest {
    /// The step's own id: unique per step; repeating it repeats the step
    /// (the first answer comes back).
    pub operation_id: Option<String>,
    /// When the step happened at the till: RFC 3339, or without a zone in
    /// the gateway's local time (`--naive-time-offset`, Moscow by default).
    #[schema(value_type = Option<String>, example = "2019-04-09T07:24:26.628Z")]
    pub operation_date: Option<crate::when::When>,
    /// The cashier.
    pub cashier: Option<String>,
    /// Whose card: `{"type": "Card", "value": "…"}`. Without it, the
    /// member of the `Authorization: Bearer` token (an e-shop acting for a
    /// logged-in member; the device's key then goes in `X-Api-Key`).
    pub identifier: Option<IdentifierIn>,
    /// The cheque (Calculate, Available, Payment, Bonus).
    pub cheque: Option<ChequeIn>,
    /// Coupons (Calculate, Payment, Bonus).
    pub coupons: Vec<CouponIn>,
    /// Points to pay (Payment).
    pub amount: Option<Amount>,
    /// PIN code (Payment).
    pub pin_code: Option<String>,
    /// How the cheque is paid (Bonus).
    pub pays: Vec<PayIn>,
    /// Returned lines (Refund).
    pub lines: Vec<RefundLineIn>,
    /// Language of the cheque message (Bonus).
    pub language: Option<String>,
}

/// One processing answer (`data[0]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingAnswer {
    /// Calculate, Available: the most points the cheque may be paid with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_amount: Option<Amount>,
    /// Calculate: the same in points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_bonus_amount: Option<Amount>,
    /// Available: the fewest points a payment may use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<Amount>,
    /// Payment: points paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// Payment, Bonus, Confirm: points paid (Payment) or accrued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus_amount: Option<Amount>,
    /// Bonus, Confirm: points charged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charged_amount: Option<Amount>,
    /// Confirm: points spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_amount: Option<Amount>,
    /// Refund: points given back to the member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned_points: Option<Amount>,
    /// Refund: points the purchase earned taken back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_back_points: Option<Amount>,
    /// Refund: money to give back at the till.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub money_amount: Option<Amount>,
    /// Refund: of `moneyAmount`, what went back onto gift certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gift_card_amount: Option<Amount>,
    /// The processing's transaction id.
    pub transaction_id: Option<String>,
    /// Always null (the seed's field).
    pub device_logical_id: Option<String>,
    /// The step's operation id.
    pub operation_id: Option<String>,
    /// `Ok`, `CardNotFound`, `NotEnoughMoney`, `NotUniqueOperationID`,
    /// `OperationIsConfirmed`, `OperationIsCanceled`, `PurchaseNotFound`,
    /// `DifferentCheque`, `PaymentLimitExceeded`, `CouponNotValid`,
    /// `RefundExceedsPurchase`, `OperationTimedOut`, `GiftCardNotValid`,
    /// `OperationNotFound`.
    pub code: String,
    /// Why the step was refused.
    pub error_message: Option<String>,
    /// What the till shows the cashier.
    pub cashier_message: Option<String>,
    /// What the till prints on the cheque.
    pub cheque_message: Option<String>,
    /// The cheque as computed.
    pub cheque: Option<ChequeOut>,
}

impl ProcessingAnswer {
    /// The service's answer; an answer missing, or with a code this gateway
    /// does not know, is a failure (never read as `Ok`).
    fn from_pb(a: Option<&pb::Answer>) -> Result<Self, GatewayError> {
        let a = a.ok_or_else(|| anyhow::anyhow!("purchases answered without an answer"))?;
        let code = code_name(a.code)
            .ok_or_else(|| anyhow::anyhow!("purchases answered processing code {}", a.code))?;
        Ok(Self {
            transaction_id: some(&a.transaction_id),
            operation_id: some(&a.operation_id),
            code: code.to_owned(),
            error_message: some(&a.error_message),
            cashier_message: some(&a.cashier_message),
            cheque_message: some(&a.cheque_message),
            cheque: a.cheque.as_ref().map(Into::into),
            ..Self::default()
        })
    }
}

/// The purchase id purchases keeps for partner `partner`'s id `purchase`:
/// one partner's device never reaches another partner's purchase, and two
/// partners' cheque numbers never collide.
pub fn scoped(partner: &str, purchase: &str) -> String {
    format!("{partner}:{purchase}")
}

/// The partner's own purchase id of a scoped one (what [`scoped`] made);
/// any other id as it is.
pub fn unscoped<'a>(partner: &str, purchase: &'a str) -> &'a str {
    purchase
        .strip_prefix(partner)
        .and_then(|rest| rest.strip_prefix(':'))
        .filter(|_| !partner.is_empty())
        .unwrap_or(purchase)
}

/// The step of a body on `purchase`, made by `device`.
async fn step(
    app: &App,
    headers: &HeaderMap,
    purchase: &str,
    body: &ProcessingRequest,
    device: &crate::auth::Device,
    needs_member: bool,
) -> Result<pb::Step, GatewayError> {
    let identifier = match (&body.identifier, crate::auth::bearer(headers)) {
        (Some(id), _) => Some(id.to_pb()?),
        (None, Some(token)) if needs_member => Some(pb::Identifier {
            r#type: pb::IdentifierType::MemberId as i32,
            value: app.upstream.member_of(token).await?,
        }),
        (None, _) => None,
    };
    Ok(pb::Step {
        purchase_id: scoped(&device.partner_id, purchase),
        operation_id: body.operation_id.clone().unwrap_or_default(),
        operation_date: body.operation_date.map(|t| t.at(app.naive_offset).into()),
        identifier,
        device: Some(pb::Device {
            partner_id: device.partner_id.clone(),
            location_id: device.location_id.clone(),
            device_id: device.name.clone(),
            cashier: body.cashier.clone().unwrap_or_default(),
        }),
    })
}

/// A processing answer in the envelope, or a refusal rendered as the seed's
/// answer with its code.
fn answer(
    result: Result<ProcessingAnswer, GatewayError>,
    operation_id: Option<String>,
) -> Response {
    match result {
        Ok(a) => Envelope::ok(vec![a]).into_response(),
        Err(GatewayError::Upstream(status)) if is_refusal(&status) => {
            let details = status.get_error_details();
            let info = details.error_info();
            let meta = |k: &str| info.and_then(|i| i.metadata.get(k).cloned());
            let code = info.map(|i| i.reason.clone()).unwrap_or_default();
            let error_message = meta("errorMessage").or_else(|| some(status.message()));
            let body = Envelope {
                data: Some(vec![ProcessingAnswer {
                    operation_id,
                    code: code.clone(),
                    error_message: error_message.clone(),
                    cashier_message: meta("cashierMessage"),
                    ..ProcessingAnswer::default()
                }]),
                result: ResultBlock {
                    state: ResultState::Error,
                    message: error_message,
                    message_code: Some(code),
                    validation_errors: None,
                    error_id: None,
                },
            };
            body.into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Whether a status is the processing refusing a step by its rules.
fn is_refusal(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::NotFound | Code::FailedPrecondition | Code::AlreadyExists
    ) && status
        .get_error_details()
        .error_info()
        .is_some_and(|i| i.domain == PURCHASES_DOMAIN)
}

/// Which processing method a route runs.
#[derive(Debug, Clone, Copy)]
pub enum Method {
    /// Calculate.
    Calculate,
    /// Bonus/Available.
    Available,
    /// Bonus/Payment.
    Payment,
    /// Bonus.
    Bonus,
    /// Confirm.
    Confirm,
    /// Cancel.
    Cancel,
    /// Operations/{operationId}/Cancel.
    CancelOperation,
    /// Refund.
    Refund,
}

/// Runs `method` on purchase `purchase` for the calling device.
pub async fn run(
    app: Arc<App>,
    headers: HeaderMap,
    purchase: String,
    body: ProcessingRequest,
    method: Method,
) -> Response {
    run_on(app, headers, purchase, "", body, method).await
}

/// [`run`] on one operation of the purchase (`target`).
async fn run_on(
    app: Arc<App>,
    headers: HeaderMap,
    purchase: String,
    target: &str,
    body: ProcessingRequest,
    method: Method,
) -> Response {
    let operation_id = body.operation_id.clone();
    let result = call(&app, &headers, (&purchase, target), &body, method).await;
    answer(result, operation_id)
}

async fn call(
    app: &App,
    headers: &HeaderMap,
    (purchase, target): (&str, &str),
    body: &ProcessingRequest,
    method: Method,
) -> Result<ProcessingAnswer, GatewayError> {
    let device = app.keys.device(headers)?;
    let needs_member = matches!(
        method,
        Method::Calculate | Method::Available | Method::Payment | Method::Bonus
    );
    let step = Some(step(app, headers, purchase, body, device, needs_member).await?);
    let cheque = body.cheque.as_ref().map(Into::into);
    let coupons = body.coupons.iter().map(Into::into).collect();
    let up = &app.upstream;
    let mut client = up.purchases();
    Ok(match method {
        Method::Calculate => {
            let r = pb::CalculateRequest {
                step,
                cheque,
                coupons,
            };
            let r = client.calculate(up.request(r)).await?.into_inner();
            ProcessingAnswer {
                available_amount: Amount::from_wire(&r.available_amount),
                available_bonus_amount: Amount::from_wire(&r.available_bonus_amount),
                ..ProcessingAnswer::from_pb(r.answer.as_ref())?
            }
        }
        Method::Available => {
            let r = pb::AvailableRequest { step, cheque };
            let r = client.available(up.request(r)).await?.into_inner();
            ProcessingAnswer {
                available_amount: Amount::from_wire(&r.available_amount),
                min_amount: Amount::from_wire(&r.min_amount),
                ..ProcessingAnswer::from_pb(r.answer.as_ref())?
            }
        }
        Method::Payment => {
            let r = pb::PaymentRequest {
                step,
                cheque,
                coupons,
                amount: body.amount.map(Amount::to_wire).unwrap_or_default(),
                pin_code: body.pin_code.clone().unwrap_or_default(),
            };
            let r = client.payment(up.request(r)).await?.into_inner();
            ProcessingAnswer {
                amount: Amount::from_wire(&r.amount),
                bonus_amount: Amount::from_wire(&r.bonus_amount),
                ..ProcessingAnswer::from_pb(r.answer.as_ref())?
            }
        }
        Method::Bonus => {
            let r = pb::BonusRequest {
                step,
                cheque,
                coupons,
                pays: body.pays.iter().map(Into::into).collect(),
                communications: None,
                language: body.language.clone().unwrap_or_default(),
            };
            let r = client.bonus(up.request(r)).await?.into_inner();
            ProcessingAnswer {
                bonus_amount: Amount::from_wire(&r.bonus_amount),
                charged_amount: Amount::from_wire(&r.charged_amount),
                ..ProcessingAnswer::from_pb(r.answer.as_ref())?
            }
        }
        Method::Confirm => {
            let r = client
                .confirm(up.request(pb::ConfirmRequest { step }))
                .await?
                .into_inner();
            ProcessingAnswer {
                paid_amount: Amount::from_wire(&r.paid_amount),
                bonus_amount: Amount::from_wire(&r.bonus_amount),
                charged_amount: Amount::from_wire(&r.charged_amount),
                ..ProcessingAnswer::from_pb(r.answer.as_ref())?
            }
        }
        Method::Cancel | Method::CancelOperation => {
            let r = pb::CancelRequest {
                step,
                target_operation_id: target.to_owned(),
            };
            let r = client.cancel(up.request(r)).await?.into_inner();
            ProcessingAnswer::from_pb(r.answer.as_ref())?
        }
        Method::Refund => {
            let r = pb::RefundRequest {
                step,
                lines: body.lines.iter().map(Into::into).collect(),
            };
            let r = client.refund(up.request(r)).await?.into_inner();
            ProcessingAnswer {
                returned_points: Amount::from_wire(&r.returned_points),
                taken_back_points: Amount::from_wire(&r.taken_back_points),
                money_amount: Amount::from_wire(&r.money_amount),
                gift_card_amount: Amount::from_wire(&r.gift_card_amount),
                ..ProcessingAnswer::from_pb(r.answer.as_ref())?
            }
        }
    })
}

macro_rules! processing_route {
    ($name:ident, $method:expr, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            post,
            path = $path,
            tag = "Processing",
            summary = $summary,
            params(("purchaseId" = String, Path, description = "The purchase (cheque) id")),
            request_body = ProcessingRequest,
            responses(
                (status = 200, description = "The processing's answer; a refusal has its code in data[0].code and result.state Error", body = Envelope<Vec<ProcessingAnswer>>),
                (status = 400, description = "Invalid fields (validationErrors)", body = Envelope<serde_json::Value>),
                (status = 401, description = "No or unknown API key, or a bad member token", body = Envelope<serde_json::Value>),
                (status = 403, description = "An operator's key", body = Envelope<serde_json::Value>),
                (status = 413, description = "The body is too large", body = Envelope<serde_json::Value>),
                (status = 502, description = "A service failed (errorId in the log)", body = Envelope<serde_json::Value>),
                (status = 503, description = "A service is unavailable or busy; retry with the same operationId", body = Envelope<serde_json::Value>),
                (status = 504, description = "No answer in time; retry with the same operationId", body = Envelope<serde_json::Value>),
                ErrorAnswer,
            ),
            security(("api_key" = []), ("api_key" = [], "bearer" = []))
        )]
        pub async fn $name(
            State(app): State<Arc<App>>,
            Path(purchase): Path<String>,
            headers: HeaderMap,
            JsonBody(body): JsonBody<ProcessingRequest>,
        ) -> Response {
            run(app, headers, purchase, body, $method).await
        }
    };
}

processing_route!(
    calculate,
    Method::Calculate,
    "/api/v1/Processing/Purchases/{purchaseId}/Calculate",
    "Calculate: discounts and the points the cheque may be paid with"
);
processing_route!(
    available,
    Method::Available,
    "/api/v1/Processing/Purchases/{purchaseId}/Bonus/Available",
    "Available: the most and fewest points a payment may use"
);
processing_route!(
    payment,
    Method::Payment,
    "/api/v1/Processing/Purchases/{purchaseId}/Bonus/Payment",
    "Payment: hold points to pay part of the cheque"
);
processing_route!(
    bonus,
    Method::Bonus,
    "/api/v1/Processing/Purchases/{purchaseId}/Bonus",
    "Bonus: the payments of the cheque and the points it earns"
);
processing_route!(
    confirm,
    Method::Confirm,
    "/api/v1/Processing/Purchases/{purchaseId}/Confirm",
    "Confirm: spend the held points and accrue the earned ones"
);
processing_route!(
    cancel,
    Method::Cancel,
    "/api/v1/Processing/Purchases/{purchaseId}/Cancel",
    "Cancel: give back what the purchase held"
);
/// Cancel one operation of the purchase: the body's `operationId` is this
/// step's own (its idempotency key), the path's the operation cancelled.
/// Until Confirm a purchase's payments and accrual are one unit, so
/// cancelling any of its operations cancels the purchase and gives back
/// what it held; a confirmed purchase answers `OperationIsConfirmed`, an
/// operation the purchase has not recorded `OperationNotFound`.
#[utoipa::path(
    post,
    path = "/api/v1/Processing/Purchases/{purchaseId}/Operations/{operationId}/Cancel",
    tag = "Processing",
    summary = "Cancel an operation of the purchase (and with it the purchase)",
    params(
        ("purchaseId" = String, Path, description = "The purchase (cheque) id"),
        ("operationId" = String, Path, description = "The operation to cancel"),
    ),
    request_body = ProcessingRequest,
    responses(
        (status = 200, description = "The processing's answer; a refusal has its code in data[0].code and result.state Error", body = Envelope<Vec<ProcessingAnswer>>),
        (status = 400, description = "Invalid fields (validationErrors)", body = Envelope<serde_json::Value>),
        (status = 401, description = "No or unknown API key", body = Envelope<serde_json::Value>),
        (status = 403, description = "An operator's key", body = Envelope<serde_json::Value>),
        (status = 502, description = "A service failed (errorId in the log)", body = Envelope<serde_json::Value>),
        (status = 503, description = "A service is unavailable or busy; retry with the same operationId", body = Envelope<serde_json::Value>),
        (status = 504, description = "No answer in time; retry with the same operationId", body = Envelope<serde_json::Value>),
        ErrorAnswer,
    ),
    security(("api_key" = []))
)]
pub async fn cancel_operation(
    State(app): State<Arc<App>>,
    Path((purchase, target)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ProcessingRequest>,
) -> Response {
    run_on(
        app,
        headers,
        purchase,
        &target,
        body,
        Method::CancelOperation,
    )
    .await
}

processing_route!(
    refund,
    Method::Refund,
    "/api/v1/Processing/Purchases/{purchaseId}/Refund",
    "Refund: return lines of a confirmed purchase"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scoped_purchase_id_reads_back_as_the_partners_own() {
        assert_eq!(unscoped("shop", &scoped("shop", "p:1")), "p:1");
        assert_eq!(unscoped("other", &scoped("shop", "p1")), "shop:p1");
        assert_eq!(unscoped("", ":p1"), ":p1");
        assert_eq!(unscoped("shop", "shop"), "shop");
    }
}
