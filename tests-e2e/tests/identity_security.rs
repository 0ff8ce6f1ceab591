//! Security properties of the real `identity` binary: confirm codes lock after
//! five wrong tries, sends are rate limited, one member's token cannot touch
//! another member, and no secret (confirm code, password, token, PAN, full
//! card or phone number, e-mail address) reaches the service's logs or any
//! message it publishes on NATS, while the public events do arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use loyalty_proto::identity::v1 as pb;
use notify::Channel::{Email, Sms};
use tests_e2e::harness::{NatsServer, metrics};
use tests_e2e::identity::{
    DEADLINE, Identity, POLL, assert_reason, assert_unauthenticated, authed, code_of, error_info,
    masked, other_code, random_card, random_phone, register_by_phone, violations,
};
use tonic::Code;

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

async fn resend(id: &Identity, token: &str) -> Result<(), tonic::Status> {
    id.registration()
        .send_phone_confirm_code(authed(token, pb::SendPhoneConfirmCodeRequest {}))
        .await
        .map(|r| assert_eq!(r.into_inner().confirm_code_length, 6))
}

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
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match resend(&id, &b.auth_token).await {
            Ok(()) => break,
            Err(s) => {
                assert_reason(&s, Code::ResourceExhausted, "RESEND_COOLDOWN");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the cooldown never ended"
                );
                tokio::time::sleep(POLL).await;
            }
        }
    }
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

/// The public events' subjects.
const PUBLIC: &[&str] = &[
    "registration_started",
    "step_completed",
    "phone_confirmed",
    "email_confirmed",
    "card_bound",
    "virtual_card_emitted",
    "card_issued",
    "registration_completed",
    "social_account_linked",
    "bank_card_bound",
    "consent_changed",
    "cards_loaded",
    "card_blocked",
    "message_sent",
];

/// The private events (private.proto): never on NATS.
const PRIVATE: &[&str] = &[
    "LoginClaimed",
    "MemberOpened",
    "ContactEntered",
    "ConfirmCodeIssued",
    "ConfirmCodeFailed",
    "ContactConfirmed",
    "PasswordSet",
    "LoginFailed",
    "TokenIssued",
    "TokenRevoked",
    "AnswersSaved",
    "MemberCardAdded",
    "CardCreated",
    "CardAssigned",
    "CardLocked",
    "VirtualNumberAllocated",
    "SocialClaimed",
    "BankCardClaimed",
    "TemplateDefined",
];

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Where `secret` occurs in `text`. A confirm code (6 digits) counts only as a
/// whole number: not inside a longer run of letters or digits, nor as the
/// fraction of a timestamp (`:05.123456`) — a leak would read `: 123456`,
/// `"123456"`, `=123456`.
fn occurrences(text: &str, secret: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let short = secret.len() <= 6;
    text.match_indices(secret)
        .map(|(i, _)| i)
        .filter(|&i| {
            if !short {
                return true;
            }
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + secret.len()).copied();
            !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.')
                && !after.is_some_and(|b| b.is_ascii_alphanumeric())
        })
        .collect()
}

