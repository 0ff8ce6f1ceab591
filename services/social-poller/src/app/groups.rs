//! Groups: connect, read, poll. A poll reads the group through its
//! network's connector and runs the observation through the group's
//! aggregate: the diff against the snapshot in the log becomes activity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit::aggregate::Idempotency;
use kit::aggregate::Repository;
use kit::clock::Clock;
use kit::log::{EventLog, Metadata, RecordedEvent, request_hash};
use kit::projection::ProjectionHandle;

use crate::connector::{Connector, ConnectorError};
use crate::domain::activity::{Activity, GroupKey};
use crate::domain::group::{Change, Command, Event, Group, Settings};
use crate::error::ApiError;
use crate::secrets::Secrets;

/// Longest a poll may read its network unless configured
/// ([`Groups::with_poll_deadline`]); past it the poll fails (and is
/// retried), so no group holds its slot forever.
pub const MAX_POLL: Duration = Duration::from_secs(30 * 60);

/// Longest `ListActivity` waits for the activity index to catch up.
pub const INDEX_WAIT: Duration = Duration::from_secs(2);

/// What a poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// Read and diffed: how much activity it detected.
    Polled(u32),
    /// The network asked to slow down.
    RateLimited(String),
    /// The network's daily limit is spent: retried the next day.
    DailyLimit(String),
    /// The network refused the credentials: the group is disabled.
    Disabled(String),
    /// Unreachable, nonsense, or no token: retried later.
    Failed(String),
}

/// A group as the API shows it.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// The aggregate.
    pub group: Group,
    /// The last poll's failure to be retried, if any.
    pub last_error: Option<String>,
}

/// The groups.
pub struct Groups {
    repo: Repository<Group>,
    connector: Arc<dyn Connector>,
    secrets: Secrets,
    clock: Clock,
    last_errors: Mutex<HashMap<GroupKey, String>>,
    /// One poll per group at a time (scheduled or `PollNow`).
    polling: Mutex<HashMap<GroupKey, Arc<tokio::sync::Mutex<()>>>>,
    activity_index: Option<ProjectionHandle>,
    poll_deadline: Duration,
}

impl Groups {
    /// Groups in `log`, read through `connector` with tokens from `secrets`.
    pub fn new(
        log: Arc<EventLog>,
        connector: Arc<dyn Connector>,
        secrets: Secrets,
        clock: Clock,
    ) -> Self {
        Self {
            repo: Repository::new(log),
            connector,
            secrets,
            clock,
            last_errors: Mutex::default(),
            polling: Mutex::default(),
            activity_index: None,
            poll_deadline: MAX_POLL,
        }
    }

    /// Polls read their network for at most `deadline`.
    pub fn with_poll_deadline(mut self, deadline: Duration) -> Self {
        self.poll_deadline = deadline;
        self
    }

    /// Answers [`Groups::activity`] from the `activity` projection.
    pub fn with_activity_index(mut self, index: ProjectionHandle) -> Self {
        self.activity_index = Some(index);
        self
    }

    /// Connects or reconfigures a group (re-enabling a disabled one).
    pub async fn connect(&self, settings: Settings) -> Result<GroupView, ApiError> {
        let key = settings.key.clone();
        let command = Command::Connect {
            settings,
            at: (self.clock)(),
        };
        self.repo
            .execute(
                &key.stream(),
                &command,
                None,
                Metadata::default(),
                |_, _| Vec::new(),
            )
            .await?;
        self.forget_error(&key);
        self.get(&key)
    }

    /// A group; NOT_FOUND when never connected.
    pub fn get(&self, key: &GroupKey) -> Result<GroupView, ApiError> {
        let (group, _) = self.repo.load(&key.stream())?;
        if group.settings.is_none() {
            return Err(ApiError::GroupNotFound(key.to_string()));
        }
        let last_error = self
            .last_errors
            .lock()
            .map_or(None, |m| m.get(key).cloned());
        Ok(GroupView { group, last_error })
    }

    fn remember_error(&self, key: &GroupKey, error: &str) {
        if let Ok(mut m) = self.last_errors.lock() {
            m.insert(key.clone(), error.to_owned());
        }
    }

    fn forget_error(&self, key: &GroupKey) {
        if let Ok(mut m) = self.last_errors.lock() {
            m.remove(key);
        }
    }

    /// The lock of a group's polls; locks no poll holds are dropped, so
    /// the map holds at most the polls in flight plus one.
    fn poll_lock(&self, key: &GroupKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.polling.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        Arc::clone(locks.entry(key.clone()).or_default())
    }

