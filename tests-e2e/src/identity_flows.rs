//! Single registration steps against the real `identity` binary, shared by
//! the identity test files: BeginRegistration, Authenticate, the tender
//! offer, the phone confirmation and its resend, the password, the required
//! questionnaire, and the seed's flags. Each call expects success unless it
//! returns the `Result` for the test to judge.

use loyalty_proto::identity::v1 as pb;
use notify::Channel::Sms;

use crate::identity::{Identity, answers_for, authed, required_questions};

/// The seed's settings for both flows (also the defaults).
pub const SEED_FLAGS: &[&str] = &[
    "--emit-virtual-card",
    "1",
    "--main-card-assigning-required",
    "1",
];

/// BeginRegistration(`login`, `password`); expects an OK response.
pub async fn begin(id: &Identity, login: &str, password: &str) -> pb::BeginRegistrationResponse {
    id.registration()
        .begin_registration(pb::BeginRegistrationRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        })
        .await
        .expect("BeginRegistration")
        .into_inner()
}

/// Authenticate(`token`); expects a valid token.
pub async fn authenticate(id: &Identity, token: &str) -> pb::AuthenticateResponse {
    id.auth()
        .authenticate(pb::AuthenticateRequest {
            token: token.to_owned(),
        })
        .await
        .expect("Authenticate")
        .into_inner()
}

/// AcceptTenderOffer with `token`; expects success.
pub async fn accept(id: &Identity, token: &str) -> pb::AcceptTenderOfferResponse {
    id.registration()
        .accept_tender_offer(authed(token, pb::AcceptTenderOfferRequest {}))
        .await
        .expect("AcceptTenderOffer")
        .into_inner()
}

/// PhoneNumber/Confirm with `code`: the new token, or the refusal.
pub async fn confirm_phone(
    id: &Identity,
    token: &str,
    code: &str,
) -> Result<String, tonic::Status> {
    id.registration()
        .confirm_phone_number(authed(
            token,
            pb::ConfirmPhoneNumberRequest {
                confirm_code: code.to_owned(),
            },
        ))
        .await
        .map(|r| r.into_inner().auth_token)
}

/// SendPhoneConfirmCode (a resend): `Ok` with a 6-digit code sent, or the refusal.
pub async fn resend(id: &Identity, token: &str) -> Result<(), tonic::Status> {
    id.registration()
        .send_phone_confirm_code(authed(token, pb::SendPhoneConfirmCodeRequest {}))
        .await
        .map(|r| assert_eq!(r.into_inner().confirm_code_length, 6))
}

/// Password/Set; expects success and returns the new token.
pub async fn set_password(id: &Identity, token: &str, password: &str) -> String {
    id.registration()
        .set_password(authed(
            token,
            pb::SetPasswordRequest {
                password: password.to_owned(),
            },
        ))
        .await
        .expect("SetPassword")
        .into_inner()
        .auth_token
}

/// Answers the required questions (born 1985-12-31); expects success.
pub async fn answer_questions(id: &Identity, token: &str) {
    let questions = required_questions(id, token).await;
    id.registration()
        .set_answers(authed(
            token,
            pb::SetAnswersRequest {
                answers: answers_for(&questions, "1985-12-31"),
            },
        ))
        .await
        .expect("SetAnswers");
}

/// Begins by phone and confirms the phone: (member, token after confirmation).
pub async fn begin_and_confirm(id: &Identity, phone: &str) -> (String, String) {
    let b = begin(id, phone, "").await;
    assert_eq!(b.state(), pb::BeginRegistrationState::Success);
    accept(id, &b.auth_token).await;
    let code = id.code_after(Sms, phone, 0).await;
    let token = confirm_phone(id, &b.auth_token, &code)
        .await
        .expect("ConfirmPhoneNumber");
    (b.member_id, token)
}