fn assert_no_secret(place: &str, text: &str, secrets: &BTreeMap<String, String>) {
    for (secret, what) in secrets {
        let found = occurrences(text, secret);
        if let Some(&i) = found.first() {
            let mut start = i.saturating_sub(120);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (i + secret.len() + 120).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            panic!(
                "{what} leaked into {place} ({} times), e.g.: …{}…",
                found.len(),
                &text[start..end]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_or_nats() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(
        data.path(),
        &["--nats-url", &nats.url(), "--resend-cooldown-secs", "1"],
        &[("RUST_LOG", "trace"), ("LOYALTY_LOG_FORMAT", "text")],
    )
    .await;
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    let mut tokens = Vec::new();

    // The seed's phone flow, then the profile: e-mail, bank card, consent, social.
    let phone = random_phone();
    let password = "Zx9-very-secret-passphrase";
    let r = register_by_phone(&id, &phone, password).await;
    tokens.extend(r.tokens.iter().cloned());
    let mut reg = id.registration();
    let mut members = id.members();
    let email = "natalia.secret@example.org";
    reg.set_email(authed(
        &r.token,
        pb::SetEmailRequest {
            email: email.into(),
        },
    ))
    .await
    .expect("SetEmail");
    let mail_code = id.code_after(Email, email, 0).await;
    let wrong = reg
        .confirm_email(authed(
            &r.token,
            pb::ConfirmEmailRequest {
                confirm_code: other_code(&[&mail_code]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    reg.confirm_email(authed(
        &r.token,
        pb::ConfirmEmailRequest {
            confirm_code: mail_code,
        },
    ))
    .await
    .expect("ConfirmEmail");
    let pan = "4111111111111111";
    let bound = members
        .bind_bank_card(authed(
            &r.token,
            pb::BindBankCardRequest {
                member_id: String::new(),
                pan: pan.into(),
            },
        ))
        .await
        .expect("BindBankCard")
        .into_inner()
        .card
        .unwrap();
    assert_eq!(bound.last4, "1111");
    members
        .set_consent(authed(
            &r.token,
            pb::SetConsentRequest {
                member_id: String::new(),
                mailing_consent: true,
            },
        ))
        .await
        .expect("SetConsent");
    members
        .link_social_account(authed(
            &r.token,
            pb::LinkSocialAccountRequest {
                member_id: String::new(),
                account: Some(pb::SocialAccount {
                    network: "vk".into(),
                    external_user_id: "vk-4242".into(),
                }),
            },
        ))
        .await
        .expect("LinkSocialAccount");
    // Logins: right and wrong password; a token revoked.
    let login = begin(&id, &phone, password).await;
    assert_eq!(login.state(), pb::BeginRegistrationState::Success);
    tokens.push(login.auth_token.clone());
    let wrong_password = "Zx9-very-secret-passphrasE";
    let refused = id
        .registration()
        .begin_registration(pb::BeginRegistrationRequest {
            login: phone.clone(),
            password: wrong_password.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    id.auth()
        .revoke_token(pb::RevokeTokenRequest {
            token: login.auth_token.clone(),
        })
        .await
        .unwrap();

    // A registration by card, interrupted after the phone (a second member).
    let card = random_card();
    id.load_cards(&[&card]).await;
    let by_card = begin(&id, &card, "").await;
    tokens.push(by_card.auth_token.clone());
    let accepted = reg
        .accept_tender_offer(authed(&by_card.auth_token, pb::AcceptTenderOfferRequest {}))
        .await
        .expect("AcceptTenderOffer")
        .into_inner();
    assert!(!accepted.emitted_virtual_card.is_empty());
    let card_cards = tests_e2e::identity::member_cards(&id, &by_card.auth_token).await;
    let phone2 = random_phone();
    reg.set_phone_number(authed(
        &by_card.auth_token,
        pb::SetPhoneNumberRequest {
            phone_number: phone2.clone(),
        },
    ))
    .await
    .expect("SetPhoneNumber");
    let code2 = id.code_after(Sms, &phone2, 0).await;
    let t = confirm_phone(&id, &by_card.auth_token, &code2)
        .await
        .expect("ConfirmPhoneNumber");
    tokens.push(t.clone());
    // Continued without a password: a phone-only token and a fresh code.
    let cont = begin(&id, &card, "").await;
    tokens.push(cont.auth_token.clone());
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while id.sent_to(Sms, &phone2).len() < 2 {
        match resend(&id, &cont.auth_token).await {
            Ok(()) => {}
            Err(s) => {
                assert_reason(&s, Code::ResourceExhausted, "RESEND_COOLDOWN");
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no re-verification code"
        );
        tokio::time::sleep(POLL).await;
    }
    let code3 = id.code_after(Sms, &phone2, 1).await;
    tokens.push(
        confirm_phone(&id, &cont.auth_token, &code3)
            .await
            .expect("re-verified"),
    );

    // Every secret the flows handled.
    for m in id.sent() {
        secrets.insert(
            code_of(&m.body),
            format!("the confirm code sent to {}", masked(&m.to)),
        );
    }
    assert!(secrets.len() >= 4, "codes were sent: {secrets:?}");
    for t in &tokens {
        assert!(!t.is_empty());
        secrets.insert(t.clone(), "a token".into());
        let (_, secret_part) = t.split_once('.').expect("id.secret");
        secrets.insert(secret_part.to_owned(), "a token's secret part".into());
    }
    secrets.insert(password.into(), "the password".into());
    secrets.insert(wrong_password.into(), "a wrong password".into());
    secrets.insert(pan.into(), "the PAN".into());
    secrets.insert(r.physical_card.clone(), "the physical card number".into());
    secrets.insert(r.virtual_card.clone(), "the virtual card number".into());
    secrets.insert(card.clone(), "the login card number".into());
    for (number, _, _) in &card_cards {
        secrets.insert(number.clone(), "a card number".into());
    }
    secrets.insert(phone.clone(), "the phone number".into());
    secrets.insert(phone2.clone(), "the second phone number".into());
    secrets.insert(email.into(), "the e-mail address".into());
    secrets.insert("$argon2".into(), "a password hash".into());

    // Wait until the outbox has published every event of the log.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let body = metrics::scrape(&id.metrics_addr).await.unwrap();
        let head = metrics::value(&body, "loyalty_eventlog_head_position").unwrap_or(0);
        if head > 0 && metrics::value(&body, "loyalty_outbox_checkpoint") == Some(head) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox did not catch up"
        );
        tokio::time::sleep(POLL).await;
    }
    assert!(id.process.terminate().await.unwrap().success());

    // Every message on the LOYALTY stream: payload and headers.
    let js = jetstream::new(nats.client().await.unwrap());
    let mut stream = js.get_stream("LOYALTY").await.unwrap();
    let total = stream.info().await.unwrap().state.messages;
    assert!(total > 0);
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: "loyalty.identity.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut subjects: BTreeMap<String, usize> = BTreeMap::new();
    let mut payloads: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for _ in 0..total {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("every stored message is delivered")
            .unwrap()
            .unwrap();
        let subject = m.subject.to_string();
        let event = subject
            .strip_prefix("loyalty.identity.")
            .expect("an identity subject");
        assert!(PUBLIC.contains(&event), "unexpected subject {subject}");
        let payload = String::from_utf8_lossy(&m.payload).into_owned();
        assert_no_secret(&format!("the payload of {subject}"), &payload, &secrets);
        let headers = m.headers.clone().expect("headers");
        for (name, values) in headers.iter() {
            for v in values {
                let place = format!("header {name} of {subject}");
                assert_no_secret(&place, v.as_str(), &secrets);
                if name.to_string().eq_ignore_ascii_case("ce-type") {
                    let ty = v.as_str().rsplit('.').next().unwrap_or_default();
                    assert!(!PRIVATE.contains(&ty), "a private event was published: {v}");
                }
            }
        }
        *subjects.entry(event.to_owned()).or_default() += 1;
        payloads
            .entry(event.to_owned())
            .or_default()
            .push(serde_json::from_str(&payload).expect("JSON payload"));
    }
    for private in PRIVATE {
        assert!(
            !subjects.contains_key(&snake(private)),
            "{private} was published"
        );
    }
    let expected: BTreeSet<&str> = [
        "registration_started",
        "step_completed",
        "phone_confirmed",
        "email_confirmed",
        "card_bound",
        "virtual_card_emitted",
        "card_issued",
        "registration_completed",
        "bank_card_bound",
        "consent_changed",
        "cards_loaded",
        "social_account_linked",
    ]
    .into();
    let got: BTreeSet<&str> = subjects.keys().map(String::as_str).collect();
    assert!(
        got.is_superset(&expected),
        "missing public events: {:?}",
        expected.difference(&got)
    );
    // The public events carry the masked forms.
    let phones: Vec<&str> = payloads["phone_confirmed"]
        .iter()
        .filter_map(|e| e["phoneMasked"].as_str())
        .collect();
    assert!(phones.contains(&masked(&phone).as_str()), "{phones:?}");
    assert_eq!(
        payloads["email_confirmed"][0]["emailMasked"],
        "n***@example.org"
    );
    assert_eq!(payloads["bank_card_bound"][0]["last4"], "1111");
    assert_eq!(payloads["registration_completed"].len(), 1);

    // The service's whole log (stdout and stderr, at trace level).
    let log = id.process.read_log();
    assert!(
        log.contains("TRACE") && log.contains("hpack"),
        "the log is at trace level"
    );
    assert!(
        log.contains(&r.member_id) && log.contains(&format!("to={}", masked(&phone))),
        "the log is this run's, with the masked recipient of the codes"
    );
    assert_no_secret("the identity log", &log, &secrets);
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
    let ok = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter(|r| r.is_ok())
        .count();
    assert!(ok >= 1);
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
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while id.sent_to(Sms, &phone).len() < 2 {
        if let Err(s) = resend(&id, &limited).await {
            assert_reason(&s, Code::ResourceExhausted, "RESEND_COOLDOWN");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no re-verification code"
        );
        tokio::time::sleep(POLL).await;
    }
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
