//! Token boundaries of the real `identity` binary: one member's token can
//! neither read nor change another member nor take its phone number, a revoked
//! token is dead, and a token got with the phone alone (a password-less
//! continuation) is no session until the phone is re-verified with a new code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as pb;
use notify::Channel::Sms;
use tests_e2e::harness::eventually;
use tests_e2e::identity::{
    DEADLINE, Identity, assert_reason, assert_unauthenticated, authed, error_info, random_phone,
};
use tests_e2e::identity_flows::{authenticate, begin, confirm_phone, resend};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_token_cannot_read_or_change_another_member() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &[], &[]).await;
    let (phone_a, phone_b) = (random_phone(), random_phone());
    let a = begin(&id, &phone_a, "").await;
    let b = begin(&id, &phone_b, "").await;
    assert_ne!(a.member_id, b.member_id);
    let mut members = id.members();

    let denied = members
        .get_member(authed(
            &a.auth_token,
            pb::GetMemberRequest {
                member_id: b.member_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_reason(&denied, Code::PermissionDenied, "FORBIDDEN");
    let denied = members
        .set_consent(authed(
            &a.auth_token,
            pb::SetConsentRequest {
                member_id: b.member_id.clone(),
                mailing_consent: true,
            },
        ))
        .await
        .unwrap_err();
    assert_reason(&denied, Code::PermissionDenied, "FORBIDDEN");
    let denied = members
        .bind_bank_card(authed(
            &a.auth_token,
            pb::BindBankCardRequest {
                member_id: b.member_id.clone(),
                pan: "4111111111111111".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_reason(&denied, Code::PermissionDenied, "FORBIDDEN");
    let denied = members
        .link_social_account(authed(
            &a.auth_token,
            pb::LinkSocialAccountRequest {
                member_id: b.member_id.clone(),
                account: Some(pb::SocialAccount {
                    network: "vk".into(),
                    external_user_id: "id-of-a".into(),
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_reason(&denied, Code::PermissionDenied, "FORBIDDEN");
    // Nothing happened to B, and the PAN is bound to nobody.
    let mb = members
        .get_member(authed(&b.auth_token, pb::GetMemberRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mb.member_id, b.member_id);
    assert!(
        !mb.mailing_consent && mb.bank_cards.is_empty() && mb.social_accounts.is_empty(),
        "{mb:?}"
    );
    let nobody = members
        .find_by_bank_card(pb::FindByBankCardRequest {
            key: Some(pb::find_by_bank_card_request::Key::Pan(
                "4111111111111111".into(),
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(nobody.code(), Code::NotFound);
    // A's own member is A's to change.
    members
        .set_consent(authed(
            &a.auth_token,
            pb::SetConsentRequest {
                member_id: a.member_id.clone(),
                mailing_consent: true,
            },
        ))
        .await
        .expect("A changes A");

    // A cannot take B's phone number (B's login): no code is sent to it.
    let taken = id
        .registration()
        .set_phone_number(authed(
            &a.auth_token,
            pb::SetPhoneNumberRequest {
                phone_number: phone_b.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken:?}");
    assert_eq!(error_info(&taken).0, "ALREADY_LINKED");
    assert_eq!(id.sent_to(Sms, &phone_b).len(), 1, "only B's own code");

    // A token's id with another secret revokes nothing.
    let (token_id, _) = a.auth_token.split_once('.').unwrap();
    let forged = format!("{token_id}.{}", "A".repeat(43));
    id.auth()
        .revoke_token(pb::RevokeTokenRequest { token: forged })
        .await
        .unwrap();
    members
        .get_member(authed(&a.auth_token, pb::GetMemberRequest::default()))
        .await
        .expect("a forged revocation leaves the token alive");

    // A revoked token is dead.
    id.auth()
        .revoke_token(pb::RevokeTokenRequest {
            token: a.auth_token.clone(),
        })
        .await
        .unwrap();
    assert_unauthenticated(
        members
            .get_member(authed(&a.auth_token, pb::GetMemberRequest::default()))
            .await,
    );
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_only_token_is_not_a_session() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &["--resend-cooldown-secs", "1"], &[]).await;
    let phone = random_phone();
    let b = begin(&id, &phone, "").await;
    let code = id.code_after(Sms, &phone, 0).await;
    let full = confirm_phone(&id, &b.auth_token, &code).await.unwrap();

    // Whoever knows the phone continues the password-less registration, but
    // gets a token that can only re-confirm the phone.
    let cont = begin(&id, &phone, "").await;
    assert_eq!(cont.state(), pb::BeginRegistrationState::Success);
    let limited = cont.auth_token;
    let refused = id
        .auth()
        .authenticate(pb::AuthenticateRequest {
            token: limited.clone(),
        })
        .await;
    assert_unauthenticated(refused);
    assert_unauthenticated(
        id.members()
            .get_member(authed(&limited, pb::GetMemberRequest::default()))
            .await,
    );
    assert_unauthenticated(
        id.registration()
            .set_password(authed(
                &limited,
                pb::SetPasswordRequest {
                    password: "hijack-pw".into(),
                },
            ))
            .await,
    );
    assert_unauthenticated(
        id.registration()
            .emit_virtual(authed(&limited, pb::EmitVirtualRequest {}))
            .await,
    );
    // The earlier full token is untouched.
    id.auth()
        .authenticate(pb::AuthenticateRequest {
            token: full.clone(),
        })
        .await
        .expect("the phone owner's session");

    // The phone's owner gets a fresh code and turns it into a full token.
    eventually(DEADLINE, "a re-verification code", || async {
        if id.sent_to(Sms, &phone).len() >= 2 {
            return Some(());
        }
        if let Err(s) = resend(&id, &limited).await {
            assert_reason(&s, Code::ResourceExhausted, "RESEND_COOLDOWN");
        }
        None
    })
    .await;
    let fresh = id.code_after(Sms, &phone, 1).await;
    let upgraded = confirm_phone(&id, &limited, &fresh)
        .await
        .expect("re-verified");
    let who = id
        .auth()
        .authenticate(pb::AuthenticateRequest { token: upgraded })
        .await
        .expect("a full token after re-verification")
        .into_inner();
    assert_eq!(who.member_id, b.member_id);
    assert_unauthenticated(
        id.auth()
            .authenticate(pb::AuthenticateRequest { token: limited })
            .await,
    );
    assert!(id.process.terminate().await.unwrap().success());
}

/// AuthService.RefreshToken with `refresh`.
async fn refresh(id: &Identity, refresh: &str) -> Result<pb::RefreshTokenResponse, tonic::Status> {
    id.auth()
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: refresh.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_is_traded_once_and_a_replay_ends_the_session() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let id = Identity::start(data.path(), tests_e2e::identity_flows::SEED_FLAGS, &[]).await;
    let phone = random_phone();
    let reg = tests_e2e::identity_register::register_by_phone(&id, &phone, "s3cret-Pass").await;
    // A registration's tokens come without a refresh token; a password
    // login's with one, and both expiry times.
    let unregistered = begin(&id, &random_phone(), "").await;
    assert!(unregistered.refresh_token.is_empty());
    assert!(unregistered.auth_token_expires_at.is_some());
    let login = begin(&id, &phone, "s3cret-Pass").await;
    assert!(login.registration_completed && !login.refresh_token.is_empty());
    assert!(login.auth_token_expires_at.is_some());
    assert_unauthenticated(
        refresh(&id, &login.auth_token)
            .await
            .map(tonic::Response::new),
    );
    assert_unauthenticated(
        refresh(&id, &unregistered.auth_token)
            .await
            .map(tonic::Response::new),
    );

    // Traded: a new pair for the same member; the old token is dead.
    let first = refresh(&id, &login.refresh_token).await.expect("refresh");
    assert_eq!(first.member_id, reg.member_id);
    assert_ne!(first.refresh_token, login.refresh_token);
    assert!(first.refresh_token_expires_at > first.auth_token_expires_at);
    assert_eq!(
        authenticate(&id, &first.auth_token).await.member_id,
        reg.member_id
    );
    assert_unauthenticated(
        id.auth()
            .authenticate(pb::AuthenticateRequest {
                token: login.auth_token.clone(),
            })
            .await,
    );

    // The same refresh token again at once, its new pair unused (an answer
    // lost on the way): a fresh pair, and the unused one is dead.
    let retry = refresh(&id, &login.refresh_token).await.expect("retry");
    assert_ne!(retry.auth_token, first.auth_token);
    assert_eq!(
        authenticate(&id, &retry.auth_token).await.member_id,
        reg.member_id
    );
    assert_unauthenticated(
        id.auth()
            .authenticate(pb::AuthenticateRequest {
                token: first.auth_token.clone(),
            })
            .await,
    );

    // Once the new pair has been traded in turn, a replay of the first
    // refresh token is a stolen one: the whole session ends.
    let second = refresh(&id, &retry.refresh_token)
        .await
        .expect("second trade");
    assert_eq!(
        authenticate(&id, &second.auth_token).await.member_id,
        reg.member_id
    );
    let replay = refresh(&id, &login.refresh_token).await.unwrap_err();
    assert_eq!(replay.code(), Code::Unauthenticated, "{replay:?}");
    assert_unauthenticated(
        id.auth()
            .authenticate(pb::AuthenticateRequest {
                token: second.auth_token.clone(),
            })
            .await,
    );
    let after = refresh(&id, &second.refresh_token).await.unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated, "{after:?}");
    // A made-up refresh token for the member changes nothing and is refused.
    let fresh = begin(&id, &phone, "s3cret-Pass").await;
    let (head, last) = fresh.refresh_token.split_at(fresh.refresh_token.len() - 1);
    let forged = format!("{head}{}", if last == "A" { "B" } else { "A" });
    assert_eq!(
        refresh(&id, &forged).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        authenticate(&id, &fresh.auth_token).await.member_id,
        reg.member_id
    );
}
