//! Message delivery of the loyalty platform.
//!
//! A [`Notifier`] routes each [`Message`] by [`Channel`] to one
//! [`Sender`]: the [`LocalSink`] (a JSON-lines file, the default for local
//! runs and how tests read confirm codes), the [`SmtpSender`] for e-mail or
//! the [`HttpSmsSender`] for SMS. Services build it from [`NotifyArgs`],
//! flattened into their flags. [`render`] fills `{{name}}` templates.
//!
//! Message bodies hold confirm codes: nothing here logs them, and error
//! reasons never contain them. Logs carry the id, channel, purpose and a
//! [`mask_recipient`]ed recipient.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod http_sms;
mod local;
mod message;
mod smtp;
mod template;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{
    ConfigError, ENV_EMAIL_PROVIDER, ENV_LOCAL_PATH, ENV_SMS_HTTP_BODY_TEMPLATE,
    ENV_SMS_HTTP_CONTENT_TYPE, ENV_SMS_HTTP_HEADER, ENV_SMS_HTTP_TIMEOUT, ENV_SMS_HTTP_URL,
    ENV_SMS_PROVIDER, ENV_SMTP_FROM, ENV_SMTP_HOST, ENV_SMTP_PASSWORD, ENV_SMTP_PORT,
    ENV_SMTP_SECURITY, ENV_SMTP_TIMEOUT, ENV_SMTP_USERNAME, EmailProvider, NotifyArgs, SmsProvider,
};
pub use http_sms::{
    BodyEncoding, DEFAULT_SMS_BODY_TEMPLATE, DEFAULT_SMS_CONTENT_TYPE, DEFAULT_SMS_TIMEOUT,
    HttpSmsConfig, HttpSmsSender, SMS_PLACEHOLDERS, classify_status, parse_header,
};
pub use local::{LocalSink, SentMessage, default_local_path, read_messages};
pub use message::{Channel, Message, NotifyError, SendFuture, Sender, mask_recipient};
pub use smtp::{SmtpConfig, SmtpSecurity, SmtpSender};
pub use template::{TemplateError, placeholders, render};

/// Routes messages to one [`Sender`] per channel. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    sms: Arc<dyn Sender>,
    email: Arc<dyn Sender>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("sms", &self.sms.kind())
            .field("email", &self.email.kind())
            .finish()
    }
}

impl Notifier {
    /// A notifier with these senders.
    pub fn new(sms: Arc<dyn Sender>, email: Arc<dyn Sender>) -> Self {
        Notifier { sms, email }
    }

    /// A notifier delivering both channels into one [`LocalSink`] at `path`.
    pub fn local(path: impl Into<PathBuf>) -> io::Result<Self> {
        let sink: Arc<dyn Sender> = Arc::new(LocalSink::new(path)?);
        Ok(Notifier::new(Arc::clone(&sink), sink))
    }

    /// The notifier `args` describe, after [`NotifyArgs::validate`]. The
    /// local sink (shared by both channels when both are local) writes to
    /// `--notify-local-path` or else `default_local_path`, normally
    /// [`default_local_path`]`(data_dir)`; its directory is created now.
    pub fn from_args(args: &NotifyArgs, default_local_path: &Path) -> Result<Self, ConfigError> {
        args.validate()?;
        let mut local: Option<Arc<dyn Sender>> = None;
        let mut local_sink = || -> Result<Arc<dyn Sender>, ConfigError> {
            if let Some(sink) = &local {
                return Ok(Arc::clone(sink));
            }
            let path = args.local_path(default_local_path);
            let sink: Arc<dyn Sender> =
                Arc::new(
                    LocalSink::new(&path).map_err(|source| ConfigError::LocalSink {
                        path: path.clone(),
                        source,
                    })?,
                );
            local = Some(Arc::clone(&sink));
            Ok(sink)
        };
        let sms: Arc<dyn Sender> = match args.sms_provider {
            SmsProvider::Http => Arc::new(HttpSmsSender::new(args.http_sms_config()?)?),
            SmsProvider::Local => local_sink()?,
        };
        let email: Arc<dyn Sender> = match args.email_provider {
            EmailProvider::Smtp => Arc::new(SmtpSender::new(args.smtp_config()?)?),
            EmailProvider::Local => local_sink()?,
        };
        Ok(Notifier::new(sms, email))
    }

    /// The sender for `channel`.
    pub fn sender(&self, channel: Channel) -> &Arc<dyn Sender> {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
        }
    }

    /// Checks the recipient for the channel ([`Message::check_recipient`])
    /// and delivers `message` through its channel's sender. Logs the outcome
    /// with id, channel, purpose, provider and masked recipient, never the
    /// body.
    pub async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        let sender = self.sender(message.channel);
        let to = mask_recipient(&message.to);
        let result = match message.check_recipient() {
            Ok(()) => sender.send(message).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(()) => tracing::info!(
                id = %message.id,
                channel = %message.channel,
                purpose = %message.purpose,
                provider = sender.kind(),
                to = %to,
                "message delivered"
            ),
            Err(e) => tracing::warn!(
                id = %message.id,
                channel = %message.channel,
                purpose = %message.purpose,
                provider = sender.kind(),
                to = %to,
                temporary = e.is_temporary(),
                error = %e,
                "message not delivered"
            ),
        }
        result
    }
}

impl Sender for Notifier {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(Notifier::send(self, message))
    }

    fn kind(&self) -> &'static str {
        "notifier"
    }
}
