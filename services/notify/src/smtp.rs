//! [`SmtpSender`]: e-mail delivery over SMTP with `lettre`.

use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::ConfigError;
use crate::message::{Channel, Message, NotifyError, SendFuture, Sender, mask_recipient};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SmtpSecurity {
    /// Plain text (local relays and test servers only).
    None,
    /// Plain connection upgraded with STARTTLS, which is required.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Settings of an [`SmtpSender`]. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server host name (also the name checked against its certificate).
    pub host: String,
    /// Server port, e.g. 587 (STARTTLS), 465 (TLS) or 25.
    pub port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// User name and password for SMTP AUTH, if the server needs them.
    pub credentials: Option<(String, String)>,
    /// Sender address, e.g. `Loyalty <no-reply@example.com>`.
    pub from: String,
    /// Longest wait for each SMTP command.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// Checks the settings without connecting; returns the parsed from
    /// address.
    pub fn validate(&self) -> Result<Mailbox, ConfigError> {
        if self.host.trim().is_empty() {
            return Err(ConfigError::invalid("smtp-host", "must not be empty"));
        }
        if self.port == 0 {
            return Err(ConfigError::invalid("smtp-port", "must not be 0"));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::invalid(
                "smtp-timeout-secs",
                "must be at least 1",
            ));
        }
        if let Some((user, _)) = &self.credentials
            && user.is_empty()
        {
            return Err(ConfigError::invalid("smtp-username", "must not be empty"));
        }
        self.from.parse().map_err(|e| {
            ConfigError::invalid(
                "smtp-from",
                format!("{:?} is not an address: {e}", self.from),
            )
        })
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Delivers e-mail messages as plain text over SMTP, one connection per
/// message. The message id becomes the `Message-ID` header when it is made of
/// letters, digits, `.`, `-` and `_`.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for `config`. Fails on an unparsable from address, an empty
    /// host or unusable TLS settings; does not connect yet.
    pub fn new(config: SmtpConfig) -> Result<Self, ConfigError> {
        let from = config.validate()?;
        let tls = match config.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls | SmtpSecurity::Tls => {
                let params = TlsParameters::new(config.host.clone()).map_err(|e| {
                    ConfigError::invalid("smtp-security", format!("TLS setup failed: {e}"))
                })?;
                if config.security == SmtpSecurity::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some((user, password)) = config.credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from,
        })
    }

    async fn deliver(&self, message: &Message) -> Result<(), NotifyError> {
        if message.channel != Channel::Email {
            return Err(NotifyError::permanent(format!(
                "SMTP cannot deliver {} messages",
                message.channel
            )));
        }
        let to: Mailbox = message.to.parse().map_err(|_| {
            NotifyError::permanent(format!(
                "invalid e-mail address {}",
                mask_recipient(&message.to)
            ))
        })?;
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone().unwrap_or_default())
            .header(ContentType::TEXT_PLAIN);
        if is_msg_id_safe(&message.id) {
            builder = builder.message_id(Some(format!(
                "<{}@{}>",
                message.id,
                self.from.email.domain()
            )));
        }
        let email = builder
            .body(message.body.clone())
            .map_err(|e| NotifyError::permanent(format!("cannot build e-mail: {e}")))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

fn is_msg_id_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// Maps a lettre error: SMTP 4xx replies, connection, network, TLS and
/// timeout failures are temporary; SMTP 5xx replies and client-side errors
/// (e.g. no usable AUTH mechanism) are permanent.
fn classify(e: &lettre::transport::smtp::Error) -> NotifyError {
    let reason = format!("smtp: {e}");
    if e.is_permanent() || e.is_client() {
        NotifyError::permanent(reason)
    } else {
        NotifyError::temporary(reason)
    }
}

impl Sender for SmtpSender {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(security: SmtpSecurity) -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            security,
            credentials: Some(("user".into(), "s3cret".into())),
            from: "Loyalty <no-reply@example.com>".into(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn builds_for_every_security_mode_without_connecting() {
        for security in [
            SmtpSecurity::None,
            SmtpSecurity::Starttls,
            SmtpSecurity::Tls,
        ] {
            SmtpSender::new(config(security)).unwrap();
        }
    }

    #[test]
    fn rejects_a_bad_from_address_and_hides_the_password() {
        let mut c = config(SmtpSecurity::None);
        assert!(!format!("{c:?}").contains("s3cret"));
        c.from = "not an address".into();
        assert!(SmtpSender::new(c).is_err());
    }

    #[test]
    fn message_ids_are_only_used_when_safe() {
        assert!(is_msg_id_safe("0190f3a2-7c1e-7b3e-9d2a-1f2e3d4c5b6a"));
        assert!(!is_msg_id_safe("a b"));
        assert!(!is_msg_id_safe("<x>"));
        assert!(!is_msg_id_safe(""));
    }
}
