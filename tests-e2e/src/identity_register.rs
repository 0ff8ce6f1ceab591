//! The seed's whole registration by phone as a plain fixture: it drives
//! every step and fails only when a call fails. The answers of each step are
//! asserted by `tests/identity_register_steps.rs` (and the steps one at a
//! time by `identity_steps.rs`).

use loyalty_proto::identity::v1 as pb;

use crate::identity::{Identity, Registered, answers_for, authed, random_card, required_questions};

/// Registers `phone` with `password` the seed's way, with a stocked physical
/// card and a virtual card (identity started with EmitVirtualCard=1,
/// MainCardAssigningRequired=1); the member, its cards and every token
/// issued on the way.
pub async fn register_by_phone(id: &Identity, phone: &str, password: &str) -> Registered {
    let physical_card = random_card();
    id.load_cards(&[&physical_card]).await;
    let mut reg = id.registration();
    let begin = reg
        .begin_registration(pb::BeginRegistrationRequest {
            login: phone.to_owned(),
            password: String::new(),
        })
        .await
        .expect("BeginRegistration")
        .into_inner();
    let member_id = begin.member_id.clone();
    let t0 = begin.auth_token;
    let code = id.code_after(notify::Channel::Sms, phone, 0).await;
    reg.accept_tender_offer(authed(&t0, pb::AcceptTenderOfferRequest {}))
        .await
        .expect("AcceptTenderOffer");
    let t1 = reg
        .confirm_phone_number(authed(
            &t0,
            pb::ConfirmPhoneNumberRequest { confirm_code: code },
        ))
        .await
        .expect("ConfirmPhoneNumber")
        .into_inner()
        .auth_token;
    let t2 = reg
        .set_password(authed(
            &t1,
            pb::SetPasswordRequest {
                password: password.to_owned(),
            },
        ))
        .await
        .expect("SetPassword")
        .into_inner()
        .auth_token;
    let answers = answers_for(&required_questions(id, &t2).await, "1990-05-01");
    reg.set_answers(authed(&t2, pb::SetAnswersRequest { answers }))
        .await
        .expect("SetAnswers");
    reg.set_card(authed(
        &t2,
        pb::SetCardRequest {
            card_number: physical_card.clone(),
        },
    ))
    .await
    .expect("SetCard");
    let virtual_card = reg
        .emit_virtual(authed(&t2, pb::EmitVirtualRequest {}))
        .await
        .expect("EmitVirtual")
        .into_inner()
        .card_number;
    let t3 = reg
        .try_finish_registration(authed(&t2, pb::TryFinishRegistrationRequest {}))
        .await
        .expect("TryFinishRegistration")
        .into_inner()
        .auth_token;
    Registered {
        member_id,
        phone: phone.to_owned(),
        password: password.to_owned(),
        physical_card,
        virtual_card,
        token: t3.clone(),
        tokens: vec![t0, t1, t2, t3],
    }
}
