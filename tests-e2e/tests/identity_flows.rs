//! The seed's registration flows on the real `identity` binary: by phone with
//! a physical and a virtual card, by card number, an interrupted registration
//! continued with the password, re-entered contacts, the protocol errors of
//! the steps and the questionnaire, and everything surviving a restart.
//! Confirm codes are read where a member would get them: the notify sink.

use chrono::Datelike;
use loyalty_proto::identity::v1 as pb;
use notify::Channel::{Email, Sms};
use tests_e2e::identity::{
    Identity, actions, answers_for, assert_reason, assert_unauthenticated, authed, lookup, masked,
    member_cards, other_code, random_card, random_phone, register_by_phone, text_answer,
    violations,
};
use tonic::Code;

/// The seed's settings for both flows (also the defaults).
const SEED_FLAGS: &[&str] = &[
    "--emit-virtual-card",
    "1",
    "--main-card-assigning-required",
    "1",
];

async fn begin(id: &Identity, login: &str, password: &str) -> pb::BeginRegistrationResponse {
    id.registration()
        .begin_registration(pb::BeginRegistrationRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        })
        .await
        .expect("BeginRegistration")
        .into_inner()
}

async fn authenticate(id: &Identity, token: &str) -> pb::AuthenticateResponse {
    id.auth()
        .authenticate(pb::AuthenticateRequest {
            token: token.to_owned(),
        })
        .await
        .expect("Authenticate")
        .into_inner()
}

async fn member(id: &Identity, token: &str) -> pb::GetMemberResponse {
    id.members()
        .get_member(authed(token, pb::GetMemberRequest::default()))
        .await
        .expect("GetMember")
        .into_inner()
}

async fn accept(id: &Identity, token: &str) -> pb::AcceptTenderOfferResponse {
    id.registration()
        .accept_tender_offer(authed(token, pb::AcceptTenderOfferRequest {}))
        .await
        .expect("AcceptTenderOffer")
        .into_inner()
}

