//! Messages to members through the real `identity` binary, shared by the
//! messaging tests: the seed-002 card-charge template, a member registered
//! by phone with names of the test's choosing and a confirmed e-mail, and
//! JetStream helpers: publishing a `MessageRequested` as canonical proto3
//! JSON, waiting until identity's durable consumer has handled it, reading
//! what identity published on a subject, and counting a subject's messages.
//! Every wait polls an observable outcome under [`DEADLINE`].

use crate::harness::eventually;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use loyalty_proto::identity::v1 as pb;
use notify::Channel::Email;
use tokio::time::Instant;

use crate::harness::{NatsServer, metrics};
use crate::identity::{
    DEADLINE, Identity, answers_for, authed, random_card, random_phone, required_questions,
};
use crate::identity_flows::{begin_and_confirm, set_password};

/// The card-charge template's id (seed 002).
pub const CHARGE_TEMPLATE_ID: &str = "ETP_6RYLPEWO8O2UPZV83C095P7IQ4GAL1";
/// Where the purchases service asks for messages.
pub const REQUESTS: &str = "loyalty.purchases.message_requested";
/// identity's durable consumer of message requests.
pub const CONSUMER: &str = "identity-messages";
/// Its dead-letter subject.
pub const DLQ: &str = "loyalty.dlq.identity-messages";
/// `MessageSent` events.
pub const SENT: &str = "loyalty.identity.message_sent";
/// `MessageFailed` events.
pub const FAILED: &str = "loyalty.identity.message_failed";
/// The CloudEvents type of a request.
pub const REQUEST_TYPE: &str = "loyalty.identity.v1.MessageRequested";

/// The seed-002 card-charge e-mail.
pub fn charge_template() -> pb::MessageTemplate {
    pb::MessageTemplate {
        template_id: CHARGE_TEMPLATE_ID.into(),
        channel: pb::Channel::Email as i32,
        subject: "Kartenaufladung {{amount}} EUR".into(),
        body: "{{salutation}} {{title}} {{forename}} {{surname}},\n\
               Ihre Karte {{cardnumber}} wurde mit {{amount}} EUR aufgeladen \
               ({{article_description}}).\n"
            .into(),
    }
}

/// DefineTemplate without a token; expects success.
pub async fn define(id: &Identity, template: pb::MessageTemplate) -> pb::DefineTemplateResponse {
    id.messaging()
        .define_template(pb::DefineTemplateRequest {
            template: Some(template),
        })
        .await
        .expect("DefineTemplate")
        .into_inner()
}

/// SendMessage without a token: the message as sent, or the refusal.
pub async fn send(
    id: &Identity,
    r: &pb::MessageRequested,
) -> Result<pb::MessageSent, tonic::Status> {
    id.messaging()
        .send_message(pb::SendMessageRequest {
            request: Some(r.clone()),
        })
        .await
        .map(|a| a.into_inner().sent.expect("a sent message"))
}

/// A registered member with a confirmed e-mail address.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member.
    pub member_id: String,
    /// The confirmed phone number.
    pub phone: String,
    /// The confirmed e-mail address.
    pub email: String,
    /// The physical card bound with Cards/Set.
    pub card: String,
    /// The token after TryFinishRegistration.
    pub token: String,
}

/// Registers by phone (seed flags) answering FirstName/LastName with
/// `forename`/`surname`, confirms `email`, binds a stocked physical card and
/// finishes the registration.
pub async fn register_with_email(
    id: &Identity,
    forename: &str,
    surname: &str,
    email: &str,
) -> Member {
    let phone = random_phone();
    let (member_id, t1) = begin_and_confirm(id, &phone).await;
    let token = set_password(id, &t1, "charge-me-2026").await;
    let mut reg = id.registration();
    let questions = required_questions(id, &token).await;
    let mut answers = answers_for(&questions, "1980-02-29");
    for a in answers.iter_mut().filter(|a| !a.selected) {
        match a.id {
            2 => a.value = surname.to_owned(),
            3 => a.value = forename.to_owned(),
            _ => {}
        }
    }
    reg.set_answers(authed(&token, pb::SetAnswersRequest { answers }))
        .await
        .expect("SetAnswers");
    reg.set_email(authed(
        &token,
        pb::SetEmailRequest {
            email: email.to_owned(),
        },
    ))
    .await
    .expect("SetEmail");
    let code = id.code_after(Email, email, 0).await;
    reg.confirm_email(authed(
        &token,
        pb::ConfirmEmailRequest { confirm_code: code },
    ))
    .await
    .expect("ConfirmEmail");
    let card = random_card();
    id.load_cards(&[&card]).await;
    reg.set_card(authed(
        &token,
        pb::SetCardRequest {
            card_number: card.clone(),
        },
    ))
    .await
    .expect("SetCard");
    let fin = reg
        .try_finish_registration(authed(&token, pb::TryFinishRegistrationRequest {}))
        .await
        .expect("TryFinishRegistration")
        .into_inner();
    assert!(fin.registration_completed, "{fin:?}");
    Member {
        member_id,
        phone,
        email: email.to_owned(),
        card,
        token: fin.auth_token,
    }
}

