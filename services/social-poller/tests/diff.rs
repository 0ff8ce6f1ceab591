//! The diff of a group's snapshot against a poll's observation: given
//! events, when an observation arrives, then the activity it detects; and
//! properties: after folding, the snapshot is what was seen, and seeing the
//! same again detects nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use kit::aggregate::{Aggregate, given_when, replay};
use proptest::prelude::*;
use social_poller::domain::activity::ActivityKind;
use social_poller::domain::group::{
    Command, Event, Group, GroupError, Observation, PostObservation, Settings,
};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()
}

fn settings(reward_existing: bool) -> Settings {
    Settings {
        reward_existing,
        ..common::group_42()
    }
}

fn connected(reward_existing: bool) -> Vec<Event> {
    vec![Event::Connected {
        settings: settings(reward_existing),
        at: at(),
    }]
}

/// A post: id, likers, (comment, author), (repost, user).
type Post<'a> = (
    &'a str,
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, &'a str)],
);

fn seen(members: &[&str], post: Option<Post<'_>>) -> Observation {
    let mut posts = BTreeMap::new();
    if let Some((id, likes, comments, reposts)) = post {
        posts.insert(
            id.to_owned(),
            PostObservation {
                date: None,
                complete: true,
                likes: likes.iter().map(|s| s.to_string()).collect(),
                comments: comments
                    .iter()
                    .map(|(c, u)| (c.to_string(), u.to_string()))
                    .collect(),
                reposts: reposts
                    .iter()
                    .map(|(r, u)| (r.to_string(), u.to_string()))
                    .collect(),
            },
        );
    }
    Observation {
        members: members.iter().map(|s| s.to_string()).collect(),
        members_complete: true,
        posts,
    }
}

fn observe(o: Observation) -> Command {
    Command::Observe {
        observation: o,
        since: u64::MAX,
        at: at(),
    }
}

/// (kind, user, reverses) of each activity event.
fn activity(events: &[Event]) -> Vec<(ActivityKind, String, bool, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Detected(a) | Event::Removed(a) => {
                Some((a.kind, a.user.clone(), a.baseline, a.reverses.clone()))
            }
            _ => None,
        })
        .collect()
}

fn then(given: &[Event], o: Observation) -> Vec<Event> {
    let mut all = given.to_vec();
    all.extend(given_when::<Group>(given, &observe(o)).unwrap());
    all
}

#[test]
fn a_poll_of_a_group_never_connected_is_refused() {
    assert_eq!(
        given_when::<Group>(&[], &observe(seen(&["1"], None))),
        Err(GroupError::NotConnected)
    );
}

#[test]
fn the_first_poll_is_a_baseline_unless_existing_activity_is_rewarded() {
    let first = given_when::<Group>(
        &connected(false),
        &observe(seen(&["1"], Some(("7", &["1"], &[], &[])))),
    )
    .unwrap();
    assert_eq!(
        activity(&first),
        [
            (ActivityKind::GroupJoin, "1".into(), true, None),
            (ActivityKind::Like, "1".into(), true, None)
        ]
    );
    assert!(matches!(
        first.last(),
        Some(Event::Polled { members: 1, .. })
    ));
    let rewarded = given_when::<Group>(&connected(true), &observe(seen(&["1"], None))).unwrap();
    assert_eq!(
        activity(&rewarded),
        [(ActivityKind::GroupJoin, "1".into(), false, None)]
    );
}

