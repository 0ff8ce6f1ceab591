//! Message templates (stream `template/<id>`) and the outcome of each
//! message request (stream `message/<request_id>`), which makes sending
//! idempotent: once an outcome is recorded, a repeated request is answered
//! from it and nothing is sent again.

use std::convert::Infallible;

use super::event::{self as ev, Event};
use super::model::MessageTemplate;
use kit::aggregate::Aggregate;

/// Longest template id.
pub const MAX_TEMPLATE_ID: usize = 128;
/// Longest template body or subject, in bytes.
pub const MAX_TEMPLATE_TEXT: usize = 64 * 1024;

/// Why a message request failed for good (`MessageFailed.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// No member with that id or card.
    UnknownMember,
    /// No template with that id.
    UnknownTemplate,
    /// The request's channel is not the template's.
    ChannelMismatch,
    /// The member has no confirmed phone / e-mail for the channel.
    NoRecipient,
    /// The template uses placeholders nobody gave a value for.
    MissingValues,
    /// The provider refused the address or the message for good.
    Undeliverable,
}

impl FailReason {
    /// Every reason.
    pub const ALL: [FailReason; 6] = [
        FailReason::UnknownMember,
        FailReason::UnknownTemplate,
        FailReason::ChannelMismatch,
        FailReason::NoRecipient,
        FailReason::MissingValues,
        FailReason::Undeliverable,
    ];

    /// The reason a recorded `MessageFailed.reason` names (an unknown one,
    /// from a newer version, counts as UNDELIVERABLE).
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .unwrap_or(FailReason::Undeliverable)
    }

    /// The reason as it appears in events and error details.
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::UnknownMember => "UNKNOWN_MEMBER",
            FailReason::UnknownTemplate => "UNKNOWN_TEMPLATE",
            FailReason::ChannelMismatch => "CHANNEL_MISMATCH",
            FailReason::NoRecipient => "NO_RECIPIENT",
            FailReason::MissingValues => "MISSING_VALUES",
            FailReason::Undeliverable => "UNDELIVERABLE",
        }
    }
}

/// The stream of a template.
pub fn template_stream(id: &str) -> String {
    format!("template/{id}")
}

/// The stream of a message request's outcome.
pub fn message_stream(request_id: &str) -> String {
    format!("message/{request_id}")
}

/// Checks a template id: 1 to 128 of letters, digits, `_`, `-`, `.`.
pub fn valid_template_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TEMPLATE_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks a request id: 1 to 128 printable ASCII characters without `/`.
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

/// A template's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    /// The definition (`None`: undefined).
    pub definition: Option<MessageTemplate>,
}

/// Defines (or replaces) the template; the same definition is a no-op.
#[derive(Debug, Clone)]
pub struct Define(pub MessageTemplate);

impl Aggregate for Template {
    type Command = Define;
    type Event = Event;
    type Error = Infallible;

    fn decide(&self, Define(t): &Define) -> Result<Vec<Event>, Infallible> {
        if self.definition.as_ref() == Some(t) {
            return Ok(Vec::new());
        }
        Ok(vec![Event::TemplateDefined(ev::TemplateDefined {
            template_id: t.template_id.clone(),
            channel: t.channel,
            subject: t.subject.clone(),
            body: t.body.clone(),
        })])
    }

    fn apply(&mut self, event: &Event) {
        if let Event::TemplateDefined(e) = event {
            self.definition = Some(MessageTemplate {
                template_id: e.template_id.clone(),
                channel: e.channel,
                subject: e.subject.clone(),
                body: e.body.clone(),
            });
        }
    }
}

/// The recorded outcome of one message request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Sent.
    pub sent: Option<ev::MessageSent>,
    /// Failed for good.
    pub failed: Option<ev::MessageFailed>,
}

impl Outcome {
    /// Whether an outcome is recorded.
    pub fn is_final(&self) -> bool {
        self.sent.is_some() || self.failed.is_some()
    }
}

/// Records the outcome; a request that already has one keeps it.
#[derive(Debug, Clone)]
pub enum Record {
    /// It was sent.
    Sent(ev::MessageSent),
    /// It failed for good.
    Failed(ev::MessageFailed),
}

impl Aggregate for Outcome {
    type Command = Record;
    type Event = Event;
    type Error = Infallible;

    fn decide(&self, r: &Record) -> Result<Vec<Event>, Infallible> {
        if self.is_final() {
            return Ok(Vec::new());
        }
        Ok(vec![match r {
            Record::Sent(e) => Event::MessageSent(e.clone()),
            Record::Failed(e) => Event::MessageFailed(e.clone()),
        }])
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::MessageSent(e) => self.sent = Some(e.clone()),
            Event::MessageFailed(e) => self.failed = Some(e.clone()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::aggregate::given_when;

    fn template(body: &str) -> MessageTemplate {
        MessageTemplate {
            template_id: "ETP_1".into(),
            channel: crate::domain::model::Channel::Email,
            subject: "Aufladung".into(),
            body: body.into(),
        }
    }

    #[test]
    fn the_same_definition_twice_changes_nothing_and_a_new_body_replaces_it() {
        let first = Template::default().decide(&Define(template("a"))).unwrap();
        assert_eq!(first.len(), 1);
        let same = given_when::<Template>(&first, &Define(template("a"))).unwrap();
        assert!(same.is_empty());
        let other = given_when::<Template>(&first, &Define(template("b"))).unwrap();
        assert_eq!(other.len(), 1);
    }

    #[test]
    fn an_outcome_is_recorded_once() {
        let sent = Record::Sent(ev::MessageSent {
            request_id: "r1".into(),
            member_id: "m".into(),
            channel: crate::domain::model::Channel::Sms,
            template_id: "t".into(),
            recipient_masked: "***1234".into(),
            sent_at: Default::default(),
        });
        let first = Outcome::default().decide(&sent).unwrap();
        assert!(matches!(first.as_slice(), [Event::MessageSent(_)]));
        let failed = Record::Failed(ev::MessageFailed {
            request_id: String::new(),
            member_id: String::new(),
            channel: None,
            template_id: String::new(),
            reason: String::new(),
            detail: String::new(),
            failed_at: Default::default(),
        });
        assert!(given_when::<Outcome>(&first, &failed).unwrap().is_empty());
        assert!(given_when::<Outcome>(&first, &sent).unwrap().is_empty());
    }

    #[test]
    fn every_reason_reads_back() {
        for r in FailReason::ALL {
            assert_eq!(FailReason::parse(r.as_str()), r);
        }
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_template_id("ETP_6RYLPEWO8O2UPZV83C095P7IQ4GAL1"));
        assert!(!valid_template_id("a/b"));
        assert!(!valid_template_id(""));
        assert!(valid_request_id("order-1:charge"));
        assert!(!valid_request_id("a/b"));
        assert!(!valid_request_id("with space"));
    }
}
