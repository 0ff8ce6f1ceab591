//! Domain values ⇄ `loyalty.identity.v1` messages: the one place that knows
//! both (the event codec in `crate::events` uses the enum mappings too).

use std::collections::{BTreeMap, BTreeSet};

use loyalty_proto::identity::v1 as pb;

use super::check::{Done, Violations};
use crate::app::{CardRange, LoadCards, MessageRequest, RequestedChannel};
use crate::domain::message::{MAX_TEMPLATE_TEXT, valid_template_id};
use crate::error::ApiError;

use crate::domain::model::{
    Answer, CardKind, CardState, Channel, FieldType, LoginKind, MessageTemplate, NodeKind,
    QuestionNode, Step,
};

impl From<Step> for pb::UserActionType {
    fn from(s: Step) -> Self {
        match s {
            Step::AcceptTenderOffer => pb::UserActionType::AcceptTenderOffer,
            Step::ChangePhone => pb::UserActionType::ChangePhone,
            Step::ChangeEmail => pb::UserActionType::ChangeEmail,
            Step::PasswordRequired => pb::UserActionType::PasswordRequired,
            Step::Questions => pb::UserActionType::Questions,
            Step::AssignCard => pb::UserActionType::AssignCard,
        }
    }
}

/// The step of a `UserActionType` (`None`: unspecified).
pub fn step(s: pb::UserActionType) -> Option<Step> {
    match s {
        pb::UserActionType::Unspecified => None,
        pb::UserActionType::AcceptTenderOffer => Some(Step::AcceptTenderOffer),
        pb::UserActionType::ChangePhone => Some(Step::ChangePhone),
        pb::UserActionType::ChangeEmail => Some(Step::ChangeEmail),
        pb::UserActionType::PasswordRequired => Some(Step::PasswordRequired),
        pb::UserActionType::Questions => Some(Step::Questions),
        pb::UserActionType::AssignCard => Some(Step::AssignCard),
    }
}

impl From<Channel> for pb::Channel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Sms => pb::Channel::Sms,
            Channel::Email => pb::Channel::Email,
        }
    }
}

/// The channel of a message's `channel` field (`None`: unspecified or
/// unknown).
pub fn channel(value: i32) -> Option<Channel> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::Sms) => Some(Channel::Sms),
        Ok(pb::Channel::Email) => Some(Channel::Email),
        Ok(pb::Channel::Unspecified) | Err(_) => None,
    }
}

/// The channel a message request's `channel` field asks for: unspecified
/// is the template's, an unknown value matches no template.
pub fn requested_channel(value: i32) -> RequestedChannel {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::Unspecified) => RequestedChannel::Template,
        Ok(pb::Channel::Sms) => RequestedChannel::Only(Channel::Sms),
        Ok(pb::Channel::Email) => RequestedChannel::Only(Channel::Email),
        Err(_) => RequestedChannel::Unknown,
    }
}

/// A `MessageRequested` (from `SendMessage` or NATS) as the use case takes
/// it, with the hash of its content ([`message_hash`]).
pub fn message_request(r: pb::MessageRequested) -> MessageRequest {
    let content_hash = message_hash(&r);
    MessageRequest {
        request_id: r.request_id,
        member_id: r.member_id,
        card_number: r.card_number,
        channel: requested_channel(r.channel),
        template_id: r.template_id,
        values: r.values,
        content_hash,
    }
}

/// The hash of a message request's content: member, card, channel (its
/// number on the wire), template and values, trimmed, in a canonical
/// order. Stored with the request's idempotency key, so it must stay the
/// same byte for byte (a test pins it).
pub fn message_hash(r: &pb::MessageRequested) -> [u8; 32] {
    let values: BTreeMap<&String, &String> = r.values.iter().collect();
    let canonical = serde_json::to_vec(&(
        r.member_id.trim(),
        r.card_number.trim(),
        r.channel,
        r.template_id.trim(),
        values,
    ))
    .unwrap_or_default();
    kit::log::request_hash(&canonical)
}

impl From<LoginKind> for pb::LoginKind {
    fn from(k: LoginKind) -> Self {
        match k {
            LoginKind::Phone => pb::LoginKind::Phone,
            LoginKind::Card => pb::LoginKind::Card,
        }
    }
}

impl From<CardKind> for pb::CardKind {
    fn from(k: CardKind) -> Self {
        match k {
            CardKind::Physical => pb::CardKind::Physical,
            CardKind::Virtual => pb::CardKind::Virtual,
        }
    }
}

impl From<CardState> for pb::CardState {
    fn from(s: CardState) -> Self {
        match s {
            CardState::InStock => pb::CardState::InStock,
            CardState::Bound => pb::CardState::Bound,
            CardState::Blocked => pb::CardState::Blocked,
        }
    }
}

impl From<pb::LoadCardsRequest> for LoadCards {
    fn from(r: pb::LoadCardsRequest) -> Self {
        LoadCards {
            card_numbers: r.card_numbers,
            ranges: (r.ranges.into_iter())
                .map(|r| CardRange {
                    first: r.first,
                    last: r.last,
                })
                .collect(),
        }
    }
}

impl From<pb::Answer> for Answer {
    fn from(a: pb::Answer) -> Self {
        Answer {
            group_id: a.group_id,
            id: a.id,
            value: a.value,
            selected: a.selected,
        }
    }
}

impl From<Answer> for pb::Answer {
    fn from(a: Answer) -> Self {
        pb::Answer {
            group_id: a.group_id,
            id: a.id,
            value: a.value,
            selected: a.selected,
        }
    }
}

