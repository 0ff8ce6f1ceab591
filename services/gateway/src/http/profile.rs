//! The member's e-mail, questionnaire answers and cards (seed 001):
//! `User/Email…`, `User/Answers`, `Cards/Set`, `Cards/EmitVirtual`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use loyalty_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::questions::AnswersRequest;
use super::registration::{CodeSentOut, ConfirmRequest};
use super::{App, JsonBody, some};
use crate::auth::member_token;
use crate::envelope::{Envelope, ErrorAnswer, done};
use crate::error::GatewayError;

type Answer<T> = Result<Envelope<T>, GatewayError>;

/// An e-mail address (masked when read back).
#[derive(Clone, Serialize, ToSchema)]
pub struct EmailValue {
    /// The address.
    pub email: Option<String>,
}

/// The e-mail being confirmed.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailOut {
    /// The confirmed address (masked), if any.
    pub current_email: Option<String>,
    /// The address awaiting confirmation (masked).
    pub new_email: EmailValue,
    /// Digits of the confirm code.
    pub confirm_code_length: u32,
}

/// The member's e-mail addresses (masked).
#[utoipa::path(get, path = "/api/v1/User/Email", tag = "Registration",
    responses((status = 200, body = Envelope<EmailOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn get_email(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer<EmailOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .get_email(up.as_member(member_token(&headers)?, pb::GetEmailRequest {})?)
        .await?
        .into_inner();
    Ok(Envelope::ok(EmailOut {
        current_email: some(&r.current_email),
        new_email: EmailValue {
            email: some(&r.new_email),
        },
        confirm_code_length: r.confirm_code_length,
    }))
}

/// A new e-mail address.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct SetEmailRequest {
    /// The address.
    pub email: String,
}

/// Sets (or changes) the e-mail; a confirm code and link are sent to it.
#[utoipa::path(post, path = "/api/v1/User/Email", tag = "Registration",
    request_body = SetEmailRequest,
    responses((status = 200, body = Envelope<CodeSentOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn set_email(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SetEmailRequest>,
) -> Answer<CodeSentOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .set_email(up.as_member(
            member_token(&headers)?,
            pb::SetEmailRequest { email: body.email },
        )?)
        .await?
        .into_inner();
    Ok(Envelope::ok(CodeSentOut {
        confirm_code_length: r.confirm_code_length,
    }))
}

/// Confirms the e-mail with the code received.
#[utoipa::path(post, path = "/api/v1/User/Email/Confirm", tag = "Registration",
    request_body = ConfirmRequest,
    responses((status = 200, body = Envelope<serde_json::Value>), ErrorAnswer), security(("bearer" = [])))]
pub async fn confirm_email(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ConfirmRequest>,
) -> Answer<serde_json::Value> {
    let up = &app.upstream;
    up.registration()
        .confirm_email(up.as_member(
            member_token(&headers)?,
            pb::ConfirmEmailRequest {
                confirm_code: body.confirm_code,
            },
        )?)
        .await?;
    Ok(done())
}

/// Sends the e-mail's confirm code again.
#[utoipa::path(post, path = "/api/v1/User/Email/SendConfirmCode", tag = "Registration",
    responses((status = 200, body = Envelope<CodeSentOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn resend_email_code(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Answer<CodeSentOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .send_email_confirm_code(
            up.as_member(member_token(&headers)?, pb::SendEmailConfirmCodeRequest {})?,
        )
        .await?
        .into_inner();
    Ok(Envelope::ok(CodeSentOut {
        confirm_code_length: r.confirm_code_length,
    }))
}

/// Answers the questionnaire.
#[utoipa::path(post, path = "/api/v1/User/Answers", tag = "Registration",
    request_body = AnswersRequest,
    responses((status = 200, body = Envelope<serde_json::Value>), ErrorAnswer), security(("bearer" = [])))]
pub async fn answers(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AnswersRequest>,
) -> Answer<serde_json::Value> {
    let up = &app.upstream;
    up.registration()
        .set_answers(up.as_member(
            member_token(&headers)?,
            pb::SetAnswersRequest {
                answers: body.answers.iter().map(Into::into).collect(),
            },
        )?)
        .await?;
    Ok(done())
}

/// A card number.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CardRequest {
    /// The physical card's number (`9116580844911085`).
    pub card_number: String,
}

/// A card bound to the member.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardOut {
    /// Its number (masked when it was typed in).
    pub card_number: Option<String>,
}

/// Binds a physical card.
#[utoipa::path(post, path = "/api/v1/Cards/Set", tag = "Registration",
    request_body = CardRequest,
    responses((status = 200, body = Envelope<CardOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn set_card(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CardRequest>,
) -> Answer<CardOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .set_card(up.as_member(
            member_token(&headers)?,
            pb::SetCardRequest {
                card_number: body.card_number,
            },
        )?)
        .await?
        .into_inner();
    Ok(Envelope::ok(CardOut {
        card_number: some(&r.card_number_masked),
    }))
}

/// Whether a virtual card may be issued.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmitVirtualOut {
    /// Virtual cards the member has.
    pub current_count_of_virtual_cards: u32,
    /// Whether one may be issued.
    pub is_virtual_card_emission_allowed: bool,
}

/// Whether a virtual card may be issued.
#[utoipa::path(get, path = "/api/v1/Cards/EmitVirtual", tag = "Registration",
    responses((status = 200, body = Envelope<EmitVirtualOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn get_emit_virtual(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Answer<EmitVirtualOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .get_emit_virtual(up.as_member(member_token(&headers)?, pb::GetEmitVirtualRequest {})?)
        .await?
        .into_inner();
    Ok(Envelope::ok(EmitVirtualOut {
        current_count_of_virtual_cards: r.current_count_of_virtual_cards,
        is_virtual_card_emission_allowed: r.is_virtual_card_emission_allowed,
    }))
}

/// Issues and binds a virtual card (PUT, or POST as seed-era clients send).
#[utoipa::path(put, path = "/api/v1/Cards/EmitVirtual", tag = "Registration",
    responses((status = 200, body = Envelope<CardOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn emit_virtual(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer<CardOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .emit_virtual(up.as_member(member_token(&headers)?, pb::EmitVirtualRequest {})?)
        .await?
        .into_inner();
    Ok(Envelope::ok(CardOut {
        card_number: some(&r.card_number),
    }))
}
