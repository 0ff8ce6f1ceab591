//! Template messages to members on the real `identity` binary and a real
//! nats-server: the seed-002 card-charge e-mail requested on
//! `loyalty.purchases.message_requested` (naming the member only by card)
//! is rendered with the member's questionnaire names and sent once, however
//! often the request is repeated on NATS or over gRPC, also after a
//! restart; requests that cannot
//! be sent are recorded as `MessageFailed` once and acknowledged, malformed
//! ones are dead-lettered; templates are checked when defined and are not
//! for members. The local notify sink is where the e-mails are read.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashMap;

use loyalty_proto::identity::v1 as pb;
use tests_e2e::harness::NatsServer;
use tests_e2e::identity::{Identity, assert_reason, authed, random_phone, violations};
use tests_e2e::identity_flows::begin_and_confirm;
use tests_e2e::identity_messaging::{
    CHARGE_TEMPLATE_ID, DLQ, FAILED, REQUESTS, SENT, charge_template, count_on, define, event_for,
    first_on, jetstream, publish, register_with_email, request_json, send, template_mails,
    wait_handled, wait_outbox, wait_template_mails,
};
use tonic::Code;

/// The values a purchases service gives for a 20 EUR card charge; the
/// member's names and card number are left to identity.
fn charge_values() -> HashMap<String, String> {
    [
        ("salutation", "Sehr geehrte Frau"),
        ("title", "Dr."),
        ("amount", "20,00"),
        ("article_description", "Kartenaufladung 20 EUR"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn by_card(request_id: &str, card: &str, template_id: &str) -> pb::MessageRequested {
    pb::MessageRequested {
        request_id: request_id.to_owned(),
        member_id: String::new(),
        card_number: card.to_owned(),
        channel: pb::Channel::Email as i32,
        template_id: template_id.to_owned(),
        values: charge_values(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_charge_request_sends_one_e_mail_however_often_it_is_repeated() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &["--nats-url", &nats.url()], &[]).await;
    let js = jetstream(&nats).await;
    let m = register_with_email(&id, "Anna", "Schmidt", "anna.schmidt@example.de").await;
    let defined = define(&id, charge_template()).await;
    assert!(defined.changed, "{defined:?}");
    assert_eq!(
        defined.placeholders,
        [
            "amount",
            "article_description",
            "cardnumber",
            "forename",
            "salutation",
            "surname",
            "title"
        ]
    );

    // The request names the member only by card, in canonical proto3 JSON.
    let request = by_card(
        &format!("charge-{}", uuid::Uuid::new_v4()),
        &m.card,
        CHARGE_TEMPLATE_ID,
    );
    let json: serde_json::Value = serde_json::from_slice(&request_json(&request)).unwrap();
    assert_eq!(json["cardNumber"], m.card.as_str(), "{json}");
    assert_eq!(json["templateId"], CHARGE_TEMPLATE_ID, "{json}");
    assert_eq!(json["channel"], "CHANNEL_EMAIL", "{json}");
    assert!(json.get("memberId").is_none(), "{json}");
    assert!(json["values"].get("forename").is_none(), "{json}");
    let first = publish(&js, REQUESTS, "purchases-charge-1", request_json(&request)).await;

    // One e-mail to the member's confirmed address, filled from the request
    // and the member's questionnaire answers.
    let mails = wait_template_mails(&id, &m.email, 1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.channel, notify::Channel::Email);
    assert_eq!(mail.id, request.request_id);
    assert_eq!(mail.purpose, format!("template/{CHARGE_TEMPLATE_ID}"));
    assert_eq!(mail.subject.as_deref(), Some("Kartenaufladung 20,00 EUR"));
    assert_eq!(
        mail.body,
        format!(
            "Sehr geehrte Frau Dr. Anna Schmidt,\nIhre Karte {} wurde mit 20,00 EUR \
             aufgeladen (Kartenaufladung 20 EUR).\n",
            m.card
        )
    );

    // MessageSent on NATS: camelCase JSON, the recipient masked.
    let event = event_for(&js, SENT, &request.request_id).await;
    assert_eq!(event["memberId"], m.member_id.as_str(), "{event}");
    assert_eq!(event["templateId"], CHARGE_TEMPLATE_ID, "{event}");
    assert_eq!(event["channel"], "CHANNEL_EMAIL", "{event}");
    assert_eq!(event["recipientMasked"], "a***@example.de", "{event}");
    assert!(event["sentAt"].is_string(), "{event}");
    let raw = event.to_string();
    assert!(
        !raw.contains(&m.email) && !raw.contains("schmidt@"),
        "{raw}"
    );
    assert!(!raw.contains(&m.card), "no full card number: {raw}");
    let sent: pb::MessageSent = serde_json::from_value(event).expect("a MessageSent");
    wait_handled(&js, first).await;

    // The same request again (a new NATS message id), then over gRPC: the
    // recorded outcome answers, nothing is sent again.
    let again = publish(&js, REQUESTS, "purchases-charge-2", request_json(&request)).await;
    wait_handled(&js, again).await;
    let via_grpc = send(&id, &request).await.expect("SendMessage");
    assert_eq!(via_grpc, sent);
    assert_eq!(template_mails(&id, &m.email).len(), 1);
    wait_outbox(&id).await;
    assert_eq!(count_on(&js, SENT).await, 1, "one MessageSent");
    assert_eq!(count_on(&js, FAILED).await, 0);
    assert_eq!(count_on(&js, DLQ).await, 0);
    assert_eq!(
        template_mails(&id, &m.email).len(),
        1,
        "still exactly one e-mail"
    );

    // The outcome is durable: after a restart the request still answers
    // with the same MessageSent and sends nothing.
    assert!(id.process.terminate().await.unwrap().success());
    id.process.restart().await.expect("identity restarts");
    let again = publish(&js, REQUESTS, "purchases-charge-3", request_json(&request)).await;
    wait_handled(&js, again).await;
    assert_eq!(send(&id, &request).await.expect("SendMessage"), sent);
    assert_eq!(template_mails(&id, &m.email).len(), 1);

    // The same request id with other content is a sender's bug: refused,
    // nothing sent.
    let mut other = request.clone();
    other.values.insert("amount".into(), "99,00".into());
    let reused = send(&id, &other).await.unwrap_err();
    assert_reason(&reused, Code::AlreadyExists, "REQUEST_ID_REUSED");
    assert_eq!(template_mails(&id, &m.email).len(), 1);
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_recorded_once_and_malformed_ones_dead_lettered() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &["--nats-url", &nats.url()], &[]).await;
    let js = jetstream(&nats).await;
    let m = register_with_email(&id, "Boris", "Weber", "boris.weber@example.com").await;
    let (phone_only, _) = begin_and_confirm(&id, &random_phone()).await;
    define(&id, charge_template()).await;
    let voucher = pb::MessageTemplate {
        template_id: "ETP_VOUCHER".into(),
        channel: pb::Channel::Email as i32,
        subject: "Ihr Gutschein".into(),
        body: "{{forename}}, Ihr Gutschein: {{voucher_code}}".into(),
    };
    define(&id, voucher).await;

    // An undefined template: MessageFailed(UNKNOWN_TEMPLATE), acknowledged.
    let unknown = by_card("unknown-template-1", &m.card, "ETP_LATE");
    let seq = publish(&js, REQUESTS, "req-unknown-1", request_json(&unknown)).await;
    let failed = event_for(&js, FAILED, "unknown-template-1").await;
    assert_eq!(failed["reason"], "UNKNOWN_TEMPLATE", "{failed}");
    assert_eq!(failed["memberId"], m.member_id.as_str(), "{failed}");
    assert_eq!(failed["templateId"], "ETP_LATE", "{failed}");
    assert!(
        failed["detail"].as_str().unwrap().contains("ETP_LATE"),
        "{failed}"
    );
    wait_handled(&js, seq).await;
    // Recorded for good: defining the template later sends nothing for it.
    define(
        &id,
        pb::MessageTemplate {
            template_id: "ETP_LATE".into(),
            ..charge_template()
        },
    )
    .await;
    let seq = publish(&js, REQUESTS, "req-unknown-2", request_json(&unknown)).await;
    wait_handled(&js, seq).await;
    let s = send(&id, &unknown).await.unwrap_err();
    assert_reason(&s, Code::FailedPrecondition, "UNKNOWN_TEMPLATE");

    // No confirmed e-mail: FAILED_PRECONDITION / NO_RECIPIENT, also recorded.
    let no_mail = pb::MessageRequested {
        member_id: phone_only.clone(),
        card_number: String::new(),
        ..by_card("no-recipient-1", "", CHARGE_TEMPLATE_ID)
    };
    let s = send(&id, &no_mail).await.unwrap_err();
    assert_reason(&s, Code::FailedPrecondition, "NO_RECIPIENT");
    let failed = event_for(&js, FAILED, "no-recipient-1").await;
    assert_eq!(failed["reason"], "NO_RECIPIENT", "{failed}");
    assert_eq!(failed["memberId"], phone_only.as_str(), "{failed}");
    assert_eq!(failed["channel"], "CHANNEL_EMAIL", "{failed}");
    let s = send(&id, &no_mail).await.unwrap_err();
    assert_reason(&s, Code::FailedPrecondition, "NO_RECIPIENT");

    // A placeholder nobody gives a value for: MISSING_VALUES.
    let missing = by_card("missing-values-1", &m.card, "ETP_VOUCHER");
    let seq = publish(&js, REQUESTS, "req-missing-1", request_json(&missing)).await;
    let failed = event_for(&js, FAILED, "missing-values-1").await;
    assert_eq!(failed["reason"], "MISSING_VALUES", "{failed}");
    assert!(
        failed["detail"].as_str().unwrap().contains("voucher_code"),
        "{failed}"
    );
    wait_handled(&js, seq).await;
    let s = send(&id, &missing).await.unwrap_err();
    assert_reason(&s, Code::FailedPrecondition, "MISSING_VALUES");

    // Malformed requests go to the dead-letter subject at once, with the reason.
    let broken = b"{\"requestId\": \"broken-1\", \"cardNumber\": ".to_vec();
    publish(&js, REQUESTS, "req-malformed-1", broken.clone()).await;
    let bad_id = by_card("a/b", &m.card, CHARGE_TEMPLATE_ID);
    let last = publish(&js, REQUESTS, "req-bad-id-1", request_json(&bad_id)).await;
    let letter = |event_id: &'static str| {
        first_on(&js, DLQ, move |d| {
            d.headers
                .as_ref()
                .and_then(|h| h.get("loyalty-dlq-event-id"))
                .is_some_and(|v| v.as_str() == event_id)
        })
    };
    let dead = letter("req-malformed-1").await;
    let h = dead.headers.clone().expect("headers");
    let reason = h.get("loyalty-dlq-reason").expect("a reason").to_string();
    assert!(reason.contains("not a MessageRequested"), "{reason}");
    assert_eq!(h.get("loyalty-dlq-subject").unwrap().as_str(), REQUESTS);
    assert_eq!(h.get("loyalty-dlq-deliveries").unwrap().as_str(), "1");
    assert_eq!(dead.payload.as_ref(), broken.as_slice());
    let dead = letter("req-bad-id-1").await;
    let h = dead.headers.clone().expect("headers");
    let reason = h.get("loyalty-dlq-reason").expect("a reason").to_string();
    assert!(reason.contains("request_id"), "{reason}");

    // Everything was handled once: no retries, no e-mail, one event per request.
    let info = wait_handled(&js, last).await;
    assert_eq!(info.num_redelivered, 0, "{info:?}");
    assert!(
        id.sent()
            .iter()
            .all(|s| !s.purpose.starts_with("template/")),
        "{:?}",
        id.sent()
    );
    wait_outbox(&id).await;
    assert_eq!(
        count_on(&js, FAILED).await,
        3,
        "one MessageFailed per request"
    );
    assert_eq!(count_on(&js, SENT).await, 0);
    assert_eq!(count_on(&js, DLQ).await, 2);
    assert!(id.process.terminate().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_checked_defined_once_and_not_for_members() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), &[], &[]).await;
    let get = |token: Option<&str>| {
        let mut client = id.messaging();
        let request = pb::GetTemplateRequest {
            template_id: CHARGE_TEMPLATE_ID.into(),
        };
        let request = match token {
            Some(t) => authed(t, request),
            None => tonic::Request::new(request),
        };
        async move { client.get_template(request).await }
    };

    // Unknown until defined; the same definition twice changes nothing.
    assert_eq!(get(None).await.unwrap_err().code(), Code::NotFound);
    let first = define(&id, charge_template()).await;
    assert!(first.changed);
    let second = define(&id, charge_template()).await;
    assert!(!second.changed, "{second:?}");
    assert_eq!(second.placeholders, first.placeholders);
    let stored = get(None).await.expect("GetTemplate").into_inner().template;
    assert_eq!(stored, Some(charge_template()));

    // A body that does not parse is refused and changes nothing.
    let broken = pb::MessageTemplate {
        body: "Hallo {{ unclosed".into(),
        ..charge_template()
    };
    let s = id
        .messaging()
        .define_template(pb::DefineTemplateRequest {
            template: Some(broken),
        })
        .await
        .unwrap_err();
    let v = violations(&s);
    assert!(v.iter().any(|(f, _)| f == "template.body"), "{v:?}");
    assert!(v.iter().all(|(f, _)| f != "template.subject"), "{v:?}");
    let stored = get(None).await.expect("GetTemplate").into_inner().template;
    assert_eq!(stored, Some(charge_template()));

    // Another body replaces the template.
    let changed = pb::MessageTemplate {
        body: "{{forename}}: {{amount}} EUR".into(),
        ..charge_template()
    };
    let third = define(&id, changed.clone()).await;
    assert!(third.changed);
    assert_eq!(
        third.placeholders,
        ["amount", "forename"],
        "the body's and the subject's placeholders"
    );
    let stored = get(None).await.expect("GetTemplate").into_inner().template;
    assert_eq!(stored, Some(changed.clone()));

    // Messaging is for operators and services: a member's token is refused.
    let (_, token) = begin_and_confirm(&id, &random_phone()).await;
    let s = id
        .messaging()
        .define_template(authed(
            &token,
            pb::DefineTemplateRequest {
                template: Some(charge_template()),
            },
        ))
        .await
        .unwrap_err();
    assert_reason(&s, Code::PermissionDenied, "FORBIDDEN");
    let s = get(Some(&token)).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    let s = id
        .messaging()
        .send_message(authed(
            &token,
            pb::SendMessageRequest {
                request: Some(by_card("member-1", "9116000000000001", CHARGE_TEMPLATE_ID)),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    let stored = get(None).await.expect("GetTemplate").into_inner().template;
    assert_eq!(stored, Some(changed), "the member changed nothing");
    assert!(id.process.terminate().await.unwrap().success());
}
