//! Domain values ⇄ `loyalty.identity.v1` messages: the one place that knows
//! both (the event codec in `crate::events` uses the enum mappings too).

use loyalty_proto::identity::v1 as pb;

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
