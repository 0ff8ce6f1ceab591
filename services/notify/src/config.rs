//! Command-line and environment configuration: [`NotifyArgs`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::http_sms::{
    DEFAULT_SMS_BODY_TEMPLATE, DEFAULT_SMS_CONTENT_TYPE, HttpSmsConfig, parse_header,
};
use crate::smtp::{SmtpConfig, SmtpSecurity};

/// Env var: SMS provider (`local` or `http`).
pub const ENV_SMS_PROVIDER: &str = "LOYALTY_NOTIFY_SMS_PROVIDER";
/// Env var: e-mail provider (`local` or `smtp`).
pub const ENV_EMAIL_PROVIDER: &str = "LOYALTY_NOTIFY_EMAIL_PROVIDER";
/// Env var: JSON-lines file of the local sink.
pub const ENV_LOCAL_PATH: &str = "LOYALTY_NOTIFY_LOCAL_PATH";
/// Env var: SMTP server host.
pub const ENV_SMTP_HOST: &str = "LOYALTY_NOTIFY_SMTP_HOST";
/// Env var: SMTP server port.
pub const ENV_SMTP_PORT: &str = "LOYALTY_NOTIFY_SMTP_PORT";
/// Env var: SMTP connection security (`none`, `starttls` or `tls`).
pub const ENV_SMTP_SECURITY: &str = "LOYALTY_NOTIFY_SMTP_SECURITY";
/// Env var: SMTP user name.
pub const ENV_SMTP_USERNAME: &str = "LOYALTY_NOTIFY_SMTP_USERNAME";
/// Env var: SMTP password (secret).
pub const ENV_SMTP_PASSWORD: &str = "LOYALTY_NOTIFY_SMTP_PASSWORD";
/// Env var: e-mail sender address.
pub const ENV_SMTP_FROM: &str = "LOYALTY_NOTIFY_SMTP_FROM";
/// Env var: SMTP command timeout in seconds.
pub const ENV_SMTP_TIMEOUT: &str = "LOYALTY_NOTIFY_SMTP_TIMEOUT_SECS";
/// Env var: HTTP SMS provider URL.
pub const ENV_SMS_HTTP_URL: &str = "LOYALTY_NOTIFY_SMS_HTTP_URL";
/// Env var: extra HTTP SMS request headers, `Name: value`, one per line
/// (secret: may hold an API key).
pub const ENV_SMS_HTTP_HEADER: &str = "LOYALTY_NOTIFY_SMS_HTTP_HEADER";
/// Env var: HTTP SMS request body template.
pub const ENV_SMS_HTTP_BODY_TEMPLATE: &str = "LOYALTY_NOTIFY_SMS_HTTP_BODY_TEMPLATE";
/// Env var: HTTP SMS request content type.
pub const ENV_SMS_HTTP_CONTENT_TYPE: &str = "LOYALTY_NOTIFY_SMS_HTTP_CONTENT_TYPE";
/// Env var: HTTP SMS request timeout in seconds.
pub const ENV_SMS_HTTP_TIMEOUT: &str = "LOYALTY_NOTIFY_SMS_HTTP_TIMEOUT_SECS";

/// A notification configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting is missing or has an unusable value.
    #[error("invalid --{flag}: {reason}")]
    Invalid {
        /// The flag (kebab case, without `--`).
        flag: &'static str,
        /// Why.
        reason: String,
    },
    /// The local sink's directory could not be created.
    #[error("cannot prepare local message file {}: {source}", path.display())]
    LocalSink {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl ConfigError {
    /// A [`ConfigError::Invalid`].
    pub fn invalid(flag: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            flag,
            reason: reason.into(),
        }
    }
}

/// Who delivers SMS messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SmsProvider {
    /// The local JSON-lines file.
    #[default]
    Local,
    /// An HTTP provider API ([`crate::HttpSmsSender`]).
    Http,
}

/// Who delivers e-mail messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EmailProvider {
    /// The local JSON-lines file.
    #[default]
    Local,
    /// An SMTP server ([`crate::SmtpSender`]).
    Smtp,
}

