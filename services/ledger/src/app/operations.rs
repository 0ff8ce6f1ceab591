//! The account use cases: run a command under its idempotency key, read
//! balances, read the history. The gRPC edge builds the commands and renders
//! the answers; the domain decides.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use kit::aggregate::{Executed, Idempotency, Repository};
use kit::log::Metadata;
use kit::projection::ProjectionHandle;
use loyalty_proto::ledger::v1 as pb;

use super::keys::IdempotencyKey;
use crate::domain::account::{Account, AccountKey, Command, Event};
use crate::domain::catalog::Currency;
use crate::error::ApiError;
use crate::projections::history;

/// How long a history read waits for the projection to catch up.
const HISTORY_WAIT: Duration = Duration::from_secs(5);

/// One account's state, as a balance query answers it.
pub struct AccountState {
    /// The currency.
    pub currency: Currency,
    /// The account (default when it has no events).
    pub account: Account,
}

/// The account use cases over the log.
pub struct Operations {
    repo: Arc<Repository<Account>>,
    history: ProjectionHandle,
}

impl Operations {
    /// Use cases over `repo`, answering history from `history`.
    pub fn new(repo: Arc<Repository<Account>>, history: ProjectionHandle) -> Self {
        Self { repo, history }
    }

    /// Runs `command` under `key`; `request_hash` is the SHA-256 of the
    /// method and the request's canonical bytes: a repeat answers the stored
    /// reply (or refusal); the same key with another method or content is
    /// ALREADY_EXISTS, never a second operation. `reply` renders the answer
    /// stored under the key from the events decided.
    pub async fn execute(
        &self,
        key: IdempotencyKey,
        request_hash: [u8; 32],
        command: &Command,
        reply: impl Fn(&[Event]) -> Vec<u8>,
    ) -> Result<Vec<u8>, ApiError> {
        let (account, _) = command.key_and_time();
        let metadata = Metadata {
            correlation_id: Some(key.id().to_owned()),
            causation_id: None,
            traceparent: kit::telemetry::current_traceparent(),
        };
        let idempotency = Idempotency {
            key: key.to_string(),
            request_hash,
        };
        let executed = self
            .repo
            .execute(
                &account.stream(),
                command,
                Some(idempotency),
                metadata,
                |_, events| reply(events),
            )
            .await?;
        Ok(match executed {
            Executed::Applied { reply, .. } | Executed::Repeated { reply } => reply,
        })
    }

    /// Opens the account `key` at `now` unless it exists (opening is
    /// idempotent by nature: no key needed); the account after.
    pub async fn open(&self, key: &AccountKey, now: DateTime<Utc>) -> Result<Account, ApiError> {
        let metadata = Metadata {
            correlation_id: Some(key.member_id.clone()),
            causation_id: None,
            traceparent: kit::telemetry::current_traceparent(),
        };
        self.repo
            .execute_with(
                &key.stream(),
                |account: &Account| Ok((account.open(key, "", now, ""), ())),
                None,
                metadata,
                |_, _| Vec::new(),
            )
            .await?;
        Ok(self.repo.load(&key.stream())?.0)
    }

    /// The member's accounts in `currencies`; with `all`, also the ones
    /// without any event (an explicitly asked currency), else only existing.
    pub fn balances(
        &self,
        member: &str,
        currencies: impl IntoIterator<Item = Currency>,
        all: bool,
    ) -> Result<Vec<AccountState>, ApiError> {
        let mut out = Vec::new();
        for currency in currencies {
            let key = AccountKey {
                member_id: member.to_owned(),
                currency: currency.id.clone(),
            };
            let (account, version) = self.repo.load(&key.stream())?;
            if version > 0 || all {
                out.push(AccountState { currency, account });
            }
        }
        Ok(out)
    }

    /// A page of the member's history, after the projection caught up with
    /// the log (read your writes); UNAVAILABLE when it lags too long.
    pub async fn history(
        &self,
        member: &str,
        filter: &history::Filter,
    ) -> Result<(u64, Vec<pb::HistoryRow>), ApiError> {
        let head = self.repo.log().head();
        if !self.history.wait_for(head, HISTORY_WAIT).await {
            return Err(ApiError::Lagging("the history"));
        }
        Ok(history::query(self.history.tree(), member, filter)?)
    }
}
