//! Registration by phone on the real `identity` binary: the seed's flow with a
//! physical and a virtual card and the logins after it, an interrupted
//! registration continued with the password, a re-entered phone number and
//! e-mail address confirmed with their own codes, and registrations (one by
//! phone, one by card still under way) surviving a restart. Confirm codes are
//! read where a member would get them: the notify sink.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as pb;
use notify::Channel::{Email, Sms};
use tests_e2e::identity::{
    Identity, actions, assert_reason, assert_unauthenticated, authed, lookup, masked, member_cards,
    other_code, random_card, random_phone, register_by_phone, violations,
};
use tests_e2e::identity_flows::{
    SEED_FLAGS, accept, answer_questions, authenticate, begin, begin_and_confirm, confirm_phone,
    set_password,
};
use tonic::Code;

async fn member(id: &Identity, token: &str) -> pb::GetMemberResponse {
    id.members()
        .get_member(authed(token, pb::GetMemberRequest::default()))
        .await
        .expect("GetMember")
        .into_inner()
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
