//! A phone number belongs to whoever confirmed it. A registration that
//! began with one phone and confirmed another lets the first one go: it is
//! no longer a login of that member, and its real owner can register with
//! it; the confirmed phone logs the member in. And nothing (a password, an
//! e-mail, a card) is attached to a registration by phone before its phone
//! is confirmed, so typing someone else's number locks nobody out.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as pb;
use notify::Channel::Sms;
use tests_e2e::identity::{Identity, assert_reason, authed, random_phone};
use tests_e2e::identity_flows::{SEED_FLAGS, accept, begin, confirm_phone, set_password};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_a_registration_began_with_is_released_when_another_is_confirmed() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let (first, second) = (random_phone(), random_phone());

    let b = begin(&id, &first, "").await;
    assert_eq!(b.state(), pb::BeginRegistrationState::Success);
    accept(&id, &b.auth_token).await;
    id.registration()
        .set_phone_number(authed(
            &b.auth_token,
            pb::SetPhoneNumberRequest {
                phone_number: second.clone(),
            },
        ))
        .await
        .expect("re-entering another phone number");
    let code = id.code_after(Sms, &second, 0).await;
    let token = confirm_phone(&id, &b.auth_token, &code)
        .await
        .expect("confirming the second phone");
    set_password(&id, &token, "111111-Secret").await;

    // The confirmed phone logs the member in with the password.
    let again = begin(&id, &second, "111111-Secret").await;
    assert_eq!(again.state(), pb::BeginRegistrationState::Success);
    assert_eq!(again.member_id, b.member_id);

    // The first phone is free: its owner starts a registration of their own.
    let owner = begin(&id, &first, "").await;
    assert_eq!(owner.state(), pb::BeginRegistrationState::Success);
    assert_ne!(owner.member_id, b.member_id);
    assert!(!owner.registration_completed);

    // The phone the member confirmed stays theirs: nobody else may enter it.
    let taken = id
        .registration()
        .set_phone_number(authed(
            &owner.auth_token,
            pb::SetPhoneNumberRequest {
                phone_number: second.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), tonic::Code::AlreadyExists, "{taken:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_attached_to_a_phone_registration_before_its_phone_is_confirmed() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let phone = random_phone();

    // Someone types a number that is not theirs and tries to claim it with a
    // password, an e-mail of their own or a card.
    let squatter = begin(&id, &phone, "").await;
    accept(&id, &squatter.auth_token).await;
    let reg = id.registration();
    let refusals = [
        reg.clone()
            .set_password(authed(
                &squatter.auth_token,
                pb::SetPasswordRequest {
                    password: "222222-Secret".into(),
                },
            ))
            .await
            .map(|_| ()),
        reg.clone()
            .set_email(authed(
                &squatter.auth_token,
                pb::SetEmailRequest {
                    email: "squatter@example.org".into(),
                },
            ))
            .await
            .map(|_| ()),
    ];
    for refused in refusals {
        let status = refused.expect_err("refused before the phone is confirmed");
        let md = assert_reason(&status, tonic::Code::FailedPrecondition, "STEP_REQUIRED");
        assert_eq!(md["step"], "USER_ACTION_TYPE_CHANGE_PHONE");
    }
    assert!(
        id.sent_to(notify::Channel::Email, "squatter@example.org")
            .is_empty()
    );

    // The number's owner is not locked out: they continue without a password
    // and prove the phone with the code sent to it.
    let owner = begin(&id, &phone, "").await;
    assert_eq!(owner.state(), pb::BeginRegistrationState::Success);
    let code = id.code_after(Sms, &phone, 0).await;
    let token = confirm_phone(&id, &owner.auth_token, &code)
        .await
        .expect("the owner confirms the phone");
    set_password(&id, &token, "111111-Secret").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_member_moves_to_a_new_phone_and_the_old_one_is_free() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let id = Identity::start(data.path(), SEED_FLAGS, &[]).await;
    let (old, new) = (random_phone(), random_phone());
    let r = tests_e2e::identity::register_by_phone(&id, &old, "111111-Secret").await;

    id.registration()
        .set_phone_number(authed(
            &r.token,
            pb::SetPhoneNumberRequest {
                phone_number: new.clone(),
            },
        ))
        .await
        .expect("a registered member enters a new phone");
    let code = id.code_after(Sms, &new, 0).await;
    confirm_phone(&id, &r.token, &code)
        .await
        .expect("and confirms it");

    let moved = begin(&id, &new, "111111-Secret").await;
    assert_eq!(moved.state(), pb::BeginRegistrationState::Success);
    assert_eq!(moved.member_id, r.member_id);
    assert!(moved.registration_completed);
    let fresh = begin(&id, &old, "").await;
    assert_ne!(fresh.member_id, r.member_id, "the old phone is free");
    assert!(!fresh.registration_completed);
}
