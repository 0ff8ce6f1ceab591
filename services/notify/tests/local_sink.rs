//! LocalSink against the real file system.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use notify::{Channel, LocalSink, Message, Sender, read_messages};

#[tokio::test]
async fn writes_lines_that_read_messages_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/notify/messages.jsonl");
    let sink = LocalSink::new(&path).unwrap();
    assert!(
        read_messages(&path).unwrap().is_empty(),
        "no file yet reads as empty"
    );
    let before = Utc::now();
    let sms = Message::sms(
        "m-1",
        "+491701234567",
        "Your code: 123456",
        "confirm-code/phone",
    );
    let mail = Message::email(
        "m-2",
        "jane@example.com",
        "Welcome",
        "Hello \"Jane\"\nline two",
        "template/ETP_welcome",
    );
    sink.send(&sms).await.unwrap();
    sink.send(&mail).await.unwrap();

    let got = read_messages(&path).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, "m-1");
    assert_eq!(got[0].channel, Channel::Sms);
    assert_eq!(got[0].to, "+491701234567");
    assert_eq!(got[0].subject, None);
    assert_eq!(got[0].body, "Your code: 123456");
    assert_eq!(got[0].purpose, "confirm-code/phone");
    assert_eq!(got[1].subject.as_deref(), Some("Welcome"));
    assert_eq!(got[1].body, "Hello \"Jane\"\nline two");
    assert!(got[0].sent_at >= before && got[1].sent_at >= got[0].sent_at);

    // The raw line has exactly the documented camelCase fields and an RFC 3339 UTC time.
    let raw = std::fs::read_to_string(&path).unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    let keys: BTreeSet<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id", "channel", "to", "subject", "body", "purpose", "sentAt"
        ])
    );
    assert_eq!(first["channel"], "sms");
    let sent_at = first["sentAt"].as_str().unwrap();
    assert!(sent_at.ends_with('Z'), "{sent_at}");
    DateTime::parse_from_rfc3339(sent_at).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_sends_give_fifty_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messages.jsonl");
    let sink: Arc<dyn Sender> = Arc::new(LocalSink::new(&path).unwrap());
    let body = "x".repeat(4096);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let sink = Arc::clone(&sink);
            let body = format!("{i}:{body}");
            tokio::spawn(async move {
                let m = Message::sms(format!("m-{i}"), "+4917000000", body, "load");
                sink.send(&m).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let got = read_messages(&path).unwrap();
    assert_eq!(got.len(), 50);
    let ids: BTreeSet<String> = got.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, (0..50).map(|i| format!("m-{i}")).collect());
    for m in &got {
        let i = m.id.strip_prefix("m-").unwrap();
        assert!(m.body.starts_with(&format!("{i}:")) && m.body.len() > 4096);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sinks_on_one_file_do_not_interleave_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messages.jsonl");
    let a = LocalSink::new(&path).unwrap();
    let b = LocalSink::new(&path).unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let sink = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let m = Message::email(format!("m-{i}"), "a@b.c", "s", "y".repeat(2000), "load");
                sink.send(&m).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(read_messages(&path).unwrap().len(), 40);
}

#[tokio::test]
async fn a_removed_file_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/messages.jsonl");
    let sink = LocalSink::new(&path).unwrap();
    sink.send(&Message::sms("1", "+4917000000", "a", "p"))
        .await
        .unwrap();
    std::fs::remove_dir_all(dir.path().join("sub")).unwrap();
    sink.send(&Message::sms("2", "+4917000000", "b", "p"))
        .await
        .unwrap();
    let got = read_messages(&path).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "2");
}

#[test]
fn a_corrupt_line_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messages.jsonl");
    std::fs::write(&path, "{\"id\":\"1\"}\n").unwrap();
    let err = read_messages(&path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("line 1"), "{err}");
}
