//! No secret (confirm code, password, token, PAN, full card or phone number,
//! e-mail address, password hash) reaches the real `identity` binary's trace
//! log or any message it publishes on NATS, while the public events do arrive,
//! carrying the masked forms, and no private event is published.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use loyalty_proto::identity::v1 as pb;
use notify::Channel::{Email, Sms};
use tests_e2e::harness::{NatsServer, eventually, metrics};
use tests_e2e::identity::{
    DEADLINE, Identity, assert_reason, authed, code_of, masked, other_code, random_card,
    random_phone, register_by_phone,
};
use tests_e2e::identity_flows::{begin, confirm_phone, resend};
use tonic::Code;

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
    "message_failed",
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
    eventually(DEADLINE, "a re-verification code", || async {
        if id.sent_to(Sms, &phone2).len() >= 2 {
            return Some(());
        }
        if let Err(s) = resend(&id, &cont.auth_token).await {
            assert_reason(&s, Code::ResourceExhausted, "RESEND_COOLDOWN");
        }
        None
    })
    .await;
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
    eventually(DEADLINE, "the outbox catches up", || async {
        let body = metrics::scrape(&id.metrics_addr).await.unwrap();
        let head = metrics::value(&body, "loyalty_eventlog_head_position").unwrap_or(0);
        (head > 0 && metrics::value(&body, "loyalty_outbox_checkpoint") == Some(head)).then_some(())
    })
    .await;
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
