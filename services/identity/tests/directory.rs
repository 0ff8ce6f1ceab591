//! The member directory over a real event log: one e-mail confirmed by two
//! members is held by both, and a member who moves on leaves the other.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::append;
use identity::domain::event as ev;
use identity::domain::model::Channel;
use identity::events::Event;
use identity::projections::directory::{Directory, contact_prefix};
use kit::log::{EventLog, ExpectedVersion};

async fn confirm(log: &EventLog, member: &str, email: &str) {
    let e = Event::ContactConfirmed(ev::ContactConfirmed {
        channel: Channel::Email,
        value: email.into(),
    });
    append(log, &format!("member/{member}"), ExpectedVersion::Any, e).await;
}

fn holders(log: &EventLog, tree: &sled::Tree, email: &str) -> Vec<String> {
    kit::projection::catch_up(log, &Directory, tree, |_| {}).unwrap();
    let prefix = contact_prefix(Channel::Email, email);
    tree.scan_prefix(&prefix)
        .map(|r| String::from_utf8(r.unwrap().0[prefix.len()..].to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_shared_address_is_held_by_each_member_until_they_move_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let tree = log.db().open_tree("proj/directory").unwrap();
    confirm(&log, "a", "Shared@Example.org").await;
    confirm(&log, "b", "shared@example.org").await;
    assert_eq!(holders(&log, &tree, "shared@example.org"), ["a", "b"]);
    confirm(&log, "b", "b@example.org").await;
    assert_eq!(holders(&log, &tree, "shared@example.org"), ["a"]);
    assert_eq!(holders(&log, &tree, "b@example.org"), ["b"]);
}
