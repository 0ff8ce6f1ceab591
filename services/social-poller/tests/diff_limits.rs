//! What a poll may not conclude from what it could not see: removals from
//! a cut-off listing, removals of what was pushed while the poll ran, and
//! rewards for old activity on a post seen for the first time. Given
//! events, when an observation arrives, then the activity.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kit::aggregate::{given_when, replay};
use social_poller::domain::activity::{ActivityKind, GroupKey, Network};
use social_poller::domain::group::{Change, Command, Event, Group, Observation, PostObservation};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()
}

fn key() -> GroupKey {
    GroupKey {
        network: Network::Vk,
        group_id: "42".into(),
    }
}

fn connected() -> Vec<Event> {
    vec![Event::Connected {
        settings: common::group_42(),
        at: at(),
    }]
}

fn post(likes: &[&str], complete: bool, date: Option<DateTime<Utc>>) -> PostObservation {
    PostObservation {
        date,
        complete,
        likes: likes.iter().map(|s| s.to_string()).collect(),
        comments: BTreeMap::new(),
        reposts: BTreeMap::new(),
    }
}

fn seen(members: &[&str], complete: bool, posts: &[(&str, PostObservation)]) -> Observation {
    Observation {
        members: members.iter().map(|s| s.to_string()).collect(),
        members_complete: complete,
        posts: posts
            .iter()
            .map(|(id, p)| (id.to_string(), p.clone()))
            .collect(),
    }
}

fn observe(given: &[Event], o: Observation, since: u64, when: DateTime<Utc>) -> Vec<Event> {
    let events = given_when::<Group>(
        given,
        &Command::Observe {
            observation: o,
            since,
            at: when,
        },
    )
    .unwrap();
    let mut all = given.to_vec();
    all.extend(events);
    all
}

/// (kind, post, user, baseline) of the activity among `events`.
fn activity(events: &[Event]) -> Vec<(ActivityKind, String, String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Detected(a) | Event::Removed(a) => {
                Some((a.kind, a.post_id.clone(), a.user.clone(), a.baseline))
            }
            _ => None,
        })
        .collect()
}

fn new_since(given: &[Event], all: &[Event]) -> Vec<(ActivityKind, String, String, bool)> {
    activity(&all[given.len()..])
}

#[test]
fn a_cut_off_listing_removes_nothing() {
    let base = observe(
        &connected(),
        seen(&["1", "2"], true, &[("7", post(&["1", "2"], true, None))]),
        u64::MAX,
        at(),
    );
    // The member listing ended short of VK's count, and post 7's likes
    // were cut at the limit: nobody left, nobody unliked.
    let cut = observe(
        &base,
        seen(&["1"], false, &[("7", post(&["1"], false, None))]),
        u64::MAX,
        at(),
    );
    assert_eq!(new_since(&base, &cut), []);
    // Seen whole, the same is a leave and an unlike.
    let whole = observe(
        &base,
        seen(&["1"], true, &[("7", post(&["1"], true, None))]),
        u64::MAX,
        at(),
    );
    assert_eq!(
        new_since(&base, &whole),
        [
            (ActivityKind::GroupLeave, "".into(), "2".into(), false),
            (ActivityKind::Unlike, "7".into(), "2".into(), false),
        ]
    );
}

#[test]
fn activity_pushed_while_a_poll_ran_is_not_removed_by_it() {
    let base = observe(
        &connected(),
        seen(&["1"], true, &[("7", post(&["1"], true, None))]),
        u64::MAX,
        at(),
    );
    // The poll begins (the group's sequence now), then a like and a join
    // are pushed, then the poll's older observation arrives.
    let began = replay::<Group>(&base).sequence;
    let mut pushed = base.clone();
    for change in [
        Change::Like {
            post: "7".into(),
            user: "5".into(),
        },
        Change::Join { user: "5".into() },
    ] {
        let g: Group = replay(&pushed);
        pushed.extend(g.push(&key(), &change, at()));
    }
    let polled = observe(
        &pushed,
        seen(&["1"], true, &[("7", post(&["1"], true, None))]),
        began,
        at(),
    );
    assert_eq!(new_since(&pushed, &polled), []);
    let g: Group = replay(&polled);
    assert!(g.members.contains_key("5"));
    assert!(g.likes.contains_key(&("7".into(), "5".into())));
}

#[test]
fn a_post_first_seen_later_earns_only_if_published_after_the_first_poll() {
    let first = at();
    let base = observe(
        &connected(),
        seen(&["1"], true, &[("7", post(&["1"], true, Some(first)))]),
        u64::MAX,
        first,
    );
    let later = first + Duration::days(1);
    let polled = observe(
        &base,
        seen(
            &["1"],
            true,
            &[
                // Old, pinned since: what it has is a baseline.
                (
                    "3",
                    post(&["1", "2"], true, Some(first - Duration::days(30))),
                ),
                // No date: treated as old.
                ("4", post(&["1"], true, None)),
                // Published after the first poll: its likes are new.
                ("8", post(&["2"], true, Some(first + Duration::hours(1)))),
            ],
        ),
        u64::MAX,
        later,
    );
    assert_eq!(
        new_since(&base, &polled),
        [
            (ActivityKind::Like, "3".into(), "1".into(), true),
            (ActivityKind::Like, "3".into(), "2".into(), true),
            (ActivityKind::Like, "4".into(), "1".into(), true),
            (ActivityKind::Like, "8".into(), "2".into(), false),
        ]
    );
    // Once seen, the old post's new likes earn.
    let next = observe(
        &polled,
        seen(
            &["1"],
            true,
            &[(
                "3",
                post(&["1", "2", "9"], true, Some(first - Duration::days(30))),
            )],
        ),
        u64::MAX,
        later,
    );
    assert_eq!(
        new_since(&polled, &next),
        [(ActivityKind::Like, "3".into(), "9".into(), false)]
    );
}

#[test]
fn activity_pushed_away_while_a_poll_ran_is_not_added_back_by_it() {
    let base = observe(
        &connected(),
        seen(&["1", "2"], true, &[("7", post(&["1"], true, None))]),
        u64::MAX,
        at(),
    );
    // The poll begins; then an unlike and a leave are pushed; then the
    // poll's older observation (still with the like and the member)
    // arrives.
    let began = replay::<Group>(&base).sequence;
    let mut pushed = base.clone();
    for change in [
        Change::Unlike {
            post: "7".into(),
            user: "1".into(),
        },
        Change::Leave { user: "2".into() },
    ] {
        let g: Group = replay(&pushed);
        pushed.extend(g.push(&key(), &change, at()));
    }
    let stale = seen(&["1", "2"], true, &[("7", post(&["1"], true, None))]);
    let polled = observe(&pushed, stale.clone(), began, at());
    assert_eq!(new_since(&pushed, &polled), []);
    // A later poll that sees them again adds them (they came back).
    let again = observe(&polled, stale, u64::MAX, at());
    assert_eq!(
        new_since(&polled, &again),
        [
            (ActivityKind::GroupJoin, "".into(), "2".into(), false),
            (ActivityKind::Like, "7".into(), "1".into(), false),
        ]
    );
}
