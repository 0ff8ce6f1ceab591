//! The rewarder follows the event log: each detected or removed activity is
//! matched to its member through identity and applied to the member's
//! promotions (counters, rewards and penalties for the ledger); activity of
//! users linked to nobody is held, and credited once they link. Its
//! checkpoint (the last position handled) is kept next to the log, and
//! every application is idempotent by activity id, so a restart resumes
//! without counting anything twice.

use std::sync::Arc;
use std::time::Duration;

use kit::aggregate::{DomainEvent, Idempotency, Repository};
use kit::log::{EventLog, Metadata, RecordedEvent, request_hash};
use tokio_util::sync::CancellationToken;

use crate::app::groups::activity_of;
use crate::app::promotions::member_stream;
use crate::domain::activity::Activity;
use crate::domain::catalog::{self, Catalog};
use crate::domain::held::{self, Held};
use crate::domain::member::{Apply, Member};
use crate::error::ApiError;
use crate::events::types;
use crate::upstream::Identity;

/// Tree holding the checkpoint.
const TREE: &str = "social-rewarder";
/// Tree of the events the rewarder could never handle (position → why):
/// undecodable, or naming a member id the ledger refuses.
pub const DEAD_LETTERS: &str = "social-rewarder-dead-letters";
/// Longest member id the ledger accepts.
pub const MAX_MEMBER_ID: usize = 128;
const CHECKPOINT: &[u8] = b"checkpoint";
/// Events read at once.
const BATCH: usize = 256;
/// Longest pause between retries while identity or the log fails.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The stream of a user's held activity.
pub fn held_stream(a: &Activity) -> String {
    format!("held/{}/{}", a.group.network.name(), a.user)
}

/// The rewarder.
pub struct Rewarder {
    log: Arc<EventLog>,
    members: Repository<Member>,
    held: Repository<Held>,
    catalog: Repository<Catalog>,
    identity: Identity,
    credit_unlinked: bool,
    tree: sled::Tree,
    dead: sled::Tree,
}

/// Whether the ledger takes `id` as a member id (its id rule: present, at
/// most 128 bytes, printable, no `/`).
pub fn ledger_member_id(id: &str) -> bool {
    !id.trim().is_empty()
        && id.len() <= MAX_MEMBER_ID
        && !id.chars().any(|c| c.is_control() || c == '/')
}

impl Rewarder {
    /// Over `log`, matching users through `identity`.
    pub fn new(
        log: Arc<EventLog>,
        identity: Identity,
        credit_unlinked: bool,
    ) -> anyhow::Result<Self> {
        let tree = log.db().open_tree(TREE)?;
        let dead = log.db().open_tree(DEAD_LETTERS)?;
        Ok(Self {
            dead,
            members: Repository::new(Arc::clone(&log)),
            held: Repository::new(Arc::clone(&log)),
            catalog: Repository::new(Arc::clone(&log)),
            log,
            identity,
            credit_unlinked,
            tree,
        })
    }

