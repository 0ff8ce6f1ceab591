//! The effects of consumed events on accounts: open accounts for an issued
//! card, accrue a social reward, apply a social penalty. Each is one append
//! under the message's idempotency key, so a redelivery never applies twice;
//! `consumers.rs` decodes the messages and builds the inputs.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kit::aggregate::{Idempotency, Repository, RepositoryError};
use kit::log::Metadata;
use rust_decimal::Decimal;

use crate::domain::account::{Account, AccountKey, Command, LedgerError};

/// What an effect failed with.
pub type EffectError = RepositoryError<LedgerError>;

/// Where a consumed message came from, for its effect's append.
pub struct Source {
    /// The message's idempotency key (the kit's `consumer/<name>/<ce-id>`).
    pub key: String,
    /// SHA-256 of its payload.
    pub request_hash: [u8; 32],
    /// Its event id (`ce-id`): the causation of the effect.
    pub event_id: String,
}

impl Source {
    fn idempotency(&self, suffix: &str) -> Idempotency {
        Idempotency {
            key: format!("{}{suffix}", self.key),
            request_hash: self.request_hash,
        }
    }

    fn metadata(&self, correlation: &str) -> Metadata {
        Metadata {
            correlation_id: Some(correlation.to_owned()),
            causation_id: Some(self.event_id.clone()),
            traceparent: kit::telemetry::current_traceparent(),
        }
    }
}

/// Applies consumed events to accounts.
pub struct InboundEffects {
    repo: Arc<Repository<Account>>,
}

impl InboundEffects {
    /// Effects over `repo`.
    pub fn new(repo: Arc<Repository<Account>>) -> Self {
        Self { repo }
    }

    /// Opens `key`'s account for `card` unless it has events (one append
    /// per account, keyed by the message and the currency); true when it
    /// was opened now.
    pub async fn open_account(
        &self,
        key: &AccountKey,
        card: &str,
        opened_at: DateTime<Utc>,
        source: &Source,
    ) -> Result<bool, EffectError> {
        let (_, opened) = self
            .repo
            .execute_with(
                &key.stream(),
                |account: &Account| {
                    let events = account.open(key, card, opened_at, &source.event_id);
                    let opened = !events.is_empty();
                    Ok((events, opened))
                },
                Some(source.idempotency(&format!("/{}", key.currency))),
                source.metadata(&key.member_id),
                |_, _| Vec::new(),
            )
            .await?;
        Ok(opened.unwrap_or(false))
    }

    /// Accrues a reward (an `Accrue` command); `correlation` names it.
    pub async fn accrue(
        &self,
        command: &Command,
        correlation: &str,
        source: &Source,
    ) -> Result<(), EffectError> {
        let (key, _) = command.key_and_time();
        self.repo
            .execute(
                &key.stream(),
                command,
                Some(source.idempotency("")),
                source.metadata(correlation),
                |_, _| Vec::new(),
            )
            .await?;
        Ok(())
    }

    /// Applies a penalty (a `Withdraw` command) up to the available
    /// balance, never below 0; answers what was taken (`None`: a repeat).
    pub async fn penalty(
        &self,
        command: &Command,
        correlation: &str,
        source: &Source,
    ) -> Result<Option<Decimal>, EffectError> {
        let (key, _) = command.key_and_time();
        let (_, taken) = self
            .repo
            .execute_with(
                &key.stream(),
                |account: &Account| account.plan_penalty(command),
                Some(source.idempotency("")),
                source.metadata(correlation),
                |_, _| Vec::new(),
            )
            .await?;
        Ok(taken)
    }
}
