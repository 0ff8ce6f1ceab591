//! Abuse limits of the real `identity` binary: a confirm code locks after five
//! wrong tries until a new one is sent, the resend cooldown and the daily cap
//! of codes per channel hold, wrong passwords lock the login (sessions issued
//! before survive), and concurrent double clicks open one member, send one SMS
//! and emit one virtual card.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeSet;

use loyalty_proto::identity::v1 as pb;
use notify::Channel::Sms;
use tests_e2e::harness::eventually;
use tests_e2e::identity::{
    DEADLINE, Identity, assert_reason, authed, other_code, random_phone, register_by_phone,
    violations,
};
use tests_e2e::identity_flows::{begin, confirm_phone, resend};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixth_try_is_refused_even_with_the_right_code_until_a_new_code() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &["--resend-cooldown-secs", "1"], &[]).await;
    let phone = random_phone();
    let b = begin(&id, &phone, "").await;
    let code = id.code_after(Sms, &phone, 0).await;

    for attempt in 1..=5u32 {
        let wrong = other_code(&[&code]);
        let refused = confirm_phone(&id, &b.auth_token, &wrong).await.unwrap_err();
        let v = violations(&refused);
        assert_eq!(v[0].0, "confirm_code", "{v:?}");
        assert!(
            v[0].1.contains(&format!("{} attempts left", 5 - attempt)),
            "{v:?}"
        );
    }
    let locked = confirm_phone(&id, &b.auth_token, &code).await.unwrap_err();
    assert_reason(&locked, Code::FailedPrecondition, "CONFIRM_CODE_LOCKED");
    // Still locked: the lock does not count down by itself.
    let locked = confirm_phone(&id, &b.auth_token, &code).await.unwrap_err();
    assert_reason(&locked, Code::FailedPrecondition, "CONFIRM_CODE_LOCKED");

    // A new code (once the 1 s cooldown allows) unlocks; the old code is dead.
    eventually(DEADLINE, "the cooldown ends", || async {
        match resend(&id, &b.auth_token).await {
            Ok(()) => Some(()),
            Err(s) => {
                assert_reason(&s, Code::ResourceExhausted, "RESEND_COOLDOWN");
                None
            }
        }
    })
    .await;
    let fresh = id.code_after(Sms, &phone, 1).await;
    if fresh != code {
        let old = confirm_phone(&id, &b.auth_token, &code).await.unwrap_err();
        assert_eq!(violations(&old)[0].0, "confirm_code");
    }
    let token = confirm_phone(&id, &b.auth_token, &fresh)
        .await
        .expect("the new code confirms");
    assert!(!token.is_empty());
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resend_cooldown_holds() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &["--resend-cooldown-secs", "60"], &[]).await;
    let phone = random_phone();
    let b = begin(&id, &phone, "").await;
    id.code_after(Sms, &phone, 0).await;
    let refused = resend(&id, &b.auth_token).await.unwrap_err();
    let md = assert_reason(&refused, Code::ResourceExhausted, "RESEND_COOLDOWN");
    let retry: i64 = md["retry_after_seconds"]
        .parse()
        .expect("a number of seconds");
    assert!((1..=60).contains(&retry), "retry_after_seconds = {retry}");
    // Re-entering the same number is no way around it.
    let same = id
        .registration()
        .set_phone_number(authed(
            &b.auth_token,
            pb::SetPhoneNumberRequest {
                phone_number: phone.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_reason(&same, Code::ResourceExhausted, "RESEND_COOLDOWN");
    assert_eq!(id.sent_to(Sms, &phone).len(), 1, "one SMS only");
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_counts_every_code_of_the_channel() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(
        data.path(),
        &["--resend-cooldown-secs", "0", "--daily-codes", "3"],
        &[],
    )
    .await;
    let b = begin(&id, &random_phone(), "").await;
    resend(&id, &b.auth_token).await.expect("code 2");
    // Re-entering other numbers skips the cooldown but not the daily cap.
    let set = |phone: String| {
        let mut reg = id.registration();
        let token = b.auth_token.clone();
        async move {
            reg.set_phone_number(authed(
                &token,
                pb::SetPhoneNumberRequest {
                    phone_number: phone,
                },
            ))
            .await
        }
    };
    set(random_phone()).await.expect("code 3");
    let refused = set(random_phone()).await.unwrap_err();
    let md = assert_reason(&refused, Code::ResourceExhausted, "DAILY_LIMIT");
    assert!(
        md["retry_after_seconds"].parse::<i64>().unwrap() > 3600,
        "{md:?}"
    );
    let refused = resend(&id, &b.auth_token).await.unwrap_err();
    assert_reason(&refused, Code::ResourceExhausted, "DAILY_LIMIT");
    assert_eq!(id.sent().len(), 3);
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_lock_the_login() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &[], &[]).await;
    let phone = random_phone();
    let r = register_by_phone(&id, &phone, "the-right-one").await;
    for i in 0..5 {
        let s = id
            .registration()
            .begin_registration(pb::BeginRegistrationRequest {
                login: phone.clone(),
                password: format!("guess-{i}"),
            })
            .await
            .unwrap_err();
        assert_reason(&s, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    let locked = id
        .registration()
        .begin_registration(pb::BeginRegistrationRequest {
            login: phone.clone(),
            password: r.password.clone(),
        })
        .await
        .unwrap_err();
    let md = assert_reason(&locked, Code::ResourceExhausted, "LOGIN_LOCKED");
    assert!(md["retry_after_seconds"].parse::<i64>().unwrap() > 0);
    // Tokens issued before stay valid.
    id.auth()
        .authenticate(pb::AuthenticateRequest {
            token: r.token.clone(),
        })
        .await
        .expect("the session survives");
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_clicks_are_harmless() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &[], &[]).await;

    // The same new phone begun 6 times at once: one member, one SMS.
    let phone = random_phone();
    let calls = (0..6).map(|_| {
        let mut reg = id.registration();
        let phone = phone.clone();
        async move {
            reg.begin_registration(pb::BeginRegistrationRequest {
                login: phone,
                password: String::new(),
            })
            .await
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut members = BTreeSet::new();
    let mut token = String::new();
    for r in results {
        let r = r.expect("every concurrent BeginRegistration succeeds");
        let r = r.into_inner();
        assert_eq!(r.state(), pb::BeginRegistrationState::Success);
        members.insert(r.member_id);
        token = r.auth_token;
    }
    assert_eq!(members.len(), 1, "one member for one phone: {members:?}");
    assert_eq!(id.sent_to(Sms, &phone).len(), 1, "one SMS");

    // EmitVirtual 4 times at once: one virtual card.
    let calls = (0..4).map(|_| {
        let mut reg = id.registration();
        let token = token.clone();
        async move {
            reg.emit_virtual(authed(&token, pb::EmitVirtualRequest {}))
                .await
        }
    });
    let results = futures::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(ok >= 1);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_reason(refused, Code::FailedPrecondition, "VIRTUAL_CARD_EXISTS");
    }
    let emit = id
        .registration()
        .get_emit_virtual(authed(&token, pb::GetEmitVirtualRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        emit.current_count_of_virtual_cards, 1,
        "one virtual card per member"
    );
    assert_eq!(ok, 1, "only one emission succeeded");
    assert!(id.process.terminate().await.unwrap().success());
}
