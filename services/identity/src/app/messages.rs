//! Messages to members from operator templates: defining templates, and
//! sending a requested message (from `SendMessage` or a `MessageRequested`
//! on NATS) once per `request_id`.
//!
//! The member's own data fills placeholders the request leaves out:
//! `forename` and `surname` from the questionnaire (`FirstName`,
//! `LastName`), `cardnumber` from the request's card or the member's first
//! card; `salutation` and `title` default to empty. Delivery is at least
//! once towards the provider: a crash between the provider's acceptance and
//! the `MessageSent` record sends again on redelivery, with the same message
//! id (`request_id`) so providers that de-duplicate by id can.

use std::collections::BTreeMap;

use super::*;
use crate::domain::message::{
    Define, FailReason, Record, message_stream, template_stream, valid_request_id,
    valid_template_id,
};
use crate::domain::model::MessageTemplate;
use crate::domain::values::mask_tail;

/// The channel a message request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedChannel {
    /// None named: the template's channel.
    Template,
    /// This channel: a template of the other one is a mismatch.
    Only(Channel),
    /// A channel this version does not know: no template matches it.
    Unknown,
}

impl RequestedChannel {
    /// The channel named, if known.
    fn named(self) -> Option<Channel> {
        match self {
            RequestedChannel::Only(c) => Some(c),
            RequestedChannel::Template | RequestedChannel::Unknown => None,
        }
    }

    /// Whether a template of `channel` serves the request.
    fn allows(self, channel: Channel) -> bool {
        match self {
            RequestedChannel::Template => true,
            RequestedChannel::Only(c) => c == channel,
            RequestedChannel::Unknown => false,
        }
    }
}

/// A request to send a member a message from a template (`SendMessage`, or
/// a `MessageRequested` on NATS), its fields as given: they are checked
/// by [`Identity::send_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRequest {
    /// The sender's id of the request: one message per id.
    pub request_id: String,
    /// The member, by id (or else by `card_number`).
    pub member_id: String,
    /// A card of the member: names the member when `member_id` is empty,
    /// and fills the `cardnumber` placeholder.
    pub card_number: String,
    /// The channel asked for.
    pub channel: RequestedChannel,
    /// The template.
    pub template_id: String,
    /// Placeholder values over the member's own data.
    pub values: std::collections::HashMap<String, String>,
    /// The hash of the request's content, stored with its idempotency key:
    /// the same id with another hash is a reused id. The edge computes it
    /// from the message as received (see
    /// [`crate::grpc::convert::message_request`]); it must never change
    /// for the same content, or stored keys would no longer match.
    pub content_hash: [u8; 32],
}

/// Removes a request id from the in-flight set when dropped.
struct Sending<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    id: String,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.id);
        }
    }
}

/// The placeholder values: the member's data, then the request's values
/// over them.
fn values_for(
    member: &Member,
    card_number: &str,
    given: &std::collections::HashMap<String, String>,
) -> BTreeMap<String, String> {
    let profile = |key: &str| member.profile.get(key).cloned().unwrap_or_default();
    let card = if let Ok(card) = CardNumber::parse(card_number) {
        card.as_str().to_owned()
    } else {
        member
            .cards
            .iter()
            .find(|(_, kind)| *kind == CardKind::Physical)
            .or(member.cards.first())
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    };
    let mut values = BTreeMap::from([
        ("salutation".to_owned(), String::new()),
        ("title".to_owned(), String::new()),
        ("forename".to_owned(), profile("FirstName")),
        ("surname".to_owned(), profile("LastName")),
        ("cardnumber".to_owned(), card),
    ]);
    values.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    values
}

impl Identity {
    /// `DefineTemplate`: records a checked template (see
    /// [`crate::grpc::convert::template`]); whether it changed anything.
    pub async fn define_template(&self, t: MessageTemplate) -> Result<bool, ApiError> {
        let stream = template_stream(&t.template_id);
        let executed = self.run(&self.templates, &stream, &Define(t)).await?;
        Ok(!events_of(&executed).is_empty())
    }

    /// `GetTemplate`.
    pub fn template(&self, id: &str) -> Result<MessageTemplate, ApiError> {
        if !valid_template_id(id.trim()) {
            return Err(violation("template_id", "not a template id"));
        }
        let (t, _) = self.templates.load(&template_stream(id.trim()))?;
        t.definition.ok_or(ApiError::NotFound("template"))
    }

