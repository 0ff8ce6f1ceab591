//! [`HttpSmsSender`]: SMS delivery through an HTTP provider API.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};

use crate::config::ConfigError;
use crate::message::{Channel, Message, NotifyError, SendFuture, Sender};
use crate::template;

/// The default request body: `{"to":"{{to}}","text":"{{text}}"}`.
pub const DEFAULT_SMS_BODY_TEMPLATE: &str = r#"{"to":"{{to}}","text":"{{text}}"}"#;
/// The default request content type.
pub const DEFAULT_SMS_CONTENT_TYPE: &str = "application/json";
/// The default request timeout.
pub const DEFAULT_SMS_TIMEOUT: Duration = Duration::from_secs(10);
/// Placeholders a body template may use: recipient, message text, message
/// id and purpose. `to` and `text` are required.
pub const SMS_PLACEHOLDERS: [&str; 4] = ["to", "text", "id", "purpose"];

/// Settings of an [`HttpSmsSender`]. `Debug` hides header values.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSmsConfig {
    /// Provider endpoint (http or https); messages are POSTed here.
    pub url: String,
    /// Extra request headers as `(name, value)`, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// Request body with `{{to}}`, `{{text}}` (and optionally `{{id}}`,
    /// `{{purpose}}`) placeholders.
    pub body_template: String,
    /// Request content type; decides how values are escaped: JSON string
    /// escaping for `application/json` and `*+json`, form encoding for
    /// `application/x-www-form-urlencoded`, none otherwise.
    pub content_type: String,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl HttpSmsConfig {
    /// Settings for `url` with the default template, content type and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        HttpSmsConfig {
            url: url.into(),
            headers: Vec::new(),
            body_template: DEFAULT_SMS_BODY_TEMPLATE.to_owned(),
            content_type: DEFAULT_SMS_CONTENT_TYPE.to_owned(),
            timeout: DEFAULT_SMS_TIMEOUT,
        }
    }
}

impl HttpSmsConfig {
    /// Checks the settings without sending anything; returns the parsed URL
    /// and the request headers (values marked sensitive).
    pub fn validate(&self) -> Result<(Url, HeaderMap), ConfigError> {
        let url = Url::parse(&self.url)
            .map_err(|e| ConfigError::invalid("sms-http-url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::invalid(
                "sms-http-url",
                "must be an http(s) URL",
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::invalid("sms-http-header", format!("{name:?} is not a header name"))
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                ConfigError::invalid("sms-http-header", format!("the value of {name} is invalid"))
            })?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let content_type = HeaderValue::from_str(&self.content_type).map_err(|_| {
            ConfigError::invalid("sms-http-content-type", "not a valid header value")
        })?;
        headers.insert(CONTENT_TYPE, content_type);
        if self.timeout.is_zero() {
            return Err(ConfigError::invalid(
                "sms-http-timeout-secs",
                "must be at least 1",
            ));
        }
        check_template(&self.body_template)?;
        Ok((url, headers))
    }
}

impl fmt::Debug for HttpSmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("HttpSmsConfig")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_template", &self.body_template)
            .field("content_type", &self.content_type)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// How placeholder values are escaped in the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// JSON string escaping (the template supplies the quotes).
    Json,
    /// `application/x-www-form-urlencoded` escaping.
    Form,
    /// Values inserted verbatim.
    Raw,
}

impl BodyEncoding {
    /// The encoding for a content type such as `application/json; charset=utf-8`.
    pub fn for_content_type(content_type: &str) -> Self {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            BodyEncoding::Json
        } else if essence == "application/x-www-form-urlencoded" {
            BodyEncoding::Form
        } else {
            BodyEncoding::Raw
        }
    }

    /// `value` escaped for this encoding.
    pub fn escape(self, value: &str) -> String {
        match self {
            BodyEncoding::Json => {
                let quoted = serde_json::Value::from(value).to_string();
                quoted[1..quoted.len() - 1].to_owned()
            }
            BodyEncoding::Form => form_escape(value),
            BodyEncoding::Raw => value.to_owned(),
        }
    }
}

/// WHATWG `application/x-www-form-urlencoded` byte serialisation.
fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parses a header given as `Name: value`.
pub fn parse_header(line: &str) -> Result<(String, String), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| "a header must look like `Name: value`".to_owned())?;
    let (name, value) = (name.trim(), value.trim());
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))?;
    HeaderValue::from_str(value).map_err(|_| format!("the value of header {name} is not valid"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Delivers SMS messages by POSTing a rendered body to a provider. A 2xx
/// answer is success; 408, 429, 5xx, timeouts and connection failures are
/// temporary; other answers (4xx, and 3xx as redirects are not followed) are
/// permanent.
#[derive(Clone)]
pub struct HttpSmsSender {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    template: String,
    encoding: BodyEncoding,
}

impl fmt::Debug for HttpSmsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSmsSender")
            .field("host", &self.url.host_str())
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl HttpSmsSender {
    /// A sender for `config`; checks URL, headers, content type and template.
    pub fn new(config: HttpSmsConfig) -> Result<Self, ConfigError> {
        let (url, headers) = config.validate()?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::invalid("sms-http-url", format!("HTTP client: {e}")))?;
        Ok(HttpSmsSender {
            client,
            url,
            headers,
            template: config.body_template,
            encoding: BodyEncoding::for_content_type(&config.content_type),
        })
    }

    /// The request body for `message`.
    pub fn render_body(&self, message: &Message) -> Result<String, NotifyError> {
        let values: BTreeMap<String, String> = [
            ("to", &message.to),
            ("text", &message.body),
            ("id", &message.id),
            ("purpose", &message.purpose),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), self.encoding.escape(v)))
        .collect();
        // The template was checked in `new`, so this only fails on engine
        // errors, whose text holds no values.
        template::render(&self.template, &values)
            .map_err(|e| NotifyError::permanent(format!("SMS body template: {e}")))
    }

    async fn deliver(&self, message: &Message) -> Result<(), NotifyError> {
        if message.channel != Channel::Sms {
            return Err(NotifyError::permanent(format!(
                "HTTP SMS cannot deliver {} messages",
                message.channel
            )));
        }
        message.check_recipient()?;
        let body = self.render_body(message)?;
        let response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| classify_error(&e))?;
        classify_status(response.status())
    }
}

