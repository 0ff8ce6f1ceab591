//! Registration and the member's own data (seed 001): `Registration/…`,
//! `user/actions`, `User/…`, `Cards/…`. Each call carries the member's
//! token (`Authorization: Bearer`) except BeginRegistration, which answers
//! one; identity checks the token and the step, the gateway only
//! translates.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use loyalty_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{App, JsonBody, pascal, some};
use crate::auth::member_token;
use crate::envelope::{Envelope, ErrorAnswer, done};
use crate::error::GatewayError;

type Answer<T> = Result<Envelope<T>, GatewayError>;

/// BeginRegistration's body.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct BeginRegistrationRequest {
    /// Phone number (`79123487979`) or card number.
    pub login: String,
    /// Empty to begin; the password to continue a registration that has one.
    pub password: String,
}

/// BeginRegistration's answer.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BeginRegistrationAnswer {
    /// `Success` or `PasswordRequired`.
    pub state: String,
    /// Why a password is needed.
    pub error_message: Option<String>,
    /// The token for the next steps.
    pub auth_token: Option<String>,
}

/// Starts (or continues) a registration by phone or card number.
#[utoipa::path(post, path = "/api/v1/Registration/BeginRegistration", tag = "Registration",
    request_body = BeginRegistrationRequest,
    responses((status = 200, body = Envelope<BeginRegistrationAnswer>), ErrorAnswer))]
pub async fn begin(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<BeginRegistrationRequest>,
) -> Answer<BeginRegistrationAnswer> {
    app.limits.check_login(&body.login)?;
    let up = &app.upstream;
    let r = up
        .registration()
        .begin_registration(up.request(pb::BeginRegistrationRequest {
            login: body.login,
            password: body.password,
        }))
        .await?
        .into_inner();
    Ok(Envelope::ok(BeginRegistrationAnswer {
        state: pascal(r.state().as_str_name(), "BEGIN_REGISTRATION_STATE_"),
        error_message: some(&r.error_message),
        auth_token: some(&r.auth_token),
    }))
}

/// A registration step and whether it is done.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionOut {
    /// `AcceptTenderOffer`, `ChangePhone`, `ChangeEmail`, `PasswordRequired`,
    /// `Questions`, `AssignCard`.
    pub user_action_type: String,
    /// `Required` or `Optional`.
    pub action_state: String,
    /// Done.
    pub is_done: bool,
}

/// The registration steps.
#[derive(Clone, Serialize, ToSchema)]
pub struct ActionsOut {
    /// Each step.
    pub actions: Vec<ActionOut>,
}

/// The registration steps and which are done.
#[utoipa::path(get, path = "/api/v1/user/actions", tag = "Registration",
    responses((status = 200, body = Envelope<ActionsOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn actions(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer<ActionsOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .get_actions(up.as_member(member_token(&headers)?, pb::GetActionsRequest {})?)
        .await?
        .into_inner();
    Ok(Envelope::ok(ActionsOut {
        actions: r
            .actions
            .iter()
            .map(|a| ActionOut {
                user_action_type: pascal(a.user_action_type().as_str_name(), "USER_ACTION_TYPE_"),
                action_state: pascal(a.action_state().as_str_name(), "ACTION_STATE_"),
                is_done: a.is_done,
            })
            .collect(),
    }))
}

/// Accepts the program's offer (terms).
#[utoipa::path(post, path = "/api/v1/User/AcceptTenderOffer", tag = "Registration",
    responses((status = 200, body = Envelope<serde_json::Value>), ErrorAnswer), security(("bearer" = [])))]
pub async fn accept_tender_offer(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Answer<serde_json::Value> {
    let up = &app.upstream;
    up.registration()
        .accept_tender_offer(
            up.as_member(member_token(&headers)?, pb::AcceptTenderOfferRequest {})?,
        )
        .await?;
    Ok(done())
}

/// A masked phone number.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneOut {
    /// `***1234`.
    pub phone_number: Option<String>,
}

/// The phone being confirmed.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberOut {
    /// The confirmed phone (masked), if any.
    pub current_phone_number: Option<String>,
    /// The phone awaiting confirmation.
    pub new_phone_number: PhoneOut,
    /// Digits of the confirm code.
    pub confirm_code_length: u32,
}

/// The member's phone numbers (masked).
#[utoipa::path(get, path = "/api/v1/User/PhoneNumber", tag = "Registration",
    responses((status = 200, body = Envelope<PhoneNumberOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn get_phone(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer<PhoneNumberOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .get_phone_number(up.as_member(member_token(&headers)?, pb::GetPhoneNumberRequest {})?)
        .await?
        .into_inner();
    Ok(Envelope::ok(PhoneNumberOut {
        current_phone_number: some(&r.current_phone_number),
        new_phone_number: PhoneOut {
            phone_number: some(&r.new_phone_number),
        },
        confirm_code_length: r.confirm_code_length,
    }))
}

/// A new phone number.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct SetPhoneRequest {
    /// The number (`75645615615`).
    pub phone_number: String,
}

/// How long the confirm code is.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeSentOut {
    /// Digits of the code sent.
    pub confirm_code_length: u32,
}

