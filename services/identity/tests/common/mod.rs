//! Shared by the tests that run on a real event log.
#![allow(dead_code)]

use identity::events::Event;
use kit::aggregate::DomainEvent;
use kit::log::{EventLog, ExpectedVersion, NewEvent};

/// Appends `e` to `stream` straight to the log, past the use cases.
pub async fn append(log: &EventLog, stream: &str, expected: ExpectedVersion, e: Event) {
    let new = NewEvent {
        event_type: e.event_type().to_owned(),
        payload: e.encode(),
        metadata: Default::default(),
    };
    log.append(stream, expected, vec![new]).await.unwrap();
}