fn check_template(template: &str) -> Result<(), ConfigError> {
    let names = template::placeholders(template)
        .map_err(|e| ConfigError::invalid("sms-http-body-template", e.to_string()))?;
    if let Some(unknown) = names
        .iter()
        .find(|n| !SMS_PLACEHOLDERS.contains(&n.as_str()))
    {
        return Err(ConfigError::invalid(
            "sms-http-body-template",
            format!(
                "unknown placeholder {{{{{unknown}}}}}; known: {}",
                SMS_PLACEHOLDERS.join(", ")
            ),
        ));
    }
    for required in ["to", "text"] {
        if !names.iter().any(|n| n == required) {
            return Err(ConfigError::invalid(
                "sms-http-body-template",
                format!("must contain {{{{{required}}}}}"),
            ));
        }
    }
    Ok(())
}

/// Maps a provider's HTTP status.
pub fn classify_status(status: StatusCode) -> Result<(), NotifyError> {
    let reason = format!("SMS provider answered HTTP {status}");
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Err(NotifyError::temporary(reason))
    } else {
        Err(NotifyError::permanent(reason))
    }
}

/// Maps a request failure; the URL (which may hold an API key) is left out.
fn classify_error(e: &reqwest::Error) -> NotifyError {
    let mut reason = String::from("SMS provider request failed");
    if e.is_timeout() {
        reason.push_str(" (timeout)");
    } else if e.is_connect() {
        reason.push_str(" (connect)");
    }
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_builder() {
        NotifyError::permanent(reason)
    } else {
        NotifyError::temporary(reason)
    }
}

impl Sender for HttpSmsSender {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }

    fn kind(&self) -> &'static str {
        "http-sms"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_values_per_content_type() {
        let text = "Code \"42\"\nä & b=c/d";
        let json = BodyEncoding::for_content_type("application/json; charset=utf-8");
        assert_eq!(json, BodyEncoding::Json);
        assert_eq!(json.escape(text), r#"Code \"42\"\nä & b=c/d"#);
        let form = BodyEncoding::for_content_type("Application/X-WWW-Form-Urlencoded");
        assert_eq!(form.escape(text), "Code+%2242%22%0A%C3%A4+%26+b%3Dc%2Fd");
        assert_eq!(
            BodyEncoding::for_content_type("application/vnd.sms+json"),
            BodyEncoding::Json
        );
        assert_eq!(
            BodyEncoding::for_content_type("text/plain").escape(text),
            text
        );
    }

    #[test]
    fn parses_header_lines_without_echoing_values() {
        assert_eq!(
            parse_header("Authorization: Bearer abc:def").unwrap(),
            ("Authorization".to_owned(), "Bearer abc:def".to_owned())
        );
        let err = parse_header("Bearer-secret-token").unwrap_err();
        assert!(
            !err.contains("secret") && err.contains("Name: value"),
            "{err}"
        );
        let err = parse_header("X Bad: secret").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn checks_templates_and_urls() {
        assert!(HttpSmsSender::new(HttpSmsConfig::new("http://127.0.0.1:9/sms")).is_ok());
        let mut c = HttpSmsConfig::new("http://127.0.0.1:9/sms");
        c.body_template = r#"{"to":"{{to}}"}"#.into();
        assert!(HttpSmsSender::new(c.clone()).is_err());
        c.body_template = r#"{"to":"{{to}}","text":"{{text}}","x":"{{nope}}"}"#.into();
        let err = HttpSmsSender::new(c).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        assert!(HttpSmsSender::new(HttpSmsConfig::new("ftp://x/sms")).is_err());
        assert!(HttpSmsSender::new(HttpSmsConfig::new("not a url")).is_err());
    }

    #[test]
    fn classifies_statuses() {
        assert!(classify_status(StatusCode::ACCEPTED).is_ok());
        for s in [503, 500, 429, 408] {
            let e = classify_status(StatusCode::from_u16(s).unwrap()).unwrap_err();
            assert!(e.is_temporary(), "{s}");
        }
        for s in [400, 401, 404, 422, 301] {
            let e = classify_status(StatusCode::from_u16(s).unwrap()).unwrap_err();
            assert!(!e.is_temporary(), "{s}");
        }
    }
}