    /// Sends the requested message once per `request_id`: a repeated
    /// request is answered from the recorded outcome.
    pub async fn send_message(&self, r: &MessageRequest) -> Result<ev::MessageSent, ApiError> {
        if !valid_request_id(&r.request_id) {
            return Err(violation(
                "request_id",
                "1 to 128 printable characters without '/'",
            ));
        }
        if !valid_template_id(&r.template_id) {
            return Err(violation("template_id", "not a template id"));
        }
        if r.member_id.trim().is_empty() && r.card_number.trim().is_empty() {
            return Err(violation(
                "member_id",
                "a member id or a card number is required",
            ));
        }
        // The same id with other content is a sender's bug, not a repeat.
        let (key, hash) = idempotency(r);
        match self.outcomes.log().check_idempotency(&key, &hash).await {
            Ok(_) => {}
            Err(kit::log::LogError::IdempotencyConflict { .. }) => {
                return Err(ApiError::RequestReused);
            }
            Err(e) => return Err(ApiError::Storage(e)),
        }
        let stream = message_stream(&r.request_id);
        let (outcome, _) = self.outcomes.load(&stream)?;
        if let Some(answer) = Self::recorded(outcome) {
            return answer;
        }
        let _sending = {
            let mut set = self
                .sending
                .lock()
                .map_err(|_| anyhow::anyhow!("in-flight set poisoned"))?;
            if !set.insert(r.request_id.clone()) {
                return Err(ApiError::Busy);
            }
            Sending {
                set: &self.sending,
                id: r.request_id.clone(),
            }
        };
        // Checked again inside the guard: a duplicate may have just finished.
        let (outcome, _) = self.outcomes.load(&stream)?;
        if let Some(answer) = Self::recorded(outcome) {
            return answer;
        }
        self.deliver_requested(r).await
    }

    /// Records the outcome of `r` under its idempotency key.
    async fn record(&self, r: &MessageRequest, outcome: Record) -> Result<(), ApiError> {
        let (key, request_hash) = idempotency(r);
        let idem = kit::aggregate::Idempotency { key, request_hash };
        let stream = message_stream(&r.request_id);
        self.outcomes
            .execute(&stream, &outcome, Some(idem), metadata(), |_, _| Vec::new())
            .await
            .map_err(|e| {
                use kit::aggregate::RepositoryError as E;
                match e {
                    E::Log(kit::log::LogError::IdempotencyConflict { .. }) => {
                        ApiError::RequestReused
                    }
                    e @ (E::Domain(_)
                    | E::Log(_)
                    | E::Decode { .. }
                    | E::TooManyConflicts { .. }) => e.into(),
                }
            })?;
        Ok(())
    }

    /// The answer a recorded outcome gives.
    fn recorded(outcome: Outcome) -> Option<Result<ev::MessageSent, ApiError>> {
        if let Some(sent) = outcome.sent {
            return Some(Ok(sent));
        }
        outcome.failed.map(|f| {
            Err(ApiError::MessageFailed {
                reason: FailReason::parse(&f.reason),
                detail: f.detail,
            })
        })
    }