#[test]
fn joins_leaves_likes_comments_reposts_and_their_removal_are_detected() {
    let base = then(
        &connected(false),
        seen(&["1", "2"], Some(("7", &["1"], &[("100", "1")], &[]))),
    );
    let join_of_2 = base
        .iter()
        .find_map(|e| match e {
            Event::Detected(a) if a.kind == ActivityKind::GroupJoin && a.user == "2" => {
                Some(a.id.clone())
            }
            _ => None,
        })
        .unwrap();
    let later = given_when::<Group>(
        &base,
        &observe(seen(
            &["1", "3"],
            Some(("7", &["3"], &[("101", "3")], &[("55_9", "3")])),
        )),
    )
    .unwrap();
    assert_eq!(
        activity(&later),
        [
            (ActivityKind::GroupJoin, "3".into(), false, None),
            (ActivityKind::GroupLeave, "2".into(), false, Some(join_of_2)),
            (ActivityKind::Like, "3".into(), false, None),
            (
                ActivityKind::Unlike,
                "1".into(),
                false,
                Some("vk:g:42:3".into())
            ),
            (ActivityKind::Comment, "3".into(), false, None),
            (
                ActivityKind::CommentDelete,
                "1".into(),
                false,
                Some("vk:g:42:4".into())
            ),
            (ActivityKind::Repost, "3".into(), false, None),
        ]
    );
    let ids: Vec<String> = later
        .iter()
        .filter_map(|e| match e {
            Event::Detected(a) | Event::Removed(a) => Some(a.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        (5..=11).map(|n| format!("vk:g:42:{n}")).collect::<Vec<_>>()
    );
    let mut all = base.clone();
    all.extend(later);
    let gone = given_when::<Group>(
        &all,
        &observe(seen(&["1", "3"], Some(("7", &["3"], &[("101", "3")], &[])))),
    )
    .unwrap();
    assert_eq!(
        activity(&gone),
        [(
            ActivityKind::RepostDelete,
            "3".into(),
            false,
            Some("vk:g:42:11".into())
        )]
    );
}

#[test]
fn a_diff_larger_than_one_append_is_recorded_in_parts_and_the_last_ends_the_poll() {
    use social_poller::domain::group::MAX_ACTIVITY_PER_APPEND;
    let members: Vec<String> = (0..MAX_ACTIVITY_PER_APPEND * 2 + 10)
        .map(|n| n.to_string())
        .collect();
    let everyone = Observation {
        members: members.iter().cloned().collect(),
        members_complete: true,
        posts: BTreeMap::new(),
    };
    let mut events = connected(false);
    let mut parts = Vec::new();
    loop {
        let part = given_when::<Group>(&events, &observe(everyone.clone())).unwrap();
        let done = matches!(part.last(), Some(Event::Polled { .. }));
        parts.push(activity(&part).len());
        events.extend(part);
        if done {
            break;
        }
    }
    assert_eq!(
        parts,
        [MAX_ACTIVITY_PER_APPEND, MAX_ACTIVITY_PER_APPEND, 10]
    );
    let g: Group = replay(&events);
    assert_eq!(g.members.len(), members.len());
    assert_eq!(g.polls, 1);
    assert!(
        activity(&events)
            .iter()
            .all(|(_, _, baseline, _)| *baseline),
        "every part of the first poll is its baseline"
    );
}

#[test]
fn posts_not_read_by_a_poll_keep_their_snapshot() {
    let base = then(
        &connected(true),
        seen(&["1"], Some(("7", &["1"], &[], &[]))),
    );
    let other_post =
        given_when::<Group>(&base, &observe(seen(&["1"], Some(("8", &[], &[], &[]))))).unwrap();
    assert_eq!(activity(&other_post), []);
}

#[test]
fn a_disabled_group_is_not_polled_until_connected_again() {
    let mut given = connected(false);
    given.extend(
        given_when::<Group>(
            &given,
            &Command::Disable {
                reason: "VK error 5: expired".into(),
                at: at(),
            },
        )
        .unwrap(),
    );
    assert_eq!(
        given_when::<Group>(&given, &observe(seen(&[], None))),
        Err(GroupError::Disabled("VK error 5: expired".into()))
    );
    let again = given_when::<Group>(
        &given,
        &Command::Connect {
            settings: settings(false),
            at: at(),
        },
    )
    .unwrap();
    given.extend(again);
    assert!(given_when::<Group>(&given, &observe(seen(&[], None))).is_ok());
}

fn author(id: &str) -> String {
    (id.bytes().next().unwrap_or(0) % 9 + 1).to_string()
}

fn observation() -> impl Strategy<Value = Observation> {
    let users = prop::collection::btree_set("[1-9]", 0..6);
    let post = (
        prop::collection::btree_set("[1-9]", 0..5),
        prop::collection::btree_set("[a-d]", 0..4),
        prop::collection::btree_set("[w-z]", 0..3),
    )
        // A comment's or repost's author never changes: derive it from the id.
        .prop_map(|(likes, comments, reposts)| PostObservation {
            date: None,
            complete: true,
            likes,
            comments: comments
                .into_iter()
                .map(|c| (c.clone(), author(&c)))
                .collect(),
            reposts: reposts
                .into_iter()
                .map(|r| (r.clone(), author(&r)))
                .collect(),
        });
    (users, prop::collection::btree_map("[1-3]", post, 0..3)).prop_map(|(members, posts)| {
        Observation {
            members,
            members_complete: true,
            posts,
        }
    })
}

proptest! {
    #[test]
    fn folding_the_diff_gives_what_was_seen_and_seeing_it_again_detects_nothing(
        polls in prop::collection::vec(observation(), 1..6)
    ) {
        let mut events = connected(true);
        let mut posts_seen: BTreeMap<String, PostObservation> = BTreeMap::new();
        for o in &polls {
            let new = given_when::<Group>(&events, &observe(o.clone())).unwrap();
            events.extend(new);
            for (id, p) in &o.posts {
                posts_seen.insert(id.clone(), p.clone());
            }
            let g: Group = replay(&events);
            prop_assert_eq!(g.members.keys().cloned().collect::<BTreeSet<_>>(), o.members.clone());
            for (id, p) in &posts_seen {
                let likes: BTreeSet<String> = g.likes.keys().filter(|(post, _)| post == id).map(|(_, u)| u.clone()).collect();
                prop_assert_eq!(&likes, &p.likes);
                let comments: BTreeMap<String, String> = g.comments.iter().filter(|((post, _), _)| post == id).map(|((_, c), (u, _))| (c.clone(), u.clone())).collect();
                prop_assert_eq!(&comments, &p.comments);
                let reposts: BTreeMap<String, String> = g.reposts.iter().filter(|((post, _), _)| post == id).map(|((_, r), (u, _))| (r.clone(), u.clone())).collect();
                prop_assert_eq!(&reposts, &p.reposts);
            }
            let again = replay::<Group>(&events).decide(&observe(o.clone())).unwrap();
            prop_assert_eq!(activity(&again), vec![]);
        }
        let ids: Vec<u64> = events.iter().filter_map(|e| match e {
            Event::Detected(a) | Event::Removed(a) => Some(a.sequence()),
            _ => None,
        }).collect();
        prop_assert_eq!(ids, (1..).take(ids_len(&events)).collect::<Vec<u64>>());
    }
}

fn ids_len(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Detected(_) | Event::Removed(_)))
        .count()
}
