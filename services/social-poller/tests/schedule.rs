//! The poll schedule in paused time: a group is polled every interval; a
//! rate limit or failure retries after 5 s, 10 s, ... (never later than the
//! interval); a refusal disables the group and polling stops. The stand-in
//! connector records the (virtual) instant of every poll.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use kit::clock::ManualClock;
use rust_decimal::Decimal;
use social_poller::app::groups::Groups;
use social_poller::app::scheduler::Scheduler;
use social_poller::connector::{Connector, ConnectorError};
use social_poller::domain::activity::{GroupKey, Network};
use social_poller::domain::group::{Observation, Settings};
use social_poller::secrets::{Secret, Secrets};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Answers from a script; reports the instant of each call.
struct Scripted {
    answers: Mutex<VecDeque<Result<Observation, ConnectorError>>>,
    calls: mpsc::UnboundedSender<Instant>,
}

impl Connector for Scripted {
    fn observe<'a>(
        &'a self,
        _: &'a Settings,
        _: &'a Secret,
    ) -> BoxFuture<'a, Result<Observation, ConnectorError>> {
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Observation::default()));
        self.calls.send(Instant::now()).unwrap();
        async move { answer }.boxed()
    }
}

/// A group polled every minute, 10 posts, through the secret `vk-main`.
fn settings(key: GroupKey) -> Settings {
    Settings {
        key,
        poll_interval_secs: 60,
        ..common::group_42()
    }
}

#[tokio::test(start_paused = true)]
async fn polls_keep_their_interval_back_off_after_rate_limits_and_stop_when_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secrets"), "vk-main token\n").unwrap();
    let log = kit::log::EventLog::open(dir.path().join("eventlog")).unwrap();
    let limited = || {
        Err(ConnectorError::RateLimited(
            "VK error 6: Too many requests per second".into(),
        ))
    };
    let (tx, mut calls) = mpsc::unbounded_channel();
    let connector = Scripted {
        answers: Mutex::new(VecDeque::from([
            Ok(Observation::default()),
            limited(),
            limited(),
            Err(ConnectorError::Failed("connection reset".into())),
            Ok(Observation::default()),
            Err(ConnectorError::Refused(
                "VK error 5: User authorization failed".into(),
            )),
        ])),
        calls: tx,
    };
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
    let mut durable = log.subscribe();
    let groups = Arc::new(Groups::new(
        log,
        Arc::new(connector),
        Secrets::new(Some(dir.path().join("secrets"))),
        clock.clock(),
    ));
    let key = GroupKey {
        network: Network::Vk,
        group_id: "42".into(),
    };
    groups.connect(settings(key.clone())).await.unwrap();
    let stream = key.stream();
    let scheduler = Scheduler::new(
        Arc::clone(&groups),
        Box::new(move || vec![stream.clone()]),
        Decimal::ZERO,
        clock.clock(),
    );
    let start = Instant::now();
    let stop = CancellationToken::new();
    let running = tokio::spawn(scheduler.run(stop.clone()));

    let mut at = Vec::new();
    for _ in 0..6 {
        at.push(calls.recv().await.unwrap().duration_since(start).as_secs());
    }
    // 60: polled; 120: limited; +5: limited; +10: failed; +20: polled;
    // +60: refused.
    assert_eq!(at, [60, 120, 125, 135, 155, 215]);
    // The refusal is recorded right after the call: wait for the log.
    while groups.get(&key).unwrap().group.disabled.is_none() {
        durable.changed().await.unwrap();
    }
    let g = groups.get(&key).unwrap();
    assert_eq!(
        g.group.disabled.as_deref(),
        Some("VK error 5: User authorization failed")
    );
    assert_eq!(g.group.polls, 2);

    // A disabled group is not polled again, however long we wait.
    tokio::time::sleep(Duration::from_secs(7 * 24 * 3600)).await;
    assert!(calls.try_recv().is_err());
    stop.cancel();
    running.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_the_next_poll_is_an_interval_after_the_last_one_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secrets"), "vk-main token\n").unwrap();
    let log = kit::log::EventLog::open(dir.path().join("eventlog")).unwrap();
    let (tx, mut calls) = mpsc::unbounded_channel();
    let connector = Scripted {
        answers: Mutex::new(VecDeque::new()),
        calls: tx,
    };
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
    let groups = Arc::new(Groups::new(
        log,
        Arc::new(connector),
        Secrets::new(Some(dir.path().join("secrets"))),
        clock.clock(),
    ));
    let key = GroupKey {
        network: Network::Vk,
        group_id: "42".into(),
    };
    groups.connect(settings(key.clone())).await.unwrap();
    groups.poll(&key).await.unwrap();
    calls.recv().await.unwrap();
    // The service was down for 40 s: the next poll is due in 20 s.
    clock.advance(chrono::Duration::seconds(40));
    let stream = key.stream();
    let scheduler = Scheduler::new(
        Arc::clone(&groups),
        Box::new(move || vec![stream.clone()]),
        Decimal::ZERO,
        clock.clock(),
    );
    let start = Instant::now();
    let stop = CancellationToken::new();
    let running = tokio::spawn(scheduler.run(stop.clone()));
    let first = calls.recv().await.unwrap().duration_since(start).as_secs();
    assert_eq!(first, 20);
    stop.cancel();
    running.await.unwrap();
}

/// Group 42 waits for a permit per poll (none: it hangs); others fail at
/// once (so their polls touch no log and the paused clock moves only by
/// timers). Reports (group, instant) of every call.
struct Gated {
    gate: Arc<tokio::sync::Semaphore>,
    calls: mpsc::UnboundedSender<(String, Instant)>,
}

