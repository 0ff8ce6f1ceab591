//! Notifier built from flags, routing to real senders, and its logging.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use clap::Parser;
use notify::{
    Channel, ConfigError, Message, Notifier, NotifyArgs, NotifyError, default_local_path,
    read_messages,
};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    notify: NotifyArgs,
}

fn args(flags: &[&str]) -> NotifyArgs {
    Cli::try_parse_from(std::iter::once("identity").chain(flags.iter().copied()))
        .unwrap()
        .notify
}

#[tokio::test]
async fn defaults_deliver_both_channels_to_the_local_file() {
    let data = tempfile::tempdir().unwrap();
    let notifier = Notifier::from_args(&args(&[]), &default_local_path(data.path())).unwrap();
    assert_eq!(
        format!("{notifier:?}"),
        r#"Notifier { sms: "local", email: "local" }"#
    );
    notifier
        .send(&Message::sms(
            "1",
            "+491701234567",
            "code 111111",
            "confirm-code/phone",
        ))
        .await
        .unwrap();
    notifier
        .send(&Message::email(
            "2",
            "jane@example.com",
            "Hi",
            "code 222222",
            "confirm-code/email",
        ))
        .await
        .unwrap();
    let path = data.path().join("notify/messages.jsonl");
    let got = read_messages(&path).unwrap();
    let summary: Vec<(&str, Channel, &str)> = got
        .iter()
        .map(|m| (m.id.as_str(), m.channel, m.body.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("1", Channel::Sms, "code 111111"),
            ("2", Channel::Email, "code 222222")
        ]
    );
}

#[tokio::test]
async fn local_path_flag_wins_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let custom = dir.path().join("elsewhere/out.jsonl");
    let flags = ["--notify-local-path", custom.to_str().unwrap()];
    let notifier = Notifier::from_args(&args(&flags), Path::new("/nonexistent/default")).unwrap();
    notifier
        .send(&Message::sms("1", "+491701234567", "x", "p"))
        .await
        .unwrap();
    assert_eq!(read_messages(&custom).unwrap().len(), 1);
}

#[tokio::test]
async fn flags_route_sms_to_http_and_email_to_smtp() {
    let (smtp, mut sessions) = common::smtp_stand_in("250 OK").await;
    let (base, mut requests) = common::sms_provider(StatusCode::OK).await;
    let local = tempfile::tempdir().unwrap();
    let port = smtp.port().to_string();
    let url = format!("{base}/sms");
    let a = args(&[
        "--sms-provider",
        "http",
        "--sms-http-url",
        &url,
        "--sms-http-header",
        "X-Api-Key: k3y",
        "--email-provider",
        "smtp",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--smtp-security",
        "none",
        "--smtp-from",
        "no-reply@loyalty.example",
    ]);
    let notifier = Notifier::from_args(&a, &local.path().join("m.jsonl")).unwrap();
    assert_eq!(
        format!("{notifier:?}"),
        r#"Notifier { sms: "http-sms", email: "smtp" }"#
    );

    notifier
        .send(&Message::sms(
            "s-1",
            "+491701234567",
            "code 333333",
            "confirm-code/phone",
        ))
        .await
        .unwrap();
    let r = requests.recv().await.unwrap();
    assert_eq!(r.headers["x-api-key"], "k3y");
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["text"], "code 333333");

    notifier
        .send(&Message::email(
            "e-1",
            "jane@example.com",
            "Hi",
            "code 444444",
            "template/ETP_x",
        ))
        .await
        .unwrap();
    let s = sessions.recv().await.unwrap();
    assert_eq!(s.rcpt_to, vec!["TO:<jane@example.com>".to_owned()]);
    assert!(s.data.unwrap().contains("code 444444"));

    // Neither channel is local, so no local file was created.
    assert!(!local.path().join("m.jsonl").exists());
}

#[tokio::test]
async fn a_recipient_unfit_for_its_channel_is_permanent_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    let notifier = Notifier::local(&path).unwrap();
    let err = notifier
        .send(&Message::sms("1", "jane@example.com", "code 555555", "p"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Permanent { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("jane@"),
        "recipient is masked: {err}"
    );
    assert!(read_messages(&path).unwrap().is_empty());
}

#[test]
fn invalid_flags_fail_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let err = Notifier::from_args(&args(&["--email-provider", "smtp"]), dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                flag: "smtp-host",
                ..
            }
        ),
        "{err:?}"
    );
    // A local path whose parent is a file cannot be prepared.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let bad = file.join("m.jsonl");
    let flags = ["--notify-local-path", bad.to_str().unwrap()];
    let err = Notifier::from_args(&args(&flags), dir.path()).unwrap_err();
    assert!(matches!(err, ConfigError::LocalSink { .. }), "{err:?}");
}

/// Collects every event's fields as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut out = self.0.lock().unwrap();
        event.record(&mut Fields(&mut out));
        out.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_id_purpose_and_masked_recipient_but_never_the_body() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let dir = tempfile::tempdir().unwrap();
    let notifier = Notifier::local(dir.path().join("m.jsonl")).unwrap();
    notifier
        .send(&Message::sms(
            "id-1",
            "+491701234567",
            "code 987654",
            "confirm-code/phone",
        ))
        .await
        .unwrap();
    let _ = notifier
        .send(&Message::email(
            "id-2",
            "bad address",
            "s",
            "code 876543",
            "confirm-code/email",
        ))
        .await;
    let logs = capture.0.lock().unwrap().clone();
    assert!(logs.contains("id-1") && logs.contains("id-2"), "{logs}");
    assert!(logs.contains("confirm-code/phone"), "{logs}");
    assert!(logs.contains("***4567"), "{logs}");
    assert!(
        !logs.contains("987654") && !logs.contains("876543"),
        "{logs}"
    );
    assert!(!logs.contains("+491701234567"), "{logs}");
}