    async fn deliver_requested(&self, r: &MessageRequest) -> Result<ev::MessageSent, ApiError> {
        let requested = r.channel.named();
        let member_id = match self.message_member(r)? {
            Some(id) => id,
            None => {
                let detail = "no member with that id or card".to_owned();
                return Err(self
                    .record_failure(r, "", requested, FailReason::UnknownMember, detail)
                    .await);
            }
        };
        let member = self.member(&member_id)?;
        let Some(template) = self
            .templates
            .load(&template_stream(&r.template_id))?
            .0
            .definition
        else {
            let detail = format!("template {} is not defined", r.template_id);
            return Err(self
                .record_failure(
                    r,
                    &member_id,
                    requested,
                    FailReason::UnknownTemplate,
                    detail,
                )
                .await);
        };
        let channel = template.channel;
        if !r.channel.allows(channel) {
            let detail = format!("template {} is {}", r.template_id, channel.name());
            return Err(self
                .record_failure(
                    r,
                    &member_id,
                    requested,
                    FailReason::ChannelMismatch,
                    detail,
                )
                .await);
        }
        let to = match channel {
            Channel::Email => member.email.confirmed.clone(),
            Channel::Sms => member.phone.confirmed.clone(),
        };
        let Some(to) = to else {
            let detail = format!("the member has no confirmed {}", channel.name());
            return Err(self
                .record_failure(
                    r,
                    &member_id,
                    Some(channel),
                    FailReason::NoRecipient,
                    detail,
                )
                .await);
        };
        let values = values_for(&member, r.card_number.trim(), &r.values);
        let rendered = notify::render(&template.body, &values)
            .and_then(|body| Ok((notify::render(&template.subject, &values)?, body)));
        let (subject, body) = match rendered {
            Ok(x) => x,
            Err(e) => {
                let reason = FailReason::MissingValues;
                return Err(self
                    .record_failure(r, &member_id, Some(channel), reason, e.to_string())
                    .await);
            }
        };
        let purpose = format!("template/{}", r.template_id);
        let message = if channel == Channel::Email {
            notify::Message::email(&r.request_id, &to, subject, body, purpose)
        } else {
            notify::Message::sms(&r.request_id, &to, body, purpose)
        };
        let masked = notify::mask_recipient(&to);
        match self.notifier.send(&message).await {
            Ok(()) => {}
            Err(notify::NotifyError::Temporary { reason }) => {
                let reason = scrub(&reason);
                tracing::warn!(request_id = %r.request_id, %reason, "message not delivered; will retry");
                return Err(ApiError::Delivery);
            }
            Err(notify::NotifyError::Permanent { reason }) => {
                // Providers' replies often quote the address: the event and
                // the answer get a fixed text, the log a scrubbed one.
                let reason = scrub(&reason);
                tracing::warn!(request_id = %r.request_id, %reason, "the provider refused the message");
                let reason = "the provider refused the message for good".to_owned();
                let why = FailReason::Undeliverable;
                return Err(self
                    .record_failure(r, &member_id, Some(channel), why, reason)
                    .await);
            }
        }
        let sent = ev::MessageSent {
            request_id: r.request_id.clone(),
            member_id: member_id.clone(),
            channel,
            template_id: r.template_id.clone(),
            recipient_masked: masked,
            sent_at: self.now(),
        };
        self.record(r, Record::Sent(sent.clone())).await?;
        tracing::info!(request_id = %r.request_id, %member_id, template_id = %r.template_id, "message sent");
        Ok(sent)
    }

    /// The member a request names: by id, else by card.
    fn message_member(&self, r: &MessageRequest) -> Result<Option<String>, ApiError> {
        let id = r.member_id.trim();
        if !id.is_empty() {
            return match self.member(id) {
                Ok(m) => Ok(Some(m.id)),
                Err(ApiError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            };
        }
        Ok(CardNumber::parse(&r.card_number)
            .ok()
            .map(|c| self.cards.load(&card_stream(c.as_str())))
            .transpose()?
            .and_then(|(c, _)| c.member_id))
    }

    /// Records a final failure; returns the error to answer with.
    async fn record_failure(
        &self,
        r: &MessageRequest,
        member_id: &str,
        channel: Option<Channel>,
        reason: FailReason,
        detail: String,
    ) -> ApiError {
        let failed = ev::MessageFailed {
            request_id: r.request_id.clone(),
            member_id: member_id.to_owned(),
            channel,
            template_id: r.template_id.clone(),
            reason: reason.as_str().to_owned(),
            detail: detail.clone(),
            failed_at: self.now(),
        };
        if let Err(e) = self.record(r, Record::Failed(failed)).await {
            return e;
        }
        tracing::warn!(request_id = %r.request_id, %member_id, reason = reason.as_str(), %detail, "message not sent");
        ApiError::MessageFailed { reason, detail }
    }
}

/// The idempotency key of a request and the hash of its content.
fn idempotency(r: &MessageRequest) -> (String, [u8; 32]) {
    (format!("message/{}", r.request_id), r.content_hash)
}

/// A provider's error text with anything that looks like an address masked:
/// words holding `@` keep only their domain, runs of 7+ digits their last 4.
pub fn scrub(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if let Some((_, domain)) = word.rsplit_once('@') {
                format!("***@{}", domain.trim_end_matches(['>', ':', ',', ';', ')']))
            } else if word.chars().filter(char::is_ascii_digit).count() >= 7 {
                mask_tail(word.trim_matches(|c: char| !c.is_ascii_digit()))
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_texts_lose_their_addresses() {
        let smtp = "smtp: 550 5.1.1 <john.doe@example.com>: Recipient address rejected";
        let s = scrub(smtp);
        assert!(!s.contains("john.doe"), "{s}");
        assert!(s.contains("***@example.com"), "{s}");
        let sms = scrub("http 400: invalid number +79161234567");
        assert!(!sms.contains("7916123"), "{sms}");
        assert!(sms.contains("4567"), "{sms}");
        assert_eq!(scrub("http 503 busy"), "http 503 busy");
    }
}
