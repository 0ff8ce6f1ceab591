//! The identity domain's own vocabulary: registration steps, channels,
//! kinds and states of logins and cards, questionnaire answers and nodes,
//! message templates. Plain Rust: the gRPC edge (`crate::grpc::convert`)
//! and the event codec (`crate::events`) translate them to and from the
//! `loyalty.identity.v1` messages.

/// A registration step (the seed's `UserActionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Accept the offer (`AcceptTenderOffer`).
    AcceptTenderOffer,
    /// Enter and confirm a phone number.
    ChangePhone,
    /// Enter and confirm an e-mail address.
    ChangeEmail,
    /// Set a password.
    PasswordRequired,
    /// Answer the questionnaire.
    Questions,
    /// Bind a card.
    AssignCard,
}

impl Step {
    /// Every step, in registration order.
    pub const ALL: [Step; 6] = [
        Step::AcceptTenderOffer,
        Step::ChangePhone,
        Step::ChangeEmail,
        Step::PasswordRequired,
        Step::Questions,
        Step::AssignCard,
    ];

    /// The step's stable name, as error messages and details show it.
    pub fn name(self) -> &'static str {
        match self {
            Step::AcceptTenderOffer => "USER_ACTION_TYPE_ACCEPT_TENDER_OFFER",
            Step::ChangePhone => "USER_ACTION_TYPE_CHANGE_PHONE",
            Step::ChangeEmail => "USER_ACTION_TYPE_CHANGE_EMAIL",
            Step::PasswordRequired => "USER_ACTION_TYPE_PASSWORD_REQUIRED",
            Step::Questions => "USER_ACTION_TYPE_QUESTIONS",
            Step::AssignCard => "USER_ACTION_TYPE_ASSIGN_CARD",
        }
    }
}

/// Where confirm codes and messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Text message to the phone.
    Sms,
    /// E-mail.
    Email,
}

impl Channel {
    /// The channel's stable name, as error details show it.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "CHANNEL_SMS",
            Channel::Email => "CHANNEL_EMAIL",
        }
    }
}

/// What a registration began with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginKind {
    /// A phone number.
    Phone,
    /// A card number from the stock.
    Card,
}

/// A card's kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CardKind {
    /// A plastic card from the stock.
    #[default]
    Physical,
    /// A number from the virtual range.
    Virtual,
}

/// A card's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardState {
    /// Known, bound to nobody.
    InStock,
    /// Bound to a member.
    Bound,
    /// Blocked for good.
    Blocked,
}

/// One answer to the questionnaire: a text value, or a picked option.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The question of a picked option.
    pub group_id: Option<i64>,
    /// The question (text answers) or the option (picked ones).
    pub id: i64,
    /// The text given.
    pub value: String,
    /// An option picked.
    pub selected: bool,
}

/// What a rendered questionnaire node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A header grouping questions.
    Header,
    /// A question.
    Question,
    /// An option of a Radio / Checkbox question.
    Answer,
}

/// The type of a question's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text.
    String,
    /// A date.
    Date,
    /// A whole number.
    Number,
    /// True or false.
    Boolean,
    /// One option.
    Radio,
    /// Any options.
    Checkbox,
}

/// One node of the questionnaire as shown to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionNode {
    /// Header, question or option.
    pub kind: NodeKind,
    /// Text shown.
    pub display_name: String,
    /// Longer text.
    pub description: String,
    /// Stable field name (questions).
    pub logical_name: String,
    /// The member's current text answer.
    pub value: String,
    /// Not editable.
    pub read_only: bool,
    /// Must be answered (questions only).
    pub required: Option<bool>,
    /// Question or option id.
    pub id: Option<i64>,
    /// The question of an option.
    pub group_id: Option<i64>,
    /// The option is picked.
    pub selected: bool,
    /// Longest text answer.
    pub max_length: Option<u32>,
    /// The value's type (`None` for headers, options, unknown types).
    pub field_type: Option<FieldType>,
    /// Child nodes: questions of a header, options of a question.
    pub children: Vec<QuestionNode>,
}

impl QuestionNode {
    /// An empty node of `kind`.
    pub fn new(kind: NodeKind) -> Self {
        Self {
            kind,
            display_name: String::new(),
            description: String::new(),
            logical_name: String::new(),
            value: String::new(),
            read_only: false,
            required: None,
            id: None,
            group_id: None,
            selected: false,
            max_length: None,
            field_type: None,
            children: Vec::new(),
        }
    }
}

/// An operator's message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplate {
    /// Its id.
    pub template_id: String,
    /// SMS or e-mail.
    pub channel: Channel,
    /// Subject (e-mail only).
    pub subject: String,
    /// Body with `{{placeholders}}`.
    pub body: String,
}
