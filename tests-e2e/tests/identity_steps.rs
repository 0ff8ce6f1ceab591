//! The protocol of the registration steps on the real `identity` binary: a
//! completed step repeated is refused, the questionnaire refuses an under-18
//! birth date on its question and shows the saved answers, finishing with a
//! required step open is refused without rotating the token, and the seed's
//! flags (virtual card emission, card assignment, the e-mail step) shape the
//! steps there are.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use chrono::Datelike;
use loyalty_proto::identity::v1 as pb;
use notify::Channel::Sms;
use tests_e2e::identity::{
    Identity, actions, answers_for, assert_reason, authed, member_cards, random_phone,
    required_questions, text_answer, violations,
};
use tests_e2e::identity_flows::{
    SEED_FLAGS, accept, answer_questions, authenticate, begin, begin_and_confirm, confirm_phone,
    set_password,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_completed_step_is_a_protocol_error() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let phone = random_phone();
    let b = begin(&id, &phone, "").await;
    accept(&id, &b.auth_token).await;
    let again = id
        .registration()
        .accept_tender_offer(authed(&b.auth_token, pb::AcceptTenderOfferRequest {}))
        .await
        .unwrap_err();
    let md = assert_reason(&again, Code::FailedPrecondition, "STEP_ALREADY_DONE");
    assert_eq!(
        md.get("step").map(String::as_str),
        Some("USER_ACTION_TYPE_ACCEPT_TENDER_OFFER")
    );

    // The same for a confirmed phone and a set password.
    let code = id.code_after(Sms, &phone, 0).await;
    let t1 = confirm_phone(&id, &b.auth_token, &code).await.unwrap();
    let again = confirm_phone(&id, &t1, &code).await.unwrap_err();
    let md = assert_reason(&again, Code::FailedPrecondition, "STEP_ALREADY_DONE");
    assert_eq!(
        md.get("step").map(String::as_str),
        Some("USER_ACTION_TYPE_CHANGE_PHONE")
    );
    let t2 = set_password(&id, &t1, "only-once").await;
    let again = id
        .registration()
        .set_password(authed(
            &t2,
            pb::SetPasswordRequest {
                password: "twice-now".into(),
            },
        ))
        .await
        .unwrap_err();
    let md = assert_reason(&again, Code::FailedPrecondition, "STEP_ALREADY_DONE");
    assert_eq!(
        md.get("step").map(String::as_str),
        Some("USER_ACTION_TYPE_PASSWORD_REQUIRED")
    );
    // A refused step leaves the token working.
    assert_eq!(authenticate(&id, &t2).await.member_id, b.member_id);
    assert!(id.process.terminate().await.is_ok_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_under_18_birth_date_is_refused_on_its_question() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let (_, token) = begin_and_confirm(&id, &random_phone()).await;
    let questions = required_questions(&id, &token).await;
    let today = chrono::Utc::now().date_naive();
    let seventeen = today
        .with_year(today.year() - 17)
        .unwrap_or_else(|| today - chrono::Days::new(17 * 365));
    let mut answers = answers_for(&questions, &seventeen.format("%Y-%m-%d").to_string());
    let refused = id
        .registration()
        .set_answers(authed(
            &token,
            pb::SetAnswersRequest {
                answers: answers.clone(),
            },
        ))
        .await
        .unwrap_err();
    let v = violations(&refused);
    assert_eq!(v.len(), 1, "only the birth date is wrong: {v:?}");
    assert_eq!(v[0].0, "question:4");
    assert!(v[0].1.contains("младше 18 лет"), "{v:?}");
    assert!(!actions(&id, &token).await[4].2, "Questions is not done");

    // Eighteen years and a day is fine.
    let adult = today
        .with_year(today.year() - 18)
        .unwrap_or_else(|| today - chrono::Days::new(18 * 366))
        - chrono::Days::new(1);
    for a in answers.iter_mut().filter(|a| a.id == 4) {
        *a = text_answer(4, &adult.format("%Y-%m-%d").to_string());
    }
    id.registration()
        .set_answers(authed(&token, pb::SetAnswersRequest { answers }))
        .await
        .expect("an adult's answers");
    assert!(actions(&id, &token).await[4].2, "Questions is done");
    // The questionnaire shows the saved answers.
    let all = id
        .registration()
        .get_questions(authed(
            &token,
            pb::GetQuestionsRequest {
                only_required: false,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .questions;
    let children = &all[0].children;
    let birth = children
        .iter()
        .find(|q| q.id == Some(4))
        .expect("BirthDate");
    assert_eq!(birth.value, adult.format("%Y-%m-%d").to_string());
    let sex = children.iter().find(|q| q.id == Some(5)).expect("Sex");
    assert_eq!(sex.children.iter().filter(|o| o.selected).count(), 1);
    assert!(
        children.iter().any(|q| q.logical_name == "MiddleName"),
        "all questions"
    );
    assert!(id.process.terminate().await.is_ok_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_with_a_required_step_open_is_refused() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let b = begin(&id, &random_phone(), "").await;
    let finish = |token: String| {
        let mut reg = id.registration();
        async move {
            reg.try_finish_registration(authed(&token, pb::TryFinishRegistrationRequest {}))
                .await
        }
    };
    let refused = finish(b.auth_token.clone()).await.unwrap_err();
    let md = assert_reason(&refused, Code::FailedPrecondition, "STEP_REQUIRED");
    assert_eq!(
        md.get("step").map(String::as_str),
        Some("USER_ACTION_TYPE_ACCEPT_TENDER_OFFER")
    );
    accept(&id, &b.auth_token).await;
    let refused = finish(b.auth_token.clone()).await.unwrap_err();
    let md = assert_reason(&refused, Code::FailedPrecondition, "STEP_REQUIRED");
    assert_eq!(
        md.get("step").map(String::as_str),
        Some("USER_ACTION_TYPE_CHANGE_PHONE")
    );
    // The refusal rotated nothing: the token still works, the member still registers.
    let who = authenticate(&id, &b.auth_token).await;
    assert_eq!(who.state(), pb::MemberState::Registering);
    assert!(id.process.terminate().await.is_ok_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flags_shape_the_steps() {
    tests_e2e::harness::init_test_logging();
    // No virtual cards, no card step, no e-mail step.
    let data = tempfile::tempdir().unwrap();
    let flags = [
        "--emit-virtual-card",
        "0",
        "--main-card-assigning-required",
        "0",
        "--email-step",
        "off",
    ];
    let mut id = Identity::start(data.path(), &flags, &[]).await;
    let (_, token) = begin_and_confirm(&id, &random_phone()).await;
    assert_eq!(
        actions(&id, &token).await,
        vec![
            (
                "USER_ACTION_TYPE_ACCEPT_TENDER_OFFER",
                "ACTION_STATE_REQUIRED",
                true
            ),
            (
                "USER_ACTION_TYPE_CHANGE_PHONE",
                "ACTION_STATE_REQUIRED",
                true
            ),
            (
                "USER_ACTION_TYPE_PASSWORD_REQUIRED",
                "ACTION_STATE_REQUIRED",
                false
            ),
            ("USER_ACTION_TYPE_QUESTIONS", "ACTION_STATE_REQUIRED", false),
        ]
    );
    let emit = id
        .registration()
        .get_emit_virtual(authed(&token, pb::GetEmitVirtualRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!emit.is_virtual_card_emission_allowed);
    let refused = id
        .registration()
        .emit_virtual(authed(&token, pb::EmitVirtualRequest {}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let token = set_password(&id, &token, "no-cards-pw").await;
    answer_questions(&id, &token).await;
    let fin = id
        .registration()
        .try_finish_registration(authed(&token, pb::TryFinishRegistrationRequest {}))
        .await
        .expect("finishes without a card")
        .into_inner();
    assert!(fin.registration_completed);
    assert!(member_cards(&id, &fin.auth_token).await.is_empty());
    assert!(id.process.terminate().await.unwrap().success());

    // EmitVirtualCard=2: the offer emits a virtual card in the phone flow too;
    // a required e-mail step blocks the finish.
    let data = tempfile::tempdir().unwrap();
    let flags = ["--emit-virtual-card", "2", "--email-step", "required"];
    let mut id = Identity::start(data.path(), &flags, &[]).await;
    let b = begin(&id, &random_phone(), "").await;
    let accepted = accept(&id, &b.auth_token).await;
    assert!(
        accepted.emitted_virtual_card.starts_with("***"),
        "{accepted:?}"
    );
    assert_eq!(
        actions(&id, &b.auth_token).await[5],
        (
            "USER_ACTION_TYPE_ASSIGN_CARD",
            "ACTION_STATE_REQUIRED",
            true
        )
    );
    let code = id.code_after(Sms, &id.sent()[0].to, 0).await;
    let t = confirm_phone(&id, &b.auth_token, &code).await.unwrap();
    let t = set_password(&id, &t, "email-required").await;
    answer_questions(&id, &t).await;
    let refused = id
        .registration()
        .try_finish_registration(authed(&t, pb::TryFinishRegistrationRequest {}))
        .await
        .unwrap_err();
    let md = assert_reason(&refused, Code::FailedPrecondition, "STEP_REQUIRED");
    assert_eq!(
        md.get("step").map(String::as_str),
        Some("USER_ACTION_TYPE_CHANGE_EMAIL")
    );
    assert!(id.process.terminate().await.unwrap().success());
}