/// Notification flags, meant to be `#[command(flatten)]`ed into a service's
/// flags. Each flag can also be set by its env var; flags win over env vars,
/// env vars over defaults. `Debug` hides the SMTP password and header values.
#[derive(Clone, PartialEq, Eq, clap::Args)]
pub struct NotifyArgs {
    /// Who delivers SMS messages.
    #[arg(long, global = true, env = ENV_SMS_PROVIDER, value_enum, default_value_t = SmsProvider::Local)]
    pub sms_provider: SmsProvider,
    /// Who delivers e-mail messages.
    #[arg(long, global = true, env = ENV_EMAIL_PROVIDER, value_enum, default_value_t = EmailProvider::Local)]
    pub email_provider: EmailProvider,
    /// JSON-lines file for locally delivered messages [default:
    /// DATA_DIR/notify/messages.jsonl].
    #[arg(long, global = true, env = ENV_LOCAL_PATH)]
    pub notify_local_path: Option<PathBuf>,
    /// SMTP server host (required with --email-provider smtp).
    #[arg(long, global = true, env = ENV_SMTP_HOST)]
    pub smtp_host: Option<String>,
    /// SMTP server port.
    #[arg(long, global = true, env = ENV_SMTP_PORT, default_value_t = 587)]
    pub smtp_port: u16,
    /// SMTP connection security.
    #[arg(long, global = true, env = ENV_SMTP_SECURITY, value_enum, default_value_t = SmtpSecurity::Starttls)]
    pub smtp_security: SmtpSecurity,
    /// SMTP user name (with --smtp-password).
    #[arg(long, global = true, env = ENV_SMTP_USERNAME)]
    pub smtp_username: Option<String>,
    /// SMTP password (with --smtp-username).
    #[arg(long, global = true, env = ENV_SMTP_PASSWORD, hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// Sender address, e.g. "Loyalty <no-reply@example.com>" (required with
    /// --email-provider smtp).
    #[arg(long, global = true, env = ENV_SMTP_FROM)]
    pub smtp_from: Option<String>,
    /// SMTP command timeout in seconds.
    #[arg(long, global = true, env = ENV_SMTP_TIMEOUT, default_value_t = 30)]
    pub smtp_timeout_secs: u64,
    /// HTTP SMS provider URL (required with --sms-provider http).
    #[arg(long, global = true, env = ENV_SMS_HTTP_URL)]
    pub sms_http_url: Option<String>,
    /// Extra request header `Name: value`; repeatable (one per line in the
    /// env var).
    #[arg(long, global = true, env = ENV_SMS_HTTP_HEADER, hide_env_values = true, value_delimiter = '\n')]
    pub sms_http_header: Vec<String>,
    /// Request body template with {{to}}, {{text}} and optionally {{id}},
    /// {{purpose}}; values are escaped for the content type.
    #[arg(long, global = true, env = ENV_SMS_HTTP_BODY_TEMPLATE, default_value = DEFAULT_SMS_BODY_TEMPLATE)]
    pub sms_http_body_template: String,
    /// Request content type (application/json, application/x-www-form-urlencoded, ...).
    #[arg(long, global = true, env = ENV_SMS_HTTP_CONTENT_TYPE, default_value = DEFAULT_SMS_CONTENT_TYPE)]
    pub sms_http_content_type: String,
    /// HTTP SMS request timeout in seconds.
    #[arg(long, global = true, env = ENV_SMS_HTTP_TIMEOUT, default_value_t = 10)]
    pub sms_http_timeout_secs: u64,
}

impl Default for NotifyArgs {
    /// The flags' defaults: both channels delivered locally.
    fn default() -> Self {
        NotifyArgs {
            sms_provider: SmsProvider::Local,
            email_provider: EmailProvider::Local,
            notify_local_path: None,
            smtp_host: None,
            smtp_port: 587,
            smtp_security: SmtpSecurity::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_from: None,
            smtp_timeout_secs: 30,
            sms_http_url: None,
            sms_http_header: Vec::new(),
            sms_http_body_template: DEFAULT_SMS_BODY_TEMPLATE.to_owned(),
            sms_http_content_type: DEFAULT_SMS_CONTENT_TYPE.to_owned(),
            sms_http_timeout_secs: 10,
        }
    }
}

