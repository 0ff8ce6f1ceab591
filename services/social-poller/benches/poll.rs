//! Poll benchmark (issue 14: "a group of 100k members and 1k posts diffed
//! per poll"): prints figures, asserts nothing.
//!
//! A group of `SOCIAL_BENCH_MEMBERS` (100 000) members and
//! `SOCIAL_BENCH_POSTS` (1 000) posts, each with `SOCIAL_BENCH_LIKES` (20)
//! likes, 5 comments and 2 reposts, goes through the group's aggregate and
//! a real event log on disk the way a poll does (`Command::Observe` under
//! `kit::aggregate::Repository`): first the baseline, then
//! `SOCIAL_BENCH_POLLS` (5) polls with 1 % of the members and likes
//! changed. Prints the time of each poll, the activity it detected, and the
//! process's peak resident memory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{TimeZone, Utc};
use kit::aggregate::{Executed, Repository};
use kit::bench::env;
use kit::log::{EventLog, Metadata};
use social_poller::domain::activity::{GroupKey, Network};
use social_poller::domain::group::{Command, Group, Observation, PostObservation, Settings};

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident memory of this process (`VmHWM`), in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The group at poll `round`: members and likers shift by 1 % a round.
fn observation(members: u64, posts: u64, likes: u64, round: u64) -> Observation {
    let shift = members / 100 * round;
    Observation {
        members: (shift..members + shift).map(|m| m.to_string()).collect(),
        members_complete: true,
        posts: (0..posts)
            .map(|p| {
                let start = p * 7 + if p % 100 == 0 { round } else { 0 };
                let post = PostObservation {
                    date: None,
                    complete: true,
                    likes: (start..start + likes)
                        .map(|u| u.to_string())
                        .collect::<BTreeSet<_>>(),
                    comments: (0..5)
                        .map(|c| (format!("{p}{c}"), (p + c).to_string()))
                        .collect::<BTreeMap<_, _>>(),
                    reposts: (0..2)
                        .map(|r| (format!("{}_{r}", p + r), (p + r).to_string()))
                        .collect(),
                };
                (p.to_string(), post)
            })
            .collect(),
    }
}

fn main() {
    let members: u64 = env("SOCIAL_BENCH_MEMBERS", 100_000);
    let posts: u64 = env("SOCIAL_BENCH_POSTS", 1_000);
    let likes: u64 = env("SOCIAL_BENCH_LIKES", 20);
    let polls: u64 = env("SOCIAL_BENCH_POLLS", 5);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let log = EventLog::open(dir.path().join("eventlog")).unwrap();
        let repo: Repository<Group> = Repository::new(log);
        let key = GroupKey {
            network: Network::Vk,
            group_id: "42".into(),
        };
        let stream = key.stream();
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
        let settings = Settings {
            key,
            credentials_ref: "vk-main".into(),
            poll_interval_secs: 900,
            recent_posts: 100,
            reward_existing: false,
            callback_secret_ref: None,
            callback_confirmation: String::new(),
        };
        repo.execute(&stream, &Command::Connect { settings, at }, None, Metadata::default(), |_, _| Vec::new())
            .await
            .unwrap();
        println!("social poll: {members} members, {posts} posts × ({likes} likes, 5 comments, 2 reposts)");
        for round in 0..=polls {
            let seen = observation(members, posts, likes, round);
            let started = Instant::now();
            let command = Command::Observe {
                observation: seen,
                since: u64::MAX,
                at,
            };
            // As the service does: a large diff in parts, until the
            // poll's own event.
            let mut detected = 0;
            loop {
                let Executed::Applied { events, .. } = repo
                    .execute(&stream, &command, None, Metadata::default(), |_, _| Vec::new())
                    .await
                    .unwrap()
                else {
                    break;
                };
                let done = events.last().is_none_or(|e| e.event_type.ends_with("GroupPolled"));
                detected += events.len() - usize::from(done);
                if done {
                    break;
                }
            }
            let what = if round == 0 { "baseline" } else { "poll" };
            println!(
                "  {what} {round}: {detected} activities detected in {:.1} ms; peak memory {:.0} MiB",
                started.elapsed().as_secs_f64() * 1000.0,
                peak_mib()
            );
        }
    });
}