    /// Polls a group now; waits for a poll of the same group in flight to
    /// end first, so two polls never diff the same snapshot.
    pub async fn poll(&self, key: &GroupKey) -> Result<PollOutcome, ApiError> {
        let lock = self.poll_lock(key);
        let _polling = lock.lock().await;
        let view = self.get(key)?;
        let Some(settings) = view.group.settings else {
            return Err(ApiError::GroupNotFound(key.to_string()));
        };
        if let Some(reason) = view.group.disabled {
            return Ok(PollOutcome::Disabled(reason));
        }
        let token = match self.secrets.get(&settings.credentials_ref) {
            Ok(t) => t,
            Err(e) => {
                self.remember_error(key, &e);
                return Ok(PollOutcome::Failed(e));
            }
        };
        let deadline = self.poll_deadline;
        let observed = tokio::time::timeout(deadline, self.connector.observe(&settings, &token))
            .await
            .unwrap_or_else(|_| {
                Err(ConnectorError::Failed(format!(
                    "the poll took longer than {} s",
                    deadline.as_secs()
                )))
            });
        let stream = key.stream();
        match observed {
            Ok(observation) => {
                let command = Command::Observe {
                    observation,
                    since: view.group.sequence,
                    at: (self.clock)(),
                };
                // A large diff is recorded in parts (see
                // `MAX_ACTIVITY_PER_APPEND`); the last part ends with the
                // poll's own event.
                let mut detected = 0usize;
                loop {
                    let executed = self
                        .repo
                        .execute(&stream, &command, None, Metadata::default(), |_, _| {
                            Vec::new()
                        })
                        .await?;
                    let kit::aggregate::Executed::Applied { events, .. } = executed else {
                        break;
                    };
                    let done = events
                        .last()
                        .is_none_or(|e| e.event_type == crate::events::types::GROUP_POLLED);
                    detected += events.len() - usize::from(done && !events.is_empty());
                    if done {
                        break;
                    }
                }
                self.forget_error(key);
                Ok(PollOutcome::Polled(
                    u32::try_from(detected).unwrap_or(u32::MAX),
                ))
            }
            Err(ConnectorError::Refused(reason)) => {
                tracing::warn!(group = %key, %reason, "the network refused the group's credentials: disabled");
                let command = Command::Disable {
                    reason: reason.clone(),
                    at: (self.clock)(),
                };
                self.repo
                    .execute(&stream, &command, None, Metadata::default(), |_, _| {
                        Vec::new()
                    })
                    .await?;
                self.forget_error(key);
                Ok(PollOutcome::Disabled(reason))
            }
            Err(ConnectorError::RateLimited(reason)) => {
                tracing::info!(group = %key, %reason, "rate limited: backing off");
                self.remember_error(key, &reason);
                Ok(PollOutcome::RateLimited(reason))
            }
            Err(ConnectorError::DailyLimit(reason)) => {
                tracing::warn!(group = %key, %reason, "daily limit reached: next poll tomorrow");
                self.remember_error(key, &reason);
                Ok(PollOutcome::DailyLimit(reason))
            }
            Err(ConnectorError::Failed(reason)) => {
                tracing::warn!(group = %key, %reason, "poll failed: retried later");
                self.remember_error(key, &reason);
                Ok(PollOutcome::Failed(reason))
            }
        }
    }

    /// The secrets file.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Applies a change the network pushed, once per `event_id` (the
    /// network's delivery id: a retried delivery changes nothing); how much
    /// activity it detected.
    pub async fn push(
        &self,
        key: &GroupKey,
        change: Change,
        event_id: &str,
    ) -> Result<usize, ApiError> {
        let idem = format!("vk-callback/{}/{event_id}", key.group_id);
        let idempotency = Idempotency {
            request_hash: request_hash(idem.as_bytes()),
            key: idem,
        };
        let command = Command::Push {
            change,
            at: (self.clock)(),
        };
        let executed = self
            .repo
            .execute(
                &key.stream(),
                &command,
                Some(idempotency),
                Metadata::default(),
                |_, _| Vec::new(),
            )
            .await?;
        Ok(match executed {
            kit::aggregate::Executed::Applied { events, .. } => events.len(),
            kit::aggregate::Executed::Repeated { .. } => 0,
        })
    }

    /// A group's activity after sequence `after`, at most `max`, oldest
    /// first: one page of the `activity` index (caught up with what was
    /// appended before the call, or after [`INDEX_WAIT`]).
    pub async fn activity(
        &self,
        key: &GroupKey,
        after: u64,
        max: usize,
    ) -> Result<Vec<Activity>, ApiError> {
        self.get(key)?;
        let Some(index) = &self.activity_index else {
            return Err(ApiError::Unexpected(anyhow::anyhow!(
                "the activity index is not running"
            )));
        };
        let log = self.repo.log();
        index.wait_for(log.head(), INDEX_WAIT).await;
        Ok(crate::projections::activity::page(
            index.tree(),
            log,
            &key.stream(),
            after,
            max,
        )?)
    }
}

/// The activity an event of a group's stream carries, if any.
pub fn activity_of(e: &RecordedEvent) -> Result<Option<Activity>, ApiError> {
    use crate::events::types;
    use kit::aggregate::DomainEvent;
    if e.event_type != types::ACTIVITY_DETECTED && e.event_type != types::ACTIVITY_REMOVED {
        return Ok(None);
    }
    match Event::decode(&e.event_type, &e.payload).map_err(|d| ApiError::Unexpected(d.into()))? {
        Event::Detected(a) | Event::Removed(a) => Ok(Some(a)),
        _ => Ok(None),
    }
}
