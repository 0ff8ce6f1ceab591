//! A phone number belongs to whoever confirmed it last. A registration that
//! began with one phone and confirmed another lets the first one go: it is
//! no longer a login of that member, and its real owner can register with
//! it; the confirmed phone logs the member in.

use loyalty_proto::identity::v1 as pb;
use notify::Channel::Sms;
use tests_e2e::identity::{Identity, authed, random_phone};
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
