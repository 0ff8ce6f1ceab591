//! The poll schedule: each active group is polled every interval (with
//! jitter), sooner after `PollNow` wakes it, and later — exponentially —
//! after a rate limit or a failure. Time comes from tokio's clock, so tests
//! pause and advance it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use kit::clock::Clock;
use kit::projection::ProjectionHandle;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::groups::{Groups, PollOutcome};
use crate::domain::activity::GroupKey;
use crate::domain::schedule::{Ended, JITTER_DRAW, next_pause};
use crate::error::ApiError;
use rust_decimal::Decimal;

/// How often the list of groups is re-read when nothing else happens.
const REFRESH: Duration = Duration::from_secs(60);

/// Most groups polled at once.
pub const MAX_CONCURRENT_POLLS: usize = 4;

/// The streams of every connected group (the `groups` projection's rows).
pub type GroupList = Box<dyn Fn() -> Vec<String> + Send + Sync>;

/// The groups listed by the `groups` projection.
pub fn listed(handle: ProjectionHandle) -> GroupList {
    Box::new(move || crate::projections::groups::streams(handle.tree()).unwrap_or_default())
}

/// The scheduler.
pub struct Scheduler {
    groups: Arc<Groups>,
    clock: Clock,
    list: GroupList,
    jitter: Decimal,
    /// Wakes the scheduler to re-read the groups (a group was connected).
    pub wake: Arc<Notify>,
}

struct Due {
    at: Instant,
    failures: u32,
    interval: Duration,
}

impl Scheduler {
    /// Polls `groups` that `list` names (see [`listed`]), spreading polls
    /// by `jitter` of their interval; `clock` says how long ago a group was
    /// last polled.
    pub fn new(groups: Arc<Groups>, list: GroupList, jitter: Decimal, clock: Clock) -> Self {
        Self {
            groups,
            clock,
            list,
            jitter,
            wake: Arc::default(),
        }
    }

    /// Active groups with their interval and how long until their next
    /// poll is due: an interval after the last poll recorded in the log (so
    /// a restart does not push every poll back a whole interval), or after
    /// now for a group never polled.
    fn active(&self) -> Vec<(GroupKey, Duration, Option<Duration>)> {
        let streams = (self.list)();
        streams
            .iter()
            .filter_map(|s| {
                let (network, group_id) = s.strip_prefix("group/")?.split_once('/')?;
                let key = GroupKey {
                    network: crate::domain::activity::Network::from_name(network)?,
                    group_id: group_id.to_owned(),
                };
                let view = self.groups.get(&key).ok()?;
                let settings = view.group.settings?;
                let interval = Duration::from_secs(u64::from(settings.poll_interval_secs));
                let until = view.group.last_polled_at.map(|last| {
                    let since = ((self.clock)() - last).to_std().unwrap_or_default();
                    interval.saturating_sub(since)
                });
                view.group
                    .disabled
                    .is_none()
                    .then_some((key, interval, until))
            })
            .collect()
    }

    fn random_jitter() -> i32 {
        rand::random_range(-JITTER_DRAW..=JITTER_DRAW)
    }

    /// Polls until `shutdown`: due groups concurrently, at most
    /// [`MAX_CONCURRENT_POLLS`] at once and each group once at a time, so
    /// a slow group delays no other (and a poll has a deadline, see
    /// `--poll-deadline-secs`).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut due: BTreeMap<GroupKey, Due> = BTreeMap::new();
        let mut running: JoinSet<(GroupKey, Result<PollOutcome, ApiError>)> = JoinSet::new();
        let mut in_flight: BTreeSet<GroupKey> = BTreeSet::new();
        loop {
            let now = Instant::now();
            let active = self.active();
            due.retain(|k, _| active.iter().any(|(a, _, _)| a == k));
            for (key, interval, until) in active {
                let first = until.unwrap_or_else(|| {
                    next_pause(interval, self.jitter, Self::random_jitter(), Ended::Polled)
                });
                let d = due.entry(key).or_insert(Due {
                    at: now + first,
                    failures: 0,
                    interval,
                });
                if d.interval != interval {
                    d.interval = interval;
                    d.at = d.at.min(now + interval);
                }
            }
            // Start every due group not being polled, up to the limit,
            // the longest overdue first.
            let mut ready: Vec<(Instant, GroupKey)> = due
                .iter()
                .filter(|(k, d)| d.at <= now && !in_flight.contains(*k))
                .map(|(k, d)| (d.at, k.clone()))
                .collect();
            ready.sort();
            for (_, key) in ready {
                if in_flight.len() >= MAX_CONCURRENT_POLLS {
                    break;
                }
                in_flight.insert(key.clone());
                let groups = Arc::clone(&self.groups);
                running.spawn(async move {
                    // A panicking poll is a failed poll: its group stays
                    // scheduled.
                    let outcome = std::panic::AssertUnwindSafe(groups.poll(&key))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| {
                            Err(ApiError::Unexpected(anyhow::anyhow!("the poll panicked")))
                        });
                    (key, outcome)
                });
            }
            let next = due
                .iter()
                .filter(|(k, _)| !in_flight.contains(*k))
                .map(|(_, d)| d.at)
                .min();
            let until = next.map_or(now + REFRESH, |at| at.min(now + REFRESH));
            // With every slot taken, only a finished poll frees one; while
            // polls run and nothing else is due, their end (or a wake) is
            // what comes next.
            let sleep =
                in_flight.len() < MAX_CONCURRENT_POLLS && (next.is_some() || in_flight.is_empty());
            tokio::select! {
                _ = shutdown.cancelled() => {
                    running.shutdown().await;
                    return;
                }
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(until), if sleep => {}
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    // Polls are only aborted at shutdown.
                    let Ok((key, outcome)) = joined else { continue };
                    in_flight.remove(&key);
                    self.finished(&mut due, &key, &outcome);
                }
            }
        }
    }

    fn finished(
        &self,
        due: &mut BTreeMap<GroupKey, Due>,
        key: &GroupKey,
        outcome: &Result<PollOutcome, ApiError>,
    ) {
        let Some(d) = due.get_mut(key) else { return };
        if let Ok(PollOutcome::DailyLimit(_)) = outcome {
            // Spent for today: the next UTC day.
            let now = (self.clock)();
            let tomorrow = now
                .date_naive()
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            let wait = tomorrow
                .and_then(|t| (t - now).to_std().ok())
                .unwrap_or(d.interval);
            d.failures += 1;
            d.at = Instant::now() + wait;
            return;
        }
        let ended = match outcome {
            Ok(PollOutcome::Polled(_)) => {
                d.failures = 0;
                Ended::Polled
            }
            Ok(_) | Err(_) => {
                d.failures += 1;
                Ended::Retry(d.failures)
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(group = %key, error = %e, "scheduled poll failed");
        }
        d.at = Instant::now() + next_pause(d.interval, self.jitter, Self::random_jitter(), ended);
    }
}
