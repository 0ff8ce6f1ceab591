//! The message model, the [`Sender`] trait and its error type.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// The delivery channel of a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A text message to a phone number.
    Sms,
    /// An e-mail to an address.
    Email,
}

impl Channel {
    /// The channel's name as it appears in JSON and logs (`sms`, `email`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message to deliver.
///
/// The body may hold a confirm code: `Debug` prints only its length and a
/// masked recipient, and nothing in this crate logs it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Unique message id; also the idempotency id towards providers.
    pub id: String,
    /// How the message travels.
    pub channel: Channel,
    /// Phone number (digits, optionally with a leading `+`) or e-mail address.
    pub to: String,
    /// E-mail subject; ignored for SMS.
    pub subject: Option<String>,
    /// Plain-text body. Secret: never logged.
    pub body: String,
    /// Why the message is sent, e.g. `confirm-code/phone` or `template/ETP_x`.
    pub purpose: String,
}

impl Message {
    /// An SMS message.
    pub fn sms(
        id: impl Into<String>,
        to: impl Into<String>,
        body: impl Into<String>,
        purpose: impl Into<String>,
    ) -> Self {
        Message {
            id: id.into(),
            channel: Channel::Sms,
            to: to.into(),
            subject: None,
            body: body.into(),
            purpose: purpose.into(),
        }
    }

    /// An e-mail message.
    pub fn email(
        id: impl Into<String>,
        to: impl Into<String>,
        subject: impl Into<String>,
        body: impl Into<String>,
        purpose: impl Into<String>,
    ) -> Self {
        Message {
            id: id.into(),
            channel: Channel::Email,
            to: to.into(),
            subject: Some(subject.into()),
            body: body.into(),
            purpose: purpose.into(),
        }
    }

    /// Checks that the recipient fits the channel: an SMS goes to a phone
    /// number (digits, optional leading `+`, 3 to 20 digits), an e-mail to
    /// `local@domain`. Anything else is a [`NotifyError::Permanent`].
    pub fn check_recipient(&self) -> Result<(), NotifyError> {
        let ok = match self.channel {
            Channel::Sms => is_phone_number(&self.to),
            Channel::Email => is_email_address(&self.to),
        };
        if ok {
            Ok(())
        } else {
            Err(NotifyError::permanent(format!(
                "invalid {} recipient {}",
                self.channel,
                mask_recipient(&self.to)
            )))
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("to", &mask_recipient(&self.to))
            .field("subject", &self.subject)
            .field(
                "body",
                &format_args!("<{} bytes redacted>", self.body.len()),
            )
            .field("purpose", &self.purpose)
            .finish()
    }
}

fn is_phone_number(to: &str) -> bool {
    let digits = to.strip_prefix('+').unwrap_or(to);
    (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_email_address(to: &str) -> bool {
    match to.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !to.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// A recipient safe for logs: a phone number becomes `***` and its last four
/// digits (`***1234`), an e-mail address its first character, `***` and the
/// domain (`j***@example.com`). Anything else, or a number with fewer than
/// five digits, becomes `***`.
pub fn mask_recipient(to: &str) -> String {
    if let Some((local, domain)) = to.rsplit_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let digits: Vec<char> = to.chars().filter(char::is_ascii_digit).collect();
    if digits.len() > 4 {
        let tail: String = digits[digits.len() - 4..].iter().collect();
        format!("***{tail}")
    } else {
        "***".to_owned()
    }
}

/// Why a message was not delivered. The reason never contains the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Worth retrying later: connection failures, timeouts, HTTP 5xx or 429,
    /// SMTP 4xx replies, local I/O errors.
    #[error("temporary delivery failure: {reason}")]
    Temporary {
        /// What went wrong (no message body).
        reason: String,
    },
    /// Retrying will not help: a bad address, HTTP 4xx, SMTP 5xx replies.
    #[error("permanent delivery failure: {reason}")]
    Permanent {
        /// What went wrong (no message body).
        reason: String,
    },
}

impl NotifyError {
    /// A [`NotifyError::Temporary`] with this reason.
    pub fn temporary(reason: impl Into<String>) -> Self {
        NotifyError::Temporary {
            reason: reason.into(),
        }
    }

    /// A [`NotifyError::Permanent`] with this reason.
    pub fn permanent(reason: impl Into<String>) -> Self {
        NotifyError::Permanent {
            reason: reason.into(),
        }
    }

    /// Whether a later retry may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, NotifyError::Temporary { .. })
    }

    /// The reason text.
    pub fn reason(&self) -> &str {
        match self {
            NotifyError::Temporary { reason } | NotifyError::Permanent { reason } => reason,
        }
    }
}

/// The future a [`Sender`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// Something that delivers messages. Object safe: use it as `Arc<dyn Sender>`.
pub trait Sender: Send + Sync {
    /// Delivers one message; `Ok` once the provider (or the local file)
    /// accepted it.
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a>;

    /// A short name for logs, e.g. `local`, `smtp`, `http-sms`.
    fn kind(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_phone_numbers_and_addresses() {
        assert_eq!(mask_recipient("+491701234567"), "***4567");
        assert_eq!(mask_recipient("01701234"), "***1234");
        assert_eq!(mask_recipient("1234"), "***");
        assert_eq!(mask_recipient("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_recipient("@example.com"), "***@example.com");
        assert_eq!(mask_recipient("Ärger@例え.jp"), "Ä***@例え.jp");
        assert_eq!(mask_recipient(""), "***");
    }

    #[test]
    fn message_json_is_camel_case_and_debug_hides_the_body() {
        let m = Message::email(
            "m-1",
            "jane@example.com",
            "Hi",
            "code 123456",
            "confirm-code/email",
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["channel"], "email");
        assert_eq!(json["purpose"], "confirm-code/email");
        let back: Message = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
        let debug = format!("{m:?}");
        assert!(!debug.contains("123456"), "{debug}");
        assert!(!debug.contains("jane@"), "{debug}");
    }

    #[test]
    fn recipients_are_checked_per_channel() {
        assert!(
            Message::sms("1", "+491701234567", "x", "p")
                .check_recipient()
                .is_ok()
        );
        assert!(
            Message::sms("1", "0170 123", "x", "p")
                .check_recipient()
                .is_err()
        );
        assert!(
            Message::sms("1", "jane@example.com", "x", "p")
                .check_recipient()
                .is_err()
        );
        let e = Message::email("1", "jane@example.com", "s", "x", "p");
        assert!(e.check_recipient().is_ok());
        let bad = Message::email("1", "jane example.com", "s", "x", "p");
        assert!(matches!(
            bad.check_recipient(),
            Err(NotifyError::Permanent { .. })
        ));
    }
}