/// Sets (or changes) the phone number; a confirm code is sent by SMS.
#[utoipa::path(post, path = "/api/v1/User/PhoneNumber", tag = "Registration",
    request_body = SetPhoneRequest,
    responses((status = 200, body = Envelope<CodeSentOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn set_phone(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SetPhoneRequest>,
) -> Answer<CodeSentOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .set_phone_number(up.as_member(
            member_token(&headers)?,
            pb::SetPhoneNumberRequest {
                phone_number: body.phone_number,
            },
        )?)
        .await?
        .into_inner();
    Ok(Envelope::ok(CodeSentOut {
        confirm_code_length: r.confirm_code_length,
    }))
}

/// A confirm code.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfirmRequest {
    /// The code received.
    pub confirm_code: String,
}

/// A new token.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenOut {
    /// Use it from now on.
    pub auth_token: Option<String>,
}

/// Confirms the phone with the code received.
#[utoipa::path(post, path = "/api/v1/User/PhoneNumber/Confirm", tag = "Registration",
    request_body = ConfirmRequest,
    responses((status = 200, body = Envelope<TokenOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn confirm_phone(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ConfirmRequest>,
) -> Answer<TokenOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .confirm_phone_number(up.as_member(
            member_token(&headers)?,
            pb::ConfirmPhoneNumberRequest {
                confirm_code: body.confirm_code,
            },
        )?)
        .await?
        .into_inner();
    Ok(Envelope::ok(TokenOut {
        auth_token: some(&r.auth_token),
    }))
}

/// Sends the phone's confirm code again.
#[utoipa::path(post, path = "/api/v1/User/PhoneNumber/SendConfirmCode", tag = "Registration",
    responses((status = 200, body = Envelope<CodeSentOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn resend_phone_code(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Answer<CodeSentOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .send_phone_confirm_code(
            up.as_member(member_token(&headers)?, pb::SendPhoneConfirmCodeRequest {})?,
        )
        .await?
        .into_inner();
    Ok(Envelope::ok(CodeSentOut {
        confirm_code_length: r.confirm_code_length,
    }))
}

/// A password.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PasswordRequest {
    /// The password (never logged).
    pub password: String,
}

/// Sets the password; answers a new token.
#[utoipa::path(post, path = "/api/v1/User/Password/Set", tag = "Registration",
    request_body = PasswordRequest,
    responses((status = 200, body = Envelope<TokenOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn set_password(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PasswordRequest>,
) -> Answer<TokenOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .set_password(up.as_member(
            member_token(&headers)?,
            pb::SetPasswordRequest {
                password: body.password,
            },
        )?)
        .await?
        .into_inner();
    Ok(Envelope::ok(TokenOut {
        auth_token: some(&r.auth_token),
    }))
}

/// TryFinishRegistration's answer.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FinishOut {
    /// Every required step done.
    pub registration_completed: bool,
    /// The token of the registered member.
    pub auth_token: Option<String>,
}

/// Finishes the registration when every required step is done.
#[utoipa::path(post, path = "/api/v1/Registration/TryFinishRegistration", tag = "Registration",
    responses((status = 200, body = Envelope<FinishOut>), ErrorAnswer), security(("bearer" = [])))]
pub async fn try_finish(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer<FinishOut> {
    let up = &app.upstream;
    let r = up
        .registration()
        .try_finish_registration(
            up.as_member(member_token(&headers)?, pb::TryFinishRegistrationRequest {})?,
        )
        .await?
        .into_inner();
    Ok(Envelope::ok(FinishOut {
        registration_completed: r.registration_completed,
        auth_token: some(&r.auth_token),
    }))
}

/// `filter.onlyRequired`.
#[derive(Clone, Default, Deserialize)]
pub struct QuestionsQuery {
    /// Only the required questions.
    #[serde(rename = "filter.onlyRequired", default)]
    pub only_required: bool,
}

/// The questionnaire (a tree of headers, questions and options).
#[utoipa::path(get, path = "/api/v1/User/Questions", tag = "Registration",
    params(("filter.onlyRequired" = Option<bool>, Query, description = "Only the required questions")),
    responses((status = 200, body = Envelope<serde_json::Value>), ErrorAnswer), security(("bearer" = [])))]
pub async fn questions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<QuestionsQuery>,
) -> Answer<serde_json::Value> {
    let up = &app.upstream;
    let r = up
        .registration()
        .get_questions(up.as_member(
            member_token(&headers)?,
            pb::GetQuestionsRequest {
                only_required: q.only_required,
            },
        )?)
        .await?
        .into_inner();
    let questions: Vec<_> = r.questions.iter().map(super::questions::node).collect();
    Ok(Envelope::ok(serde_json::json!({ "questions": questions })))
}