    /// The last position handled.
    pub fn checkpoint(&self) -> anyhow::Result<u64> {
        Ok(self
            .tree
            .get(CHECKPOINT)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// How many events were dead-lettered.
    pub fn dead_letters(&self) -> usize {
        self.dead.len()
    }

    /// Skips an event the rewarder can never handle: logged, and kept in
    /// [`DEAD_LETTERS`] for an operator.
    fn dead_letter(&self, e: &RecordedEvent, reason: &str) -> anyhow::Result<()> {
        let reason: String = reason.chars().take(300).collect();
        tracing::error!(
            position = e.position,
            event_type = %e.event_type,
            %reason,
            "rewarder: event skipped (dead letter)"
        );
        self.dead
            .insert(e.position.to_be_bytes(), reason.as_bytes())?;
        Ok(())
    }

    fn save(&self, position: u64) -> anyhow::Result<()> {
        self.tree.insert(CHECKPOINT, &position.to_be_bytes())?;
        Ok(())
    }

    /// Follows the log until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut durable = self.log.subscribe();
        let mut failures = 0u32;
        loop {
            match self.step().await {
                Ok(true) => failures = 0,
                Ok(false) => {
                    failures = 0;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        changed = durable.changed() => if changed.is_err() { return },
                    }
                }
                Err(e) => {
                    failures += 1;
                    let pause = Duration::from_millis(100)
                        .saturating_mul(2u32.saturating_pow(failures.min(10)))
                        .min(MAX_BACKOFF);
                    tracing::warn!(error = %format!("{e:#}"), ?pause, "rewarder: retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }

    /// Handles the next batch; false when there was nothing new.
    pub async fn step(&self) -> anyhow::Result<bool> {
        let mut checkpoint = self.checkpoint()?;
        if checkpoint > self.log.head() {
            // The log was cut back (`repair`): what was past its end is
            // gone, and new events take those positions again.
            checkpoint = self.log.head();
            self.save(checkpoint)?;
        }
        let from = checkpoint + 1;
        let batch = self.log.read_all(from, BATCH)?;
        if batch.is_empty() {
            return Ok(false);
        }
        for e in &batch {
            self.handle(e).await?;
            self.save(e.position)?;
        }
        Ok(true)
    }

    async fn handle(&self, e: &RecordedEvent) -> anyhow::Result<()> {
        if e.event_type == types::ACTIVITY_CREDITED {
            match held::Event::decode(&e.event_type, &e.payload) {
                Ok(held::Event::Credited {
                    activity,
                    member_id,
                }) => {
                    if !ledger_member_id(&member_id) {
                        return self.dead_letter(e, "a member id the ledger refuses");
                    }
                    self.apply(&member_id, &activity).await?;
                }
                Ok(_) => {}
                Err(d) => return self.dead_letter(e, &d.to_string()),
            }
            return Ok(());
        }
        let activity = match activity_of(e) {
            Ok(Some(a)) => a,
            Ok(None) => return Ok(()),
            Err(d) => return self.dead_letter(e, &d.to_string()),
        };
        if activity.baseline || !self.promotions()?.iter().any(|p| p.matches(&activity)) {
            return Ok(());
        }
        match self
            .identity
            .member_of(activity.group.network, &activity.user)
            .await?
        {
            Some(member) if !ledger_member_id(&member) => {
                self.dead_letter(e, "identity named a member id the ledger refuses")
            }
            Some(member) => self.apply(&member, &activity).await,
            None if self.credit_unlinked => {
                self.held
                    .execute(
                        &held_stream(&activity),
                        &held::Command::Hold(activity.clone()),
                        None,
                        Metadata::default(),
                        |_, _| Vec::new(),
                    )
                    .await
                    .map_err(|e| anyhow_of(e.into()))?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn promotions(&self) -> anyhow::Result<Vec<crate::domain::promotion::Promotion>> {
        Ok(self
            .catalog
            .load(catalog::STREAM)
            .map_err(|e| anyhow_of(e.into()))?
            .0
            .promotions
            .into_values()
            .collect())
    }

    async fn apply(&self, member_id: &str, activity: &Activity) -> anyhow::Result<()> {
        let command = Apply {
            member_id: member_id.to_owned(),
            activity: activity.clone(),
            promotions: self.promotions()?,
        };
        let key = format!("apply/{}", activity.id);
        let idempotency = Idempotency {
            request_hash: request_hash(key.as_bytes()),
            key,
        };
        self.members
            .execute(
                &member_stream(member_id),
                &command,
                Some(idempotency),
                Metadata::default(),
                |_, _| Vec::new(),
            )
            .await
            .map_err(|e| anyhow_of(e.into()))?;
        Ok(())
    }
}

fn anyhow_of(e: ApiError) -> anyhow::Error {
    anyhow::Error::new(e)
}