impl Connector for Gated {
    fn observe<'a>(
        &'a self,
        settings: &'a Settings,
        _: &'a Secret,
    ) -> BoxFuture<'a, Result<Observation, ConnectorError>> {
        let group = settings.key.group_id.clone();
        self.calls.send((group.clone(), Instant::now())).unwrap();
        async move {
            if group != "42" {
                return Err(ConnectorError::Failed("unreachable".into()));
            }
            self.gate.acquire().await.unwrap().forget();
            Ok(Observation::default())
        }
        .boxed()
    }
}

async fn gated_groups(
    dir: &std::path::Path,
    ids: &[&str],
) -> (
    Arc<Groups>,
    Arc<tokio::sync::Semaphore>,
    mpsc::UnboundedReceiver<(String, Instant)>,
) {
    std::fs::write(dir.join("secrets"), "vk-main token\n").unwrap();
    let log = kit::log::EventLog::open(dir.join("eventlog")).unwrap();
    let (tx, calls) = mpsc::unbounded_channel();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
    let groups = Arc::new(Groups::new(
        log,
        Arc::new(Gated {
            gate: Arc::clone(&gate),
            calls: tx,
        }),
        Secrets::new(Some(dir.join("secrets"))),
        clock.clock(),
    ));
    for id in ids {
        groups
            .connect(settings(GroupKey {
                network: Network::Vk,
                group_id: (*id).into(),
            }))
            .await
            .unwrap();
    }
    (groups, gate, calls)
}

#[tokio::test(start_paused = true)]
async fn a_hanging_group_delays_no_other_and_its_poll_fails_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (groups, _gate, mut calls) = gated_groups(dir.path(), &["42", "43"]).await;
    let scheduler = Scheduler::new(
        Arc::clone(&groups),
        Box::new(|| vec!["group/vk/42".to_owned(), "group/vk/43".to_owned()]),
        Decimal::ZERO,
        ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()).clock(),
    );
    let start = Instant::now();
    let stop = CancellationToken::new();
    let running = tokio::spawn(scheduler.run(stop.clone()));
    let mut seen = Vec::new();
    // 42 hangs from 60 s on; 43 keeps its own schedule meanwhile (failing:
    // 5 s, 10 s, ... up to the interval), and 42 is polled again only after
    // its poll failed at the deadline (+5 s).
    while seen.iter().filter(|(g, _)| g == "42").count() < 2 {
        let (g, at) = calls.recv().await.unwrap();
        seen.push((g, at.duration_since(start).as_secs()));
    }
    let of = |id: &str| -> Vec<u64> {
        seen.iter()
            .filter(|(g, _)| g == id)
            .map(|(_, s)| *s)
            .collect()
    };
    let deadline = social_poller::app::groups::MAX_POLL.as_secs();
    assert_eq!(of("42"), [60, 60 + deadline + 5]);
    let mut expected = vec![60, 65, 75, 95, 135];
    while expected.last().unwrap() + 60 < 60 + deadline + 5 {
        expected.push(expected.last().unwrap() + 60);
    }
    assert_eq!(of("43"), expected);
    let key = GroupKey {
        network: Network::Vk,
        group_id: "42".into(),
    };
    assert_eq!(
        groups.get(&key).unwrap().last_error.as_deref(),
        Some(format!("the poll took longer than {deadline} s").as_str())
    );
    stop.cancel();
    running.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn two_polls_of_one_group_run_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (groups, gate, mut calls) = gated_groups(dir.path(), &["42"]).await;
    let key = GroupKey {
        network: Network::Vk,
        group_id: "42".into(),
    };
    let first = tokio::spawn({
        let (groups, key) = (Arc::clone(&groups), key.clone());
        async move { groups.poll(&key).await }
    });
    let second = tokio::spawn({
        let (groups, key) = (Arc::clone(&groups), key.clone());
        async move { groups.poll(&key).await }
    });
    calls.recv().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The second waits for the first: the network was asked once.
    assert!(calls.try_recv().is_err());
    gate.add_permits(1);
    calls.recv().await.unwrap();
    gate.add_permits(1);
    for poll in [first, second] {
        assert!(matches!(
            poll.await.unwrap().unwrap(),
            social_poller::app::groups::PollOutcome::Polled(_)
        ));
    }
    assert_eq!(groups.get(&key).unwrap().group.polls, 2);
}

#[tokio::test(start_paused = true)]
async fn after_the_daily_limit_the_next_poll_is_the_next_day() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secrets"), "vk-main token\n").unwrap();
    let log = kit::log::EventLog::open(dir.path().join("eventlog")).unwrap();
    let (tx, mut calls) = mpsc::unbounded_channel();
    let connector = Scripted {
        answers: Mutex::new(VecDeque::from([Err(ConnectorError::DailyLimit(
            "VK error 29: Rate limit reached".into(),
        ))])),
        calls: tx,
    };
    // 10:00 UTC: the next day starts in 14 hours.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
    let groups = Arc::new(Groups::new(
        log,
        Arc::new(connector),
        Secrets::new(Some(dir.path().join("secrets"))),
        clock.clock(),
    ));
    let key = GroupKey {
        network: Network::Vk,
        group_id: "42".into(),
    };
    groups.connect(settings(key.clone())).await.unwrap();
    let stream = key.stream();
    let scheduler = Scheduler::new(
        Arc::clone(&groups),
        Box::new(move || vec![stream.clone()]),
        Decimal::ZERO,
        clock.clock(),
    );
    let start = Instant::now();
    let stop = CancellationToken::new();
    let running = tokio::spawn(scheduler.run(stop.clone()));
    let mut at = Vec::new();
    for _ in 0..2 {
        at.push(calls.recv().await.unwrap().duration_since(start).as_secs());
    }
    assert_eq!(at, [60, 60 + 14 * 3600]);
    stop.cancel();
    running.await.unwrap();
}
