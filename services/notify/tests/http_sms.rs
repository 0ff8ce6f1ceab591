//! HttpSmsSender against a real axum provider stand-in on a loopback socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use notify::{HttpSmsConfig, HttpSmsSender, Message, NotifyError, Sender};

const TEXT: &str = "Your code is \"123456\"\nDo not share it \\ ü";

fn sms() -> Message {
    Message::sms("m-42", "+491701234567", TEXT, "confirm-code/phone")
}

fn sender(url: String) -> HttpSmsSender {
    let mut config = HttpSmsConfig::new(url);
    config.headers = vec![("Authorization".into(), "Bearer t0ken".into())];
    HttpSmsSender::new(config).unwrap()
}

#[tokio::test]
async fn posts_json_with_escaped_text_and_headers() {
    let (base, mut requests) = common::sms_provider(StatusCode::ACCEPTED).await;
    sender(format!("{base}/sms")).send(&sms()).await.unwrap();

    let r = requests.recv().await.unwrap();
    assert_eq!(r.headers["authorization"], "Bearer t0ken");
    assert_eq!(r.headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"to": "+491701234567", "text": TEXT})
    );
    assert!(r.body.contains(r#"\"123456\"\n"#), "{}", r.body);
}

#[tokio::test]
async fn form_bodies_are_form_escaped() {
    let (base, mut requests) = common::sms_provider(StatusCode::OK).await;
    let mut config = HttpSmsConfig::new(format!("{base}/form"));
    config.content_type = "application/x-www-form-urlencoded".into();
    config.body_template = "to={{to}}&text={{text}}&ref={{id}}&why={{purpose}}".into();
    HttpSmsSender::new(config)
        .unwrap()
        .send(&sms())
        .await
        .unwrap();

    let r = requests.recv().await.unwrap();
    let form: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        form,
        serde_json::json!({
            "to": "+491701234567",
            "text": TEXT,
            "ref": "m-42",
            "why": "confirm-code/phone"
        })
    );
}

#[tokio::test]
async fn status_503_is_temporary() {
    let (base, mut requests) = common::sms_provider(StatusCode::SERVICE_UNAVAILABLE).await;
    let err = sender(format!("{base}/sms"))
        .send(&sms())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Temporary { .. }), "{err:?}");
    assert!(err.reason().contains("503"), "{err}");
    requests.recv().await.unwrap();
}

#[tokio::test]
async fn status_429_is_temporary() {
    let (base, _requests) = common::sms_provider(StatusCode::TOO_MANY_REQUESTS).await;
    let err = sender(format!("{base}/sms"))
        .send(&sms())
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
}

#[tokio::test]
async fn status_400_is_permanent_and_keeps_the_body_out_of_the_reason() {
    let (base, mut requests) = common::sms_provider(StatusCode::BAD_REQUEST).await;
    let err = sender(format!("{base}/sms"))
        .send(&sms())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Permanent { .. }), "{err:?}");
    assert!(err.reason().contains("400"), "{err}");
    assert!(!err.to_string().contains("123456"), "{err}");
    requests.recv().await.unwrap();
}

#[tokio::test]
async fn timeout_is_temporary() {
    let (base, mut requests) = common::sms_provider(StatusCode::OK).await;
    let mut config = HttpSmsConfig::new(format!("{base}/hang"));
    config.timeout = Duration::from_millis(300);
    let err = HttpSmsSender::new(config)
        .unwrap()
        .send(&sms())
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    assert!(err.reason().contains("timeout"), "{err}");
    requests.recv().await.unwrap();
}

#[tokio::test]
async fn refused_connection_is_temporary() {
    let addr = common::closed_port().await;
    let err = sender(format!("http://{addr}/sms"))
        .send(&sms())
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
}

#[tokio::test]
async fn non_phone_recipient_is_permanent_without_a_request() {
    let addr = common::closed_port().await;
    let mut m = sms();
    m.to = "jane@example.com".into();
    let err = sender(format!("http://{addr}/sms"))
        .send(&m)
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Permanent { .. }), "{err:?}");
}