impl From<NodeKind> for pb::NodeType {
    fn from(k: NodeKind) -> Self {
        match k {
            NodeKind::Header => pb::NodeType::Header,
            NodeKind::Question => pb::NodeType::Question,
            NodeKind::Answer => pb::NodeType::Answer,
        }
    }
}

impl From<FieldType> for pb::FieldType {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::String => pb::FieldType::String,
            FieldType::Date => pb::FieldType::Date,
            FieldType::Number => pb::FieldType::Number,
            FieldType::Boolean => pb::FieldType::Boolean,
            FieldType::Radio => pb::FieldType::Radio,
            FieldType::Checkbox => pb::FieldType::Checkbox,
        }
    }
}

impl From<QuestionNode> for pb::QuestionNode {
    fn from(n: QuestionNode) -> Self {
        pb::QuestionNode {
            node_type: pb::NodeType::from(n.kind) as i32,
            display_name: n.display_name,
            description: n.description,
            logical_name: n.logical_name,
            value: n.value,
            read_only: n.read_only,
            required: n.required,
            id: n.id,
            group_id: n.group_id,
            selected: n.selected,
            max_length: n.max_length,
            field_type: n
                .field_type
                .map_or(pb::FieldType::Unspecified, pb::FieldType::from)
                as i32,
            children: n.children.into_iter().map(pb::QuestionNode::from).collect(),
        }
    }
}

impl From<MessageTemplate> for pb::MessageTemplate {
    fn from(t: MessageTemplate) -> Self {
        pb::MessageTemplate {
            template_id: t.template_id,
            channel: pb::Channel::from(t.channel) as i32,
            subject: t.subject,
            body: t.body,
        }
    }
}

/// A template to define, checked: the domain template (id trimmed, an SMS
/// template's subject dropped) and the placeholders its texts use; every
/// bad field is named (`template.<field>`).
pub fn template(
    t: Option<pb::MessageTemplate>,
) -> Result<(MessageTemplate, BTreeSet<String>), ApiError> {
    let mut v = Violations::new();
    let Some(t) = t else {
        v.fail("template", "required");
        return v.done(None);
    };
    let template_id = t.template_id.trim().to_owned();
    if !valid_template_id(&template_id) {
        v.fail(
            "template.template_id",
            "1 to 128 letters, digits, '_', '-' or '.'",
        );
    }
    let channel = channel(t.channel);
    if channel.is_none() {
        v.fail("template.channel", "CHANNEL_SMS or CHANNEL_EMAIL");
    }
    let subject = if channel == Some(Channel::Sms) {
        String::new()
    } else {
        if t.subject.trim().is_empty() {
            v.fail("template.subject", "an e-mail template needs a subject");
        }
        t.subject
    };
    let mut placeholders = BTreeSet::new();
    for (field, text) in [("template.subject", &subject), ("template.body", &t.body)] {
        if text.len() > MAX_TEMPLATE_TEXT {
            v.fail(field, format!("at most {MAX_TEMPLATE_TEXT} bytes"));
            continue;
        }
        if let Some(names) = v.check(field, notify::placeholders(text)) {
            placeholders.extend(names);
        }
    }
    if t.body.trim().is_empty() {
        v.fail("template.body", "required");
    }
    let template = channel.map(|channel| MessageTemplate {
        template_id,
        channel,
        subject,
        body: t.body,
    });
    Ok((v.done(template)?, placeholders))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_hash_is_the_one_stored_keys_were_written_with() {
        let hex = |h: [u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let r = pb::MessageRequested {
            request_id: "req-1".into(),
            member_id: " 0190a1b2-0000-7000-8000-000000000001 ".into(),
            card_number: String::new(),
            channel: pb::Channel::Email as i32,
            template_id: " ETP_1".into(),
            values: [
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "ü".to_owned()),
            ]
            .into(),
        };
        assert_eq!(
            hex(message_hash(&r)),
            "9d3cff19fba74651c0a56518c2dce5928587f4d40d973a16a7d065e3a849bb5a"
        );
        let by_card = pb::MessageRequested {
            member_id: String::new(),
            card_number: "5000000000000076".into(),
            channel: 7,
            values: Default::default(),
            ..r.clone()
        };
        assert_eq!(
            hex(message_hash(&by_card)),
            "a5b43f654cdda65d3baabbaa8563c7abfabf1e2b9f7f80af5b04052b3b8c24cf"
        );
        let request = message_request(r.clone());
        assert_eq!(request.content_hash, message_hash(&r));
        assert_eq!(request.channel, RequestedChannel::Only(Channel::Email));
        assert_eq!(message_request(by_card).channel, RequestedChannel::Unknown);
    }

    #[test]
    fn a_template_is_checked_field_by_field_and_comes_out_typed() {
        let Err(ApiError::Invalid(violations)) = template(Some(pb::MessageTemplate {
            template_id: "a/b".into(),
            channel: 0,
            subject: String::new(),
            body: " ".into(),
        })) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "template.template_id",
                "template.channel",
                "template.subject",
                "template.body"
            ]
        );
        let (t, placeholders) = template(Some(pb::MessageTemplate {
            template_id: " ETP_1 ".into(),
            channel: pb::Channel::Sms as i32,
            subject: "dropped".into(),
            body: "Hello {{forename}}".into(),
        }))
        .unwrap();
        assert_eq!((t.template_id.as_str(), t.channel), ("ETP_1", Channel::Sms));
        assert!(t.subject.is_empty());
        assert_eq!(placeholders.into_iter().collect::<Vec<_>>(), ["forename"]);
    }
}
