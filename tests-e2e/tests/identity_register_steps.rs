//! The seed's whole registration by phone, every step's answer checked as
//! the seed shows it: the actions list, AcceptTenderOffer, the masked phone
//! number, the confirm code (the old token stops working), the password, the
//! required questions, a stocked physical card and one virtual card, and
//! TryFinishRegistration. Other tests register through the plain fixture
//! `tests_e2e::identity::register_by_phone`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as pb;
use tests_e2e::identity::{
    Identity, Registered, actions, answers_for, assert_unauthenticated, authed, masked,
    random_card, random_phone, required_questions,
};
use tests_e2e::identity_flows::{SEED_FLAGS, authenticate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_registration_by_phone_answers_each_step_as_the_seed_shows() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let phone = random_phone();
    let r = register_checking_every_step(&id, &phone, "111111-Secret").await;
    let who = authenticate(&id, &r.token).await;
    assert_eq!(who.member_id, r.member_id);
    assert_eq!(who.state(), pb::MemberState::Registered);
    assert_eq!(r.tokens.len(), 4, "one token per step that issues one");
}

/// The seed's registration by phone with a physical and a virtual card
/// (EmitVirtualCard=1, MainCardAssigningRequired=1), every answer checked.
async fn register_checking_every_step(id: &Identity, phone: &str, password: &str) -> Registered {
    use notify::Channel::Sms;
    let physical_card = random_card();
    id.load_cards(&[&physical_card]).await;
    let mut reg = id.registration();
    let auth = id.auth();
    let mut tokens = Vec::new();

    // 1. BeginRegistration(phone, "") → a token and an SMS code.
    let begin = reg
        .begin_registration(pb::BeginRegistrationRequest {
            login: phone.to_owned(),
            password: String::new(),
        })
        .await
        .expect("BeginRegistration")
        .into_inner();
    assert_eq!(
        begin.state(),
        pb::BeginRegistrationState::Success,
        "{begin:?}"
    );
    assert!(!begin.auth_token.is_empty() && !begin.member_id.is_empty());
    assert!(!begin.registration_completed);
    let member_id = begin.member_id.clone();
    let t0 = begin.auth_token;
    tokens.push(t0.clone());
    let code = id.code_after(Sms, phone, 0).await;

    // 2. actions: the six steps of the seed, none done.
    assert_eq!(
        actions(id, &t0).await,
        vec![
            (
                "USER_ACTION_TYPE_ACCEPT_TENDER_OFFER",
                "ACTION_STATE_REQUIRED",
                false
            ),
            (
                "USER_ACTION_TYPE_CHANGE_PHONE",
                "ACTION_STATE_REQUIRED",
                false
            ),
            (
                "USER_ACTION_TYPE_CHANGE_EMAIL",
                "ACTION_STATE_OPTIONAL",
                false
            ),
            (
                "USER_ACTION_TYPE_PASSWORD_REQUIRED",
                "ACTION_STATE_REQUIRED",
                false
            ),
            ("USER_ACTION_TYPE_QUESTIONS", "ACTION_STATE_REQUIRED", false),
            (
                "USER_ACTION_TYPE_ASSIGN_CARD",
                "ACTION_STATE_REQUIRED",
                false
            ),
        ]
    );

    // 3. AcceptTenderOffer: done, no virtual card in the phone flow.
    let accepted = reg
        .accept_tender_offer(authed(&t0, pb::AcceptTenderOfferRequest {}))
        .await
        .expect("AcceptTenderOffer")
        .into_inner();
    assert_eq!(accepted.emitted_virtual_card, "");
    assert!(actions(id, &t0).await[0].2, "AcceptTenderOffer is done");

    // 4. GET PhoneNumber: the number being confirmed, masked.
    let p = reg
        .get_phone_number(authed(&t0, pb::GetPhoneNumberRequest {}))
        .await
        .expect("GetPhoneNumber")
        .into_inner();
    assert_eq!(p.current_phone_number, "");
    assert_eq!(p.new_phone_number, masked(phone));
    assert_eq!(p.confirm_code_length, 6);

    // 5. PhoneNumber/Confirm → a new token; the old one stops working.
    let t1 = reg
        .confirm_phone_number(authed(
            &t0,
            pb::ConfirmPhoneNumberRequest {
                confirm_code: code.clone(),
            },
        ))
        .await
        .expect("ConfirmPhoneNumber")
        .into_inner()
        .auth_token;
    assert!(!t1.is_empty() && t1 != t0);
    tokens.push(t1.clone());
    assert_unauthenticated(
        auth.clone()
            .authenticate(pb::AuthenticateRequest { token: t0.clone() })
            .await,
    );
    assert_unauthenticated(reg.get_actions(authed(&t0, pb::GetActionsRequest {})).await);
    let p = reg
        .get_phone_number(authed(&t1, pb::GetPhoneNumberRequest {}))
        .await
        .expect("GetPhoneNumber")
        .into_inner();
    assert_eq!(p.current_phone_number, masked(phone));
    assert_eq!(p.new_phone_number, "");
    assert!(actions(id, &t1).await[1].2, "ChangePhone is done");

    // 6. Password/Set → a new token.
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
    assert!(!t2.is_empty() && t2 != t1);
    tokens.push(t2.clone());
    assert_unauthenticated(reg.get_actions(authed(&t1, pb::GetActionsRequest {})).await);

    // 7. Questions (only required) and Answers.
    let questions = required_questions(id, &t2).await;
    let answers = answers_for(&questions, "1990-05-01");
    let answered: Vec<i64> = answers
        .iter()
        .map(|a| {
            if a.selected {
                a.group_id.unwrap_or(a.id)
            } else {
                a.id
            }
        })
        .collect();
    assert_eq!(
        answered,
        vec![2, 3, 4, 5],
        "the required questions of the default questionnaire"
    );
    reg.set_answers(authed(&t2, pb::SetAnswersRequest { answers }))
        .await
        .expect("SetAnswers");

    // 8. Cards/Set with a stocked physical card, then the virtual card.
    let set = reg
        .set_card(authed(
            &t2,
            pb::SetCardRequest {
                card_number: physical_card.clone(),
            },
        ))
        .await
        .expect("SetCard")
        .into_inner();
    assert_eq!(set.card_number_masked, masked(&physical_card));
    let emit = reg
        .get_emit_virtual(authed(&t2, pb::GetEmitVirtualRequest {}))
        .await
        .expect("GetEmitVirtual")
        .into_inner();
    assert!(emit.is_virtual_card_emission_allowed, "{emit:?}");
    assert_eq!(emit.current_count_of_virtual_cards, 0);
    let virtual_card = reg
        .emit_virtual(authed(&t2, pb::EmitVirtualRequest {}))
        .await
        .expect("EmitVirtual")
        .into_inner()
        .card_number;
    assert!(
        virtual_card.len() == 16 && virtual_card.starts_with("777"),
        "a number of the virtual range: {virtual_card}"
    );
    let emit = reg
        .get_emit_virtual(authed(&t2, pb::GetEmitVirtualRequest {}))
        .await
        .expect("GetEmitVirtual")
        .into_inner();
    assert_eq!(emit.current_count_of_virtual_cards, 1);
    assert!(
        !emit.is_virtual_card_emission_allowed,
        "one virtual card per member"
    );

    // Every required step is done now; the optional e-mail is not.
    assert_eq!(
        actions(id, &t2).await,
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
                "USER_ACTION_TYPE_CHANGE_EMAIL",
                "ACTION_STATE_OPTIONAL",
                false
            ),
            (
                "USER_ACTION_TYPE_PASSWORD_REQUIRED",
                "ACTION_STATE_REQUIRED",
                true
            ),
            ("USER_ACTION_TYPE_QUESTIONS", "ACTION_STATE_REQUIRED", true),
            (
                "USER_ACTION_TYPE_ASSIGN_CARD",
                "ACTION_STATE_REQUIRED",
                true
            ),
        ]
    );

    // 9. TryFinishRegistration → completed, a new token.
    let fin = reg
        .try_finish_registration(authed(&t2, pb::TryFinishRegistrationRequest {}))
        .await
        .expect("TryFinishRegistration")
        .into_inner();
    assert!(fin.registration_completed);
    let t3 = fin.auth_token;
    assert!(!t3.is_empty() && t3 != t2);
    tokens.push(t3.clone());
    assert_unauthenticated(reg.get_actions(authed(&t2, pb::GetActionsRequest {})).await);

    Registered {
        member_id,
        phone: phone.to_owned(),
        password: password.to_owned(),
        physical_card,
        virtual_card,
        token: t3,
        tokens,
    }
}
