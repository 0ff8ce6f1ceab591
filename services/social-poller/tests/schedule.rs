//! The poll schedule in paused time: a group is polled every interval; a
//! rate limit or failure retries after 5 s, 10 s, ... (never later than the
//! interval); a refusal disables the group and polling stops. The stand-in
//! connector records the (virtual) instant of every poll.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use kit::clock::ManualClock;
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
    groups
        .connect(Settings {
            key: key.clone(),
            credentials_ref: "vk-main".into(),
            poll_interval_secs: 60,
            recent_posts: 10,
            reward_existing: false,
            callback_secret_ref: None,
            callback_confirmation: String::new(),
        })
        .await
        .unwrap();
    let stream = key.stream();
    let scheduler = Scheduler::new(
        Arc::clone(&groups),
        Box::new(move || vec![stream.clone()]),
        0.0,
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
    groups
        .connect(Settings {
            key: key.clone(),
            credentials_ref: "vk-main".into(),
            poll_interval_secs: 60,
            recent_posts: 10,
            reward_existing: false,
            callback_secret_ref: None,
            callback_confirmation: String::new(),
        })
        .await
        .unwrap();
    groups.poll(&key).await.unwrap();
    calls.recv().await.unwrap();
    // The service was down for 40 s: the next poll is due in 20 s.
    clock.advance(chrono::Duration::seconds(40));
    let stream = key.stream();
    let scheduler = Scheduler::new(
        Arc::clone(&groups),
        Box::new(move || vec![stream.clone()]),
        0.0,
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
