//! The member's own account (seed 001): `User`, `Cards`, `User/Balance` and `History`
//! (`api/v1.1/History`, `publicapi/v1.2/History`) with the seed's
//! `filter.*` parameters, for the member of the bearer token.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use loyalty_proto::identity::v1 as ipb;
use loyalty_proto::ledger::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{App, pascal, text_or_null};
use crate::amount::Amount;
use crate::auth::member_token;
use crate::envelope::{Envelope, ErrorAnswer};
use crate::error::GatewayError;

/// One of the member's accounts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceOut {
    /// Currency (`BONUS`, `RUB`, ...).
    pub currency: String,
    /// Spendable now.
    pub available: Option<Amount>,
    /// Held by unfinished purchases.
    pub held: Option<Amount>,
    /// Earned by unconfirmed purchases.
    pub pending: Option<Amount>,
    /// Owed (a refund took back points already spent).
    pub debt: Option<Amount>,
    /// What expires next.
    pub next_expiring_amount: Option<Amount>,
    /// When it expires.
    pub next_expiry: Option<DateTime<Utc>>,
    /// `User/DetailedBalance` only: what the account holds by when it
    /// expires, soonest first (`expiresAt` null: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetimes: Option<Vec<LifetimeOut>>,
}

/// An amount expiring at one time.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeOut {
    /// The amount.
    pub amount: Option<Amount>,
    /// When it expires; null when never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The member's balances, one per account.
#[utoipa::path(get, path = "/api/v1/User/Balance", operation_id = "user_balance", tag = "User",
    responses((status = 200, body = Envelope<Vec<BalanceOut>>), (status = 401, body = Envelope<Value>), ErrorAnswer),
    security(("bearer" = [])))]
pub async fn balance(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Envelope<Vec<BalanceOut>>, GatewayError> {
    balances(&app, &headers, false).await
}

/// The member's balances with what expires when (the seed's lifetimes by
/// date).
#[utoipa::path(get, path = "/api/v1/User/DetailedBalance", tag = "User",
    responses((status = 200, body = Envelope<Vec<BalanceOut>>), (status = 401, body = Envelope<Value>), ErrorAnswer),
    security(("bearer" = [])))]
pub async fn detailed_balance(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Envelope<Vec<BalanceOut>>, GatewayError> {
    balances(&app, &headers, true).await
}

async fn balances(
    app: &App,
    headers: &HeaderMap,
    detailed: bool,
) -> Result<Envelope<Vec<BalanceOut>>, GatewayError> {
    let up = &app.upstream;
    let member_id = up.member_of(member_token(headers)?).await?;
    let r = up
        .ledger()
        .get_balance(up.request(pb::GetBalanceRequest {
            member_id,
            currency: String::new(),
        }))
        .await?
        .into_inner();
    Ok(Envelope::ok(
        r.accounts
            .into_iter()
            .map(|a| BalanceOut {
                currency: a.currency,
                available: Amount::from_wire(&a.available),
                held: Amount::from_wire(&a.held),
                pending: Amount::from_wire(&a.pending),
                debt: Amount::from_wire(&a.debt),
                next_expiring_amount: Amount::from_wire(&a.next_expiring_amount),
                next_expiry: a.next_expiry.and_then(|t| t.try_into().ok()),
                lifetimes: detailed.then(|| {
                    a.lifetimes
                        .iter()
                        .map(|l| LifetimeOut {
                            amount: Amount::from_wire(&l.amount),
                            expires_at: l.expires_at.and_then(|t| t.try_into().ok()),
                        })
                        .collect()
                }),
            })
            .collect(),
    ))
}

/// The seed's `filter.*` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HistoryQuery {
    /// Rows up to this date (required for rows).
    #[serde(rename = "filter.toDate")]
    pub to_date: Option<DateTime<Utc>>,
    /// How many rows (required for rows; at most 100).
    #[serde(rename = "filter.count")]
    pub count: Option<u32>,
    /// Rows from this date.
    #[serde(rename = "filter.fromDate")]
    pub from_date: Option<DateTime<Utc>>,
    /// Only this card's rows.
    #[serde(rename = "filter.cardId")]
    pub card_id: Option<String>,
    /// Skip this many rows.
    #[serde(rename = "filter.from")]
    pub from: Option<u32>,
}

fn money(m: Option<&loyalty_proto::common::v1::Money>) -> Value {
    match m {
        Some(m) => json!({"amount": Amount::from_wire(&m.amount), "currency": m.currency}),
        None => Value::Null,
    }
}

fn amount(amount: &str, currency: &str) -> Value {
    json!({"amount": Amount::from_wire(amount), "currency": currency})
}