/// The template messages (not confirm codes) the service sent to `to`.
pub fn template_mails(id: &Identity, to: &str) -> Vec<notify::SentMessage> {
    id.sent_to(Email, to)
        .into_iter()
        .filter(|m| m.purpose.starts_with("template/"))
        .collect()
}

/// Waits until at least `n` template messages were sent to `to`; returns them.
pub async fn wait_template_mails(id: &Identity, to: &str, n: usize) -> Vec<notify::SentMessage> {
    eventually(
        DEADLINE,
        &format!("{n} template e-mail(s) sent to {to}"),
        || async {
            let mails = template_mails(id, to);
            (mails.len() >= n).then_some(mails)
        },
    )
    .await
}

/// A JetStream context on `nats` with the `LOYALTY` stream in place (the
/// duplicate window identity would create it with).
pub async fn jetstream(nats: &NatsServer) -> jetstream::Context {
    let js = jetstream::new(nats.client().await.expect("a NATS client"));
    kit::outbox::ensure_stream(&js, Duration::from_secs(600))
        .await
        .expect("the LOYALTY stream");
    js
}

/// `r` as canonical proto3 JSON (camelCase, the pbjson serde).
pub fn request_json(r: &pb::MessageRequested) -> Vec<u8> {
    serde_json::to_vec(r).expect("a MessageRequested serialises")
}

/// Publishes `payload` on `subject` with `Nats-Msg-Id` and `ce-id` =
/// `msg_id` (a new id is stored again); returns its stream sequence.
pub async fn publish(
    js: &jetstream::Context,
    subject: &str,
    msg_id: &str,
    payload: Vec<u8>,
) -> u64 {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", msg_id);
    h.insert("ce-specversion", "1.0");
    h.insert("ce-id", msg_id);
    h.insert("ce-type", REQUEST_TYPE);
    h.insert("ce-source", "/loyalty/purchases");
    h.insert("content-type", "application/json");
    let ack = js
        .publish_with_headers(subject.to_owned(), h, payload.into())
        .await
        .expect("publish")
        .await
        .expect("JetStream stores the message");
    assert!(!ack.duplicate, "{msg_id} was stored before");
    ack.sequence
}

/// Waits until identity's consumer has acknowledged (or dead-lettered)
/// every message up to stream sequence `sequence`; returns its info.
pub async fn wait_handled(js: &jetstream::Context, sequence: u64) -> jetstream::consumer::Info {
    crate::harness::stream::wait_handled(js, CONSUMER, sequence).await;
    let stream = js.get_stream("LOYALTY").await.expect("LOYALTY stream");
    stream.consumer_info(CONSUMER).await.expect("consumer info")
}

/// The first message on `subject` (from the start of the stream) for which
/// `pick` holds; fails after [`DEADLINE`].
pub async fn first_on(
    js: &jetstream::Context,
    subject: &str,
    pick: impl Fn(&jetstream::Message) -> bool,
) -> jetstream::Message {
    let consumer = js
        .get_stream("LOYALTY")
        .await
        .expect("LOYALTY stream")
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, messages.next())
            .await
            .unwrap_or_else(|_| panic!("no matching message on {subject} within {DEADLINE:?}"))
            .expect("the message stream goes on")
            .expect("a message");
        if pick(&m) {
            return m;
        }
    }
}

/// The first JSON event on `subject` whose `requestId` is `request_id`.
pub async fn event_for(
    js: &jetstream::Context,
    subject: &str,
    request_id: &str,
) -> serde_json::Value {
    let m = first_on(js, subject, |m| {
        serde_json::from_slice::<serde_json::Value>(&m.payload)
            .is_ok_and(|v| v["requestId"] == request_id)
    })
    .await;
    serde_json::from_slice(&m.payload).expect("JSON")
}

/// How many messages the stream holds on `subject` now.
pub async fn count_on(js: &jetstream::Context, subject: &str) -> u64 {
    let mut consumer = js
        .get_stream("LOYALTY")
        .await
        .expect("LOYALTY stream")
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: subject.to_owned(),
            ..Default::default()
        })
        .await
        .expect("an ephemeral consumer");
    consumer.info().await.expect("consumer info").num_pending
}

/// Waits until identity's outbox has published every event of its log.
pub async fn wait_outbox(id: &Identity) {
    eventually(DEADLINE, "the outbox catches up with the log", || async {
        let body = metrics::scrape(&id.metrics_addr).await.expect("/metrics");
        let head = metrics::value(&body, "loyalty_eventlog_head_position").unwrap_or(0);
        (head > 0 && metrics::value(&body, "loyalty_outbox_checkpoint") == Some(head)).then_some(())
    })
    .await
}
