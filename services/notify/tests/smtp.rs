//! SmtpSender against a real SMTP stand-in on a loopback socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use notify::{Message, NotifyError, Sender, SmtpConfig, SmtpSecurity, SmtpSender};

fn sender(addr: SocketAddr) -> SmtpSender {
    SmtpSender::new(SmtpConfig {
        host: addr.ip().to_string(),
        port: addr.port(),
        security: SmtpSecurity::None,
        credentials: None,
        from: "Loyalty <no-reply@loyalty.example>".into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn welcome() -> Message {
    Message::email(
        "0190f3a2-7c1e-7b3e-9d2a-1f2e3d4c5b6a",
        "jane@example.com",
        "Your confirm code",
        "Your code is 123456.\n.a line starting with a dot\nBye",
        "confirm-code/email",
    )
}

#[tokio::test]
async fn delivers_recipient_subject_and_body() {
    let (addr, mut sessions) = common::smtp_stand_in("250 2.1.5 OK").await;
    sender(addr).send(&welcome()).await.unwrap();

    let s = sessions.recv().await.unwrap();
    assert_eq!(
        s.mail_from.as_deref(),
        Some("FROM:<no-reply@loyalty.example>")
    );
    assert_eq!(s.rcpt_to, vec!["TO:<jane@example.com>".to_owned()]);
    let data = s.data.expect("DATA was sent").replace("\r\n", "\n");
    assert!(data.contains("\nTo: jane@example.com\n"), "{data}");
    assert!(data.contains("\nSubject: Your confirm code\n"), "{data}");
    assert!(data.contains("Content-Type: text/plain"), "{data}");
    assert!(
        data.contains("Message-ID: <0190f3a2-7c1e-7b3e-9d2a-1f2e3d4c5b6a@loyalty.example>"),
        "{data}"
    );
    assert!(
        data.contains("\n\nYour code is 123456.\n.a line starting with a dot\nBye"),
        "{data}"
    );
    assert_eq!(s.commands.last().map(String::as_str), Some("QUIT"));
}

#[tokio::test]
async fn rcpt_550_is_permanent() {
    let (addr, mut sessions) = common::smtp_stand_in("550 5.1.1 no such user").await;
    let err = sender(addr).send(&welcome()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Permanent { .. }), "{err:?}");
    assert!(err.reason().contains("550"), "{err}");
    assert!(!err.reason().contains("123456"), "{err}");
    let s = sessions.recv().await.unwrap();
    assert!(s.data.is_none(), "no DATA after a refused recipient");
}

#[tokio::test]
async fn rcpt_451_is_temporary() {
    let (addr, mut sessions) = common::smtp_stand_in("451 4.3.0 try again later").await;
    let err = sender(addr).send(&welcome()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Temporary { .. }), "{err:?}");
    assert!(err.reason().contains("451"), "{err}");
    assert!(sessions.recv().await.unwrap().data.is_none());
}

#[tokio::test]
async fn refused_connection_is_temporary() {
    let addr = common::closed_port().await;
    let err = sender(addr).send(&welcome()).await.unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
}

#[tokio::test]
async fn bad_recipient_address_is_permanent_without_connecting() {
    let addr = common::closed_port().await;
    let mut m = welcome();
    m.to = "not an address".into();
    let err = sender(addr).send(&m).await.unwrap_err();
    assert!(matches!(err, NotifyError::Permanent { .. }), "{err:?}");
}