/// One history row in the seed's shape.
fn row(r: &pb::HistoryRow) -> Value {
    let context = r.context.clone().unwrap_or_default();
    let date: Option<DateTime<Utc>> = r.date_time.and_then(|t| t.try_into().ok());
    json!({
        "id": r.id,
        "dateTime": date,
        "type": pascal(r.r#type().as_str_name(), "HISTORY_ROW_TYPE_"),
        "identity": text_or_null(&r.card_id),
        "description": text_or_null(&r.description),
        "reason": text_or_null(&r.reason),
        "partnerId": text_or_null(&context.partner_id),
        "brandId": text_or_null(&context.brand_id),
        "location": if context.location_id.is_empty() { Value::Null } else { json!({"locationId": context.location_id}) },
        "data": {
            // The partner's own id, as its till sent it.
            "externalPurchaseId": text_or_null(super::processing::unscoped(&context.partner_id, &context.purchase_id)),
            "chequeItems": r.cheque_items.iter().map(|i| json!({
                "description": i.description,
                "count": Amount::from_wire(&i.count),
                "amount": Amount::from_wire(&i.amount),
            })).collect::<Vec<_>>(),
            "withdraws": r.withdraws.iter().map(|w| json!({
                "withdrawType": pascal(w.withdraw_type().as_str_name(), "WITHDRAW_TYPE_"),
                "description": text_or_null(&w.description),
                "amount": amount(&w.amount, &w.currency),
            })).collect::<Vec<_>>(),
            "rewards": r.rewards.iter().map(|w| json!({
                "rewardType": pascal(w.reward_type().as_str_name(), "REWARD_TYPE_"),
                "description": text_or_null(&w.description),
                "amount": amount(&w.amount, &w.currency),
            })).collect::<Vec<_>>(),
            "isRefund": r.is_refund,
            "chequeNumber": text_or_null(&r.cheque_number),
            "amount": money(r.amount.as_ref()),
        },
    })
}

/// The member's purchases, accruals and withdrawals, newest first, with
/// the seed's semantics: without `filter.toDate` (or with only
/// `filter.count`) no rows; with only `filter.toDate` the count without
/// rows; with both, the count and the rows.
#[utoipa::path(get, path = "/api/v1.1/History", tag = "User",
    params(
        ("filter.toDate" = Option<String>, Query, description = "Rows up to this date (RFC 3339)"),
        ("filter.count" = Option<u32>, Query, description = "How many rows (at most 100)"),
        ("filter.fromDate" = Option<String>, Query, description = "Rows from this date (RFC 3339)"),
        ("filter.cardId" = Option<String>, Query, description = "Only this card's rows"),
        ("filter.from" = Option<u32>, Query, description = "Skip this many rows"),
    ),
    responses((status = 200, body = Envelope<Value>), (status = 401, body = Envelope<Value>), ErrorAnswer),
    security(("bearer" = [])))]
pub async fn history(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Envelope<Value>, GatewayError> {
    let Query(q) =
        query.map_err(|e| GatewayError::invalid("filter", super::bounded(&e.body_text())))?;
    let up = &app.upstream;
    let member_id = up.member_of(member_token(&headers)?).await?;
    let r = up
        .ledger()
        .get_history(up.request(pb::GetHistoryRequest {
            member_id,
            to_date: q.to_date.map(Into::into),
            count: q.count.unwrap_or(0),
            from_date: q.from_date.map(Into::into),
            card_id: q.card_id.unwrap_or_default(),
            from: q.from.unwrap_or(0),
        }))
        .await?
        .into_inner();
    Ok(Envelope::ok(json!({
        "allCount": r.all_count,
        "rows": r.rows.iter().map(row).collect::<Vec<_>>(),
    })))
}

async fn member(app: &App, headers: &HeaderMap) -> Result<ipb::GetMemberResponse, GatewayError> {
    let up = &app.upstream;
    let member_id = up.member_of(member_token(headers)?).await?;
    Ok(up
        .members()
        .get_member(up.request(ipb::GetMemberRequest { member_id }))
        .await?
        .into_inner())
}

fn cards(m: &ipb::GetMemberResponse) -> Vec<Value> {
    m.cards
        .iter()
        .map(|c| {
            json!({
                "cardNumber": c.card_number,
                "kind": pascal(c.kind().as_str_name(), "CARD_KIND_"),
                "state": pascal(c.state().as_str_name(), "CARD_STATE_"),
            })
        })
        .collect()
}

/// The member of the token: state, masked contacts, consent, cards, profile.
#[utoipa::path(get, path = "/api/v1/User", tag = "User",
    responses((status = 200, body = Envelope<Value>), (status = 401, body = Envelope<Value>), ErrorAnswer),
    security(("bearer" = [])))]
pub async fn user(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Envelope<Value>, GatewayError> {
    let m = member(&app, &headers).await?;
    Ok(Envelope::ok(json!({
        "memberId": m.member_id,
        "state": pascal(m.state().as_str_name(), "MEMBER_STATE_"),
        "phoneNumber": text_or_null(&m.phone_masked),
        "email": text_or_null(&m.email_masked),
        "mailingConsent": m.mailing_consent,
        "cards": cards(&m),
        "profile": m.profile,
    })))
}

/// The member's cards (their own, so in full), with kind and state.
#[utoipa::path(get, path = "/api/v1/Cards", tag = "User",
    responses((status = 200, body = Envelope<Value>), (status = 401, body = Envelope<Value>), ErrorAnswer),
    security(("bearer" = [])))]
pub async fn member_cards(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Envelope<Value>, GatewayError> {
    let m = member(&app, &headers).await?;
    Ok(Envelope::ok(Value::Array(cards(&m))))
}