async fn confirm_phone(id: &Identity, token: &str, code: &str) -> Result<String, tonic::Status> {
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

async fn set_password(id: &Identity, token: &str, password: &str) -> String {
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

async fn answer_questions(id: &Identity, token: &str) {
    let questions = id
        .registration()
        .get_questions(authed(
            token,
            pb::GetQuestionsRequest {
                only_required: true,
            },
        ))
        .await
        .expect("GetQuestions")
        .into_inner()
        .questions;
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
async fn begin_and_confirm(id: &Identity, phone: &str) -> (String, String) {
    let b = begin(id, phone, "").await;
    assert_eq!(b.state(), pb::BeginRegistrationState::Success);
    accept(id, &b.auth_token).await;
    let code = id.code_after(Sms, phone, 0).await;
    let token = confirm_phone(id, &b.auth_token, &code)
        .await
        .expect("ConfirmPhoneNumber");
    (b.member_id, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_by_phone_with_a_virtual_and_a_physical_card() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let phone = random_phone();
    let r = register_by_phone(&id, &phone, "111111-Secret").await;

    // The final token is a registered member's.
    let who = authenticate(&id, &r.token).await;
    assert_eq!(who.member_id, r.member_id);
    assert_eq!(who.state(), pb::MemberState::Registered);
    assert!(who.expires_at.is_some());

    // Both cards are bound to the member.
    assert_eq!(
        lookup(&id, &r.physical_card).await,
        (
            "CARD_STATE_BOUND",
            "CARD_KIND_PHYSICAL",
            r.member_id.clone()
        )
    );
    assert_eq!(
        lookup(&id, &r.virtual_card).await,
        ("CARD_STATE_BOUND", "CARD_KIND_VIRTUAL", r.member_id.clone())
    );
    let mut expected = vec![
        (
            r.physical_card.clone(),
            "CARD_KIND_PHYSICAL",
            "CARD_STATE_BOUND",
        ),
        (
            r.virtual_card.clone(),
            "CARD_KIND_VIRTUAL",
            "CARD_STATE_BOUND",
        ),
    ];
    expected.sort();
    assert_eq!(member_cards(&id, &r.token).await, expected);
    let m = member(&id, &r.token).await;
    assert_eq!(m.state(), pb::MemberState::Registered);
    assert_eq!(m.phone_masked, masked(&phone));
    assert_eq!(
        m.profile.get("BirthDate").map(String::as_str),
        Some("1990-05-01")
    );

    // Logging in afterwards: the right password gives a token, a wrong one nothing.
    let formatted = format!(
        "+{} ({}) {}-{}-{}",
        &phone[..1],
        &phone[1..4],
        &phone[4..7],
        &phone[7..9],
        &phone[9..]
    );
    let login = begin(&id, &formatted, &r.password).await;
    assert_eq!(login.state(), pb::BeginRegistrationState::Success);
    assert!(login.registration_completed);
    assert_eq!(login.member_id, r.member_id);
    assert_eq!(
        authenticate(&id, &login.auth_token).await.member_id,
        r.member_id
    );
    let wrong = id
        .registration()
        .begin_registration(pb::BeginRegistrationRequest {
            login: phone.clone(),
            password: "222222-Wrong".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");
    assert!(id.process.terminate().await.is_ok_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_by_card_number_emits_a_virtual_card_and_binds_the_phone() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let card = random_card();
    id.load_cards(&[&card]).await;
    assert_eq!(
        lookup(&id, &card).await,
        ("CARD_STATE_IN_STOCK", "CARD_KIND_PHYSICAL", String::new())
    );

    let b = begin(&id, &card, "").await;
    assert_eq!(b.state(), pb::BeginRegistrationState::Success, "{b:?}");
    assert!(!b.auth_token.is_empty());
    assert!(id.sent().is_empty(), "no code is sent for a card login");
    let t0 = b.auth_token;
    // The login card is the member's card from the start.
    assert_eq!(
        lookup(&id, &card).await,
        (
            "CARD_STATE_BOUND",
            "CARD_KIND_PHYSICAL",
            b.member_id.clone()
        )
    );
    let steps = actions(&id, &t0).await;
    assert_eq!(
        steps[5],
        (
            "USER_ACTION_TYPE_ASSIGN_CARD",
            "ACTION_STATE_REQUIRED",
            true
        )
    );

    // AcceptTenderOffer emits the virtual card by itself (EmitVirtualCard=1, by card).
    let accepted = accept(&id, &t0).await;
    assert!(
        accepted.emitted_virtual_card.starts_with("***")
            && accepted.emitted_virtual_card.len() == 7,
        "masked virtual card: {accepted:?}"
    );
    let cards = member_cards(&id, &t0).await;
    assert_eq!(cards.len(), 2, "{cards:?}");
    let virtual_card = cards
        .iter()
        .find(|c| c.1 == "CARD_KIND_VIRTUAL")
        .expect("a virtual card")
        .0
        .clone();
    assert_eq!(masked(&virtual_card), accepted.emitted_virtual_card);
    assert_eq!(
        lookup(&id, &virtual_card).await,
        ("CARD_STATE_BOUND", "CARD_KIND_VIRTUAL", b.member_id.clone())
    );

    // Bind the phone: PhoneNumber, then Confirm with the code from the SMS.
    let phone = random_phone();
    let set = id
        .registration()
        .set_phone_number(authed(
            &t0,
            pb::SetPhoneNumberRequest {
                phone_number: format!("+{phone}"),
            },
        ))
        .await
        .expect("SetPhoneNumber")
        .into_inner();
    assert_eq!(set.confirm_code_length, 6);
    let code = id.code_after(Sms, &phone, 0).await;
    let t1 = confirm_phone(&id, &t0, &code)
        .await
        .expect("ConfirmPhoneNumber");
    assert_unauthenticated(
        id.auth()
            .authenticate(pb::AuthenticateRequest { token: t0 })
            .await,
    );
    let t2 = set_password(&id, &t1, "card-owner-pw").await;
    answer_questions(&id, &t2).await;
    let fin = id
        .registration()
        .try_finish_registration(authed(&t2, pb::TryFinishRegistrationRequest {}))
        .await
        .expect("TryFinishRegistration")
        .into_inner();
    assert!(fin.registration_completed);
    let who = authenticate(&id, &fin.auth_token).await;
    assert_eq!(
        (who.member_id.as_str(), who.state()),
        (b.member_id.as_str(), pb::MemberState::Registered)
    );

    // The member logs in with the card and the password...
    let login = begin(&id, &card, "card-owner-pw").await;
    assert_eq!(login.state(), pb::BeginRegistrationState::Success);
    assert_eq!(login.member_id, b.member_id);
    // ...and with the phone number bound during the registration.
    let by_phone = begin(&id, &phone, "").await;
    assert_eq!(
        (
            by_phone.state(),
            by_phone.member_id.as_str(),
            by_phone.auth_token.as_str()
        ),
        (
            pb::BeginRegistrationState::PasswordRequired,
            b.member_id.as_str(),
            ""
        ),
        "the confirmed phone logs into the same member, not a new registration"
    );
    let by_phone = begin(&id, &phone, "card-owner-pw").await;
    assert_eq!(by_phone.state(), pb::BeginRegistrationState::Success);
    assert_eq!(by_phone.member_id, b.member_id);
    assert!(id.process.terminate().await.is_ok_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_registration_continues_with_the_password() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let phone = random_phone();
    let (member_id, t1) = begin_and_confirm(&id, &phone).await;
    let t2 = set_password(&id, &t1, "continue-me").await;
    let before = actions(&id, &t2).await;

    // Later: the login alone asks for the password and gives no token.
    let again = begin(&id, &phone, "").await;
    assert_eq!(
        again.state(),
        pb::BeginRegistrationState::PasswordRequired,
        "{again:?}"
    );
    assert_eq!(again.error_message, "Требуется пароль.");
    assert_eq!(again.auth_token, "");
    assert!(!again.registration_completed);
    // A wrong password gives no token either.
    let wrong = begin(&id, &phone, "not-the-one").await;
    assert_eq!(
        wrong.state(),
        pb::BeginRegistrationState::PasswordRequired,
        "{wrong:?}"
    );
    assert_eq!(wrong.auth_token, "");

    // The right password continues the same registration where it stopped.
    let cont = begin(&id, &phone, "continue-me").await;
    assert_eq!(
        cont.state(),
        pb::BeginRegistrationState::Success,
        "{cont:?}"
    );
    assert_eq!(cont.member_id, member_id);
    assert!(!cont.auth_token.is_empty());
    let after = actions(&id, &cont.auth_token).await;
    assert_eq!(after, before);
    assert_eq!(
        after
            .iter()
            .filter(|a| a.2)
            .map(|a| a.0)
            .collect::<Vec<_>>(),
        vec![
            "USER_ACTION_TYPE_ACCEPT_TENDER_OFFER",
            "USER_ACTION_TYPE_CHANGE_PHONE",
            "USER_ACTION_TYPE_PASSWORD_REQUIRED"
        ]
    );
    // ...and can be finished with the new token.
    answer_questions(&id, &cont.auth_token).await;
    let card = random_card();
    id.load_cards(&[&card]).await;
    id.registration()
        .set_card(authed(
            &cont.auth_token,
            pb::SetCardRequest { card_number: card },
        ))
        .await
        .expect("SetCard");
    let fin = id
        .registration()
        .try_finish_registration(authed(
            &cont.auth_token,
            pb::TryFinishRegistrationRequest {},
        ))
        .await
        .expect("TryFinishRegistration")
        .into_inner();
    assert!(fin.registration_completed);
    assert!(id.process.terminate().await.is_ok_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_entered_phone_and_email_are_confirmed_with_their_own_codes() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let mut reg = id.registration();
    let first = random_phone();
    let second = loop {
        let p = random_phone();
        if p[p.len() - 4..] != first[first.len() - 4..] {
            break p;
        }
    };
    let b = begin(&id, &first, "").await;
    let t0 = b.auth_token;
    let first_code = id.code_after(Sms, &first, 0).await;

    // A mistyped number is re-entered at once (the cooldown is per number).
    reg.set_phone_number(authed(
        &t0,
        pb::SetPhoneNumberRequest {
            phone_number: second.clone(),
        },
    ))
    .await
    .expect("re-entering another phone number right away");
    let second_code = id.code_after(Sms, &second, 0).await;
    let p = reg
        .get_phone_number(authed(&t0, pb::GetPhoneNumberRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.new_phone_number, masked(&second));
    assert_eq!(p.current_phone_number, "");
    // The same number again within the cooldown is refused.
    let again = reg
        .set_phone_number(authed(
            &t0,
            pb::SetPhoneNumberRequest {
                phone_number: second.clone(),
            },
        ))
        .await
        .unwrap_err();
    let md = assert_reason(&again, Code::ResourceExhausted, "RESEND_COOLDOWN");
    assert!(md.contains_key("retry_after_seconds"), "{md:?}");
    assert_eq!(id.sent_to(Sms, &second).len(), 1);

    // The first number's code no longer confirms; the second's does.
    if first_code != second_code {
        let old = confirm_phone(&id, &t0, &first_code).await.unwrap_err();
        assert_eq!(violations(&old)[0].0, "confirm_code");
    }
    let t1 = confirm_phone(&id, &t0, &second_code)
        .await
        .expect("the new number's code");
    let p = reg
        .get_phone_number(authed(&t1, pb::GetPhoneNumberRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (p.current_phone_number, p.new_phone_number),
        (masked(&second), String::new())
    );

    // The same for the e-mail address.
    let (mail1, mail2) = ("anna.first@example.org", "boris.second@example.com");
    reg.set_email(authed(
        &t1,
        pb::SetEmailRequest {
            email: mail1.into(),
        },
    ))
    .await
    .expect("SetEmail");
    let mail1_code = id.code_after(Email, mail1, 0).await;
    let e = reg
        .get_email(authed(&t1, pb::GetEmailRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (e.current_email.as_str(), e.new_email.as_str()),
        ("", "a***@example.org")
    );
    assert_eq!(e.confirm_code_length, 6);
    reg.set_email(authed(
        &t1,
        pb::SetEmailRequest {
            email: mail2.into(),
        },
    ))
    .await
    .expect("re-entering another e-mail address right away");
    let mail2_code = id.code_after(Email, mail2, 0).await;
    let e = reg
        .get_email(authed(&t1, pb::GetEmailRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.new_email, "b***@example.com");
    if mail1_code != mail2_code {
        let old = reg
            .confirm_email(authed(
                &t1,
                pb::ConfirmEmailRequest {
                    confirm_code: mail1_code,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(violations(&old)[0].0, "confirm_code");
    }
    reg.confirm_email(authed(
        &t1,
        pb::ConfirmEmailRequest {
            confirm_code: mail2_code,
        },
    ))
    .await
    .expect("the new address's code");
    let e = reg
        .get_email(authed(&t1, pb::GetEmailRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (e.current_email.as_str(), e.new_email.as_str()),
        ("b***@example.com", "")
    );
    assert!(actions(&id, &t1).await[2].2, "ChangeEmail is done");
    let m = member(&id, &t1).await;
    assert_eq!(
        (m.phone_masked, m.email_masked),
        (masked(&second), "b***@example.com".to_owned())
    );

    // The confirmed number is the member's login; the mistyped one is not.
    let t2 = set_password(&id, &t1, "second-phone").await;
    assert!(!t2.is_empty());
    let by_second = begin(&id, &second, "second-phone").await;
    assert_eq!(
        by_second.state(),
        pb::BeginRegistrationState::Success,
        "{by_second:?}"
    );
    assert_eq!(by_second.member_id, b.member_id);
    assert!(id.process.terminate().await.is_ok_and(|s| s.success()));
}

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
    let questions = id
        .registration()
        .get_questions(authed(
            &token,
            pb::GetQuestionsRequest {
                only_required: true,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .questions;
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
async fn registrations_survive_a_restart() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let phone = random_phone();
    let r = register_by_phone(&id, &phone, "restart-pw").await;
    // A second member, still registering, with a card login.
    let card = random_card();
    id.load_cards(&[&card]).await;
    let b = begin(&id, &card, "").await;
    accept(&id, &b.auth_token).await;

    let who = authenticate(&id, &r.token).await;
    let before = (
        member(&id, &r.token).await,
        member(&id, &b.auth_token).await,
    );
    let cards_before = (
        lookup(&id, &r.physical_card).await,
        lookup(&id, &r.virtual_card).await,
        lookup(&id, &card).await,
    );
    let steps_before = actions(&id, &b.auth_token).await;

    assert!(
        id.process.terminate().await.unwrap().success(),
        "a clean SIGTERM exit"
    );
    id.process
        .restart()
        .await
        .expect("identity restarts on its data");

    let who_after = authenticate(&id, &r.token).await;
    assert_eq!(
        (who_after.member_id.as_str(), who_after.state()),
        (who.member_id.as_str(), pb::MemberState::Registered)
    );
    assert_eq!(who_after.expires_at, who.expires_at);
    let after = (
        member(&id, &r.token).await,
        member(&id, &b.auth_token).await,
    );
    assert_eq!(after, before);
    let cards_after = (
        lookup(&id, &r.physical_card).await,
        lookup(&id, &r.virtual_card).await,
        lookup(&id, &card).await,
    );
    assert_eq!(cards_after, cards_before);
    assert_eq!(actions(&id, &b.auth_token).await, steps_before);
    // Rotated tokens stay dead; the password still logs in.
    for old in &r.tokens[..r.tokens.len() - 1] {
        assert_unauthenticated(
            id.auth()
                .authenticate(pb::AuthenticateRequest { token: old.clone() })
                .await,
        );
    }
    let login = begin(&id, &phone, "restart-pw").await;
    assert_eq!(login.state(), pb::BeginRegistrationState::Success);
    assert_eq!(login.member_id, r.member_id);
    // A fresh code after the restart still confirms the second member's phone.
    let phone2 = random_phone();
    id.registration()
        .set_phone_number(authed(
            &b.auth_token,
            pb::SetPhoneNumberRequest {
                phone_number: phone2.clone(),
            },
        ))
        .await
        .expect("SetPhoneNumber after restart");
    let code = id.code_after(Sms, &phone2, 0).await;
    let wrong = other_code(&[&code]);
    assert_eq!(
        violations(&confirm_phone(&id, &b.auth_token, &wrong).await.unwrap_err())[0].0,
        "confirm_code"
    );
    confirm_phone(&id, &b.auth_token, &code)
        .await
        .expect("ConfirmPhoneNumber after restart");
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_or_blocked_card_opens_no_registration() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let r = register_by_phone(&id, &random_phone(), "owner-password").await;

    // Another member's physical card: the login reaches its owner, never a new
    // registration (which would hand a token to whoever knows the number).
    for _ in 0..2 {
        let b = id
            .registration()
            .begin_registration(pb::BeginRegistrationRequest {
                login: r.physical_card.clone(),
                password: String::new(),
            })
            .await;
        match b {
            Ok(b) => {
                let b = b.into_inner();
                assert_eq!(
                    (b.state(), b.member_id.as_str(), b.auth_token.as_str()),
                    (
                        pb::BeginRegistrationState::PasswordRequired,
                        r.member_id.as_str(),
                        ""
                    ),
                    "{b:?}"
                );
            }
            Err(s) => assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}"),
        }
    }
    assert_eq!(lookup(&id, &r.physical_card).await.2, r.member_id);

    // A blocked stock card opens nothing, however often it is tried.
    let blocked = random_card();
    id.load_cards(&[&blocked]).await;
    id.cards()
        .block_card(pb::BlockCardRequest {
            card_number: blocked.clone(),
            reason: "lost in transit".into(),
        })
        .await
        .expect("BlockCard");
    for _ in 0..2 {
        let refused = id
            .registration()
            .begin_registration(pb::BeginRegistrationRequest {
                login: blocked.clone(),
                password: String::new(),
            })
            .await
            .unwrap_err();
        assert_reason(&refused, Code::FailedPrecondition, "CARD_BLOCKED");
    }
    assert_eq!(
        lookup(&id, &blocked).await,
        ("CARD_STATE_BLOCKED", "CARD_KIND_PHYSICAL", String::new())
    );
    assert!(id.process.terminate().await.unwrap().success());
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
