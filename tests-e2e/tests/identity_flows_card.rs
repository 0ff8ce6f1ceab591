//! Registration by card number on the real `identity` binary: a stocked card
//! logs in, the tender offer emits a virtual card, the phone is bound with its
//! SMS code, and afterwards the card and the phone both log in with the
//! password; another member's card or a blocked card opens no registration.
//! Confirm codes are read where a member would get them: the notify sink.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as pb;
use notify::Channel::Sms;
use tests_e2e::identity::{
    Identity, actions, assert_reason, assert_unauthenticated, authed, lookup, masked, member_cards,
    random_card, random_phone, register_by_phone,
};
use tests_e2e::identity_flows::{
    SEED_FLAGS, accept, answer_questions, authenticate, begin, confirm_phone, set_password,
};
use tonic::Code;

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