impl fmt::Debug for NotifyArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { Some("<redacted>") } else { None };
        f.debug_struct("NotifyArgs")
            .field("sms_provider", &self.sms_provider)
            .field("email_provider", &self.email_provider)
            .field("notify_local_path", &self.notify_local_path)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_security", &self.smtp_security)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &redacted(self.smtp_password.is_some()))
            .field("smtp_from", &self.smtp_from)
            .field("smtp_timeout_secs", &self.smtp_timeout_secs)
            .field("sms_http_url", &self.sms_http_url)
            .field(
                "sms_http_header",
                &format_args!("[{} redacted]", self.sms_http_header.len()),
            )
            .field("sms_http_body_template", &self.sms_http_body_template)
            .field("sms_http_content_type", &self.sms_http_content_type)
            .field("sms_http_timeout_secs", &self.sms_http_timeout_secs)
            .finish()
    }
}

fn required<'a>(
    value: &'a Option<String>,
    flag: &'static str,
    when: &str,
) -> Result<&'a str, ConfigError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ConfigError::invalid(
            flag,
            format!("is required with {when}"),
        )),
    }
}

impl NotifyArgs {
    /// Checks the settings of the chosen providers together (settings of
    /// providers not chosen are ignored). Opens no connection and no file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.notify_local_path
            && path.as_os_str().is_empty()
        {
            return Err(ConfigError::invalid(
                "notify-local-path",
                "must not be empty",
            ));
        }
        if self.email_provider == EmailProvider::Smtp {
            self.smtp_config()?.validate()?;
        }
        if self.sms_provider == SmsProvider::Http {
            self.http_sms_config()?.validate()?;
        }
        Ok(())
    }

    /// The local sink's file: `--notify-local-path`, else `default` (the
    /// caller's `<data dir>/notify/messages.jsonl`, see
    /// [`crate::default_local_path`]).
    pub fn local_path(&self, default: &Path) -> PathBuf {
        self.notify_local_path
            .clone()
            .unwrap_or_else(|| default.to_path_buf())
    }

    /// The SMTP settings; fails when host or from address is missing or only
    /// one of user name and password is set.
    pub fn smtp_config(&self) -> Result<SmtpConfig, ConfigError> {
        let when = "--email-provider smtp";
        let host = required(&self.smtp_host, "smtp-host", when)?;
        let from = required(&self.smtp_from, "smtp-from", when)?;
        let credentials = match (&self.smtp_username, &self.smtp_password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "smtp-password",
                    "is required with --smtp-username",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "smtp-username",
                    "is required with --smtp-password",
                ));
            }
        };
        Ok(SmtpConfig {
            host: host.to_owned(),
            port: self.smtp_port,
            security: self.smtp_security,
            credentials,
            from: from.to_owned(),
            timeout: Duration::from_secs(self.smtp_timeout_secs),
        })
    }

    /// The HTTP SMS settings; fails when the URL is missing or a header is
    /// not `Name: value`.
    pub fn http_sms_config(&self) -> Result<HttpSmsConfig, ConfigError> {
        let url = required(&self.sms_http_url, "sms-http-url", "--sms-provider http")?;
        let headers = self
            .sms_http_header
            .iter()
            .filter(|line| !line.trim().is_empty())
            .map(|line| parse_header(line).map_err(|e| ConfigError::invalid("sms-http-header", e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HttpSmsConfig {
            url: url.to_owned(),
            headers,
            body_template: self.sms_http_body_template.clone(),
            content_type: self.sms_http_content_type.clone(),
            timeout: Duration::from_secs(self.sms_http_timeout_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        notify: NotifyArgs,
    }

    fn parse(args: &[&str]) -> Result<NotifyArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("svc").chain(args.iter().copied())).map(|c| c.notify)
    }

    fn invalid_flag(args: &[&str]) -> &'static str {
        match parse(args).unwrap().validate() {
            Err(ConfigError::Invalid { flag, .. }) => flag,
            other => panic!("expected an invalid flag for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_local_and_valid() {
        let a = parse(&[]).unwrap();
        assert_eq!(a, NotifyArgs::default());
        a.validate().unwrap();
        assert_eq!(
            a.local_path(Path::new("/data/notify/messages.jsonl")),
            PathBuf::from("/data/notify/messages.jsonl")
        );
        let a = parse(&["--notify-local-path", "/tmp/m.jsonl"]).unwrap();
        assert_eq!(a.local_path(Path::new("/x")), PathBuf::from("/tmp/m.jsonl"));
    }

    #[test]
    fn parses_smtp_settings() {
        let a = parse(&[
            "--email-provider",
            "smtp",
            "--smtp-host",
            "mail.example.com",
            "--smtp-port",
            "465",
            "--smtp-security",
            "tls",
            "--smtp-username",
            "u",
            "--smtp-password",
            "p4ss",
            "--smtp-from",
            "Loyalty <no-reply@example.com>",
        ])
        .unwrap();
        a.validate().unwrap();
        let c = a.smtp_config().unwrap();
        assert_eq!(c.port, 465);
        assert_eq!(c.security, SmtpSecurity::Tls);
        assert_eq!(c.credentials, Some(("u".into(), "p4ss".into())));
        assert!(!format!("{a:?}").contains("p4ss"));
        assert!(parse(&["--smtp-security", "ssl"]).is_err());
    }

    #[test]
    fn smtp_without_host_or_from_is_rejected() {
        assert_eq!(invalid_flag(&["--email-provider", "smtp"]), "smtp-host");
        assert_eq!(
            invalid_flag(&["--email-provider", "smtp", "--smtp-host", "h"]),
            "smtp-from"
        );
        assert_eq!(
            invalid_flag(&[
                "--email-provider",
                "smtp",
                "--smtp-host",
                "h",
                "--smtp-from",
                "x y"
            ]),
            "smtp-from"
        );
        let only_user = [
            "--email-provider",
            "smtp",
            "--smtp-host",
            "h",
            "--smtp-from",
            "a@b.c",
            "--smtp-username",
            "u",
        ];
        assert_eq!(invalid_flag(&only_user), "smtp-password");
        let msg = parse(&["--email-provider", "smtp"])
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "invalid --smtp-host: is required with --email-provider smtp"
        );
    }

    #[test]
    fn parses_http_sms_settings_with_repeated_headers() {
        let a = parse(&[
            "--sms-provider",
            "http",
            "--sms-http-url",
            "https://sms.example.com/send",
            "--sms-http-header",
            "Authorization: Bearer tok3n",
            "--sms-http-header",
            "X-Tenant: loyalty",
            "--sms-http-content-type",
            "application/x-www-form-urlencoded",
            "--sms-http-body-template",
            "to={{to}}&msg={{text}}&ref={{id}}",
            "--sms-http-timeout-secs",
            "3",
        ])
        .unwrap();
        a.validate().unwrap();
        let c = a.http_sms_config().unwrap();
        assert_eq!(
            c.headers,
            vec![
                ("Authorization".to_owned(), "Bearer tok3n".to_owned()),
                ("X-Tenant".to_owned(), "loyalty".to_owned())
            ]
        );
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert!(!format!("{a:?}").contains("tok3n"));
        assert!(!format!("{c:?}").contains("tok3n"));
        // One value (as the env var holds it) may carry several lines.
        let a = parse(&["--sms-http-header", "A: 1\nB: 2"]).unwrap();
        assert_eq!(a.sms_http_header, vec!["A: 1", "B: 2"]);
    }

    #[test]
    fn http_sms_settings_are_validated() {
        assert_eq!(invalid_flag(&["--sms-provider", "http"]), "sms-http-url");
        let base = [
            "--sms-provider",
            "http",
            "--sms-http-url",
            "http://127.0.0.1:1/",
        ];
        let with = |extra: &[&'static str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            invalid_flag(&v)
        };
        assert_eq!(with(&["--sms-http-header", "no colon"]), "sms-http-header");
        assert_eq!(
            with(&["--sms-http-body-template", "{{to}}"]),
            "sms-http-body-template"
        );
        assert_eq!(
            with(&["--sms-http-timeout-secs", "0"]),
            "sms-http-timeout-secs"
        );
        assert_eq!(
            invalid_flag(&["--sms-provider", "http", "--sms-http-url", "smtp://x"]),
            "sms-http-url"
        );
        // Settings of providers not chosen are not checked.
        parse(&["--sms-http-header", "no colon"])
            .unwrap()
            .validate()
            .unwrap();
    }
}
