//! What the ledger consumes from NATS (see docs/events.md, "consumes"):
//!
//! - `loyalty.identity.card_issued` (durable consumer `ledger-card-issued`):
//!   opens the member's accounts, empty, in the default bonus currency (and
//!   any `--open-currencies`): an `AccountOpened` event, unless the account
//!   already has events;
//! - `loyalty.social.social_reward_granted` and
//!   `loyalty.social.social_penalty_applied` (durable consumer
//!   `ledger-social`, filter `loyalty.social.>`; other social subjects are
//!   acknowledged and ignored): a reward accrues (kind SOCIAL, reward type
//!   BONUS); a penalty withdraws up to the available balance, never below 0.
//!
//! Every effect is one append whose idempotency key is the kit's
//! [`Inbound::idempotency_key`] (`consumer/<name>/<ce-id>`), so a redelivered
//! or republished message is answered from the idempotency store and never
//! applied twice. A message that can never apply (malformed JSON, a missing
//! or bad id, amount, currency or lifetime) is rejected
//! ([`HandlerError::Reject`]): the kit dead-letters it at once to
//! `loyalty.dlq.<consumer>` with the reason. Storage trouble is retried.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kit::aggregate::{Repository, RepositoryError};
use kit::bootstrap::Runtime;
use kit::consumer::{HandlerError, Inbound, decode_json};
use kit::log::{LogError, request_hash};
use kit::service::Subscription;
use loyalty_proto::identity::v1 as identity;
use loyalty_proto::ledger::v1 as pb;

use crate::app::catalog::CatalogHandle;
use crate::app::inbound::{EffectError, InboundEffects, Source};
use crate::domain::account::{Account, AccountKey, Command, LedgerError};
use crate::domain::account::{Context, Kind};
use crate::domain::catalog::Currency;
use crate::domain::ids::StreamId;
use crate::domain::model::{RewardType, WithdrawType};
use crate::domain::money;
use crate::grpc::Clock;

/// Durable consumer of identity's `CardIssued`.
pub const CARD_ISSUED_CONSUMER: &str = "ledger-card-issued";
/// Durable consumer of the social-poller's rewards and penalties.
pub const SOCIAL_CONSUMER: &str = "ledger-social";
/// Subject of identity's `CardIssued`.
pub const CARD_ISSUED_SUBJECT: &str = "loyalty.identity.card_issued";
/// Filter of [`SOCIAL_CONSUMER`]: every social-poller subject.
pub const SOCIAL_SUBJECTS: &str = "loyalty.social.>";
/// Subject of `SocialRewardGranted`.
pub const SOCIAL_REWARD_SUBJECT: &str = "loyalty.social.social_reward_granted";
/// Subject of `SocialPenaltyApplied`.
pub const SOCIAL_PENALTY_SUBJECT: &str = "loyalty.social.social_penalty_applied";
/// Longest accepted id (member, reward, penalty).
/// Longest masked card number kept in `AccountOpened`.
const MAX_CARD: usize = 64;

/// Which feed a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// [`CARD_ISSUED_SUBJECT`].
    CardIssued,
    /// [`SOCIAL_SUBJECTS`].
    Social,
}

/// Applies consumed messages to the ledger's accounts.
pub struct Inbox {
    effects: InboundEffects,
    catalog: Arc<CatalogHandle>,
    clock: Clock,
    open: Vec<Currency>,
}

fn reject(reason: impl std::fmt::Display) -> HandlerError {
    HandlerError::Reject(anyhow::anyhow!("{reason}"))
}

/// A failed append: the message's fault (rejected) or the ledger's (retried).
fn classify(e: EffectError) -> HandlerError {
    match e {
        RepositoryError::Domain(e) => reject(e),
        RepositoryError::Log(LogError::IdempotencyConflict { .. }) => {
            reject("this event id was applied before with a different payload")
        }
        RepositoryError::Log(e) => HandlerError::from_storage(e),
        RepositoryError::TooManyConflicts { .. } => HandlerError::Retry(anyhow::Error::new(e)),
        // A stored event that cannot be read: the ledger's fault, retried
        // (and reported) until fixed.
        RepositoryError::Decode { .. } => HandlerError::Retry(anyhow::Error::new(e)),
    }
}

/// Checks an id that becomes part of stream names and operation ids.
fn id(field: &str, value: &str) -> Result<String, HandlerError> {
    StreamId::parse(value)
        .map(StreamId::into_string)
        .map_err(|fault| reject(format!("{field} {fault}: {}", money::quote(value))))
}

/// The inbound message, a `name` in proto3 JSON; refused when malformed.
fn message<M: serde::de::DeserializeOwned>(
    inbound: &Inbound,
    name: &str,
) -> Result<M, HandlerError> {
    decode_json(&inbound.payload).map_err(|e| reject(format!("malformed {name}: {e}")))
}

/// The history description of a social operation.
fn describe(what: &str, reason: &str, network: &str, activity: &str) -> String {
    if !reason.trim().is_empty() {
        return reason.trim().to_owned();
    }
    match (network.trim(), activity.trim()) {
        ("", "") => what.to_owned(),
        (n, "") | ("", n) => format!("{what}: {n}"),
        (n, a) => format!("{what}: {a} ({n})"),
    }
}

impl Inbox {
    /// An inbox over `repo`; `open_currencies` are opened on `CardIssued`
    /// (empty: the catalog's default bonus currency). Unknown currencies are
    /// a configuration error.
    pub fn new(
        repo: Arc<Repository<Account>>,
        catalog: Arc<CatalogHandle>,
        clock: Clock,
        open_currencies: &[String],
    ) -> anyhow::Result<Self> {
        let mut open = Vec::new();
        let current = catalog.current();
        for id in open_currencies.iter().map(|c| c.trim()) {
            let currency = current
                .currency(id)
                .ok_or_else(|| anyhow::anyhow!("--open-currencies: unknown currency {id:?}"))?;
            if !open.contains(currency) {
                open.push(currency.clone());
            }
        }
        if open.is_empty() {
            let default = current.currency("");
            open.extend(default.cloned());
        }
        Ok(Self {
            effects: InboundEffects::new(repo),
            catalog,
            clock,
            open,
        })
    }

    /// Handles one message of `feed`.
    pub async fn handle(&self, feed: Feed, inbound: &Inbound) -> Result<(), HandlerError> {
        match feed {
            Feed::CardIssued => self.card_issued(inbound).await,
            Feed::Social => match inbound.subject.as_str() {
                SOCIAL_REWARD_SUBJECT => self.social_reward(inbound).await,
                SOCIAL_PENALTY_SUBJECT => self.social_penalty(inbound).await,
                other => {
                    tracing::debug!(subject = other, "not for the ledger; ignored");
                    Ok(())
                }
            },
        }
    }

    fn source(inbound: &Inbound, consumer: &str) -> Source {
        Source {
            key: inbound.idempotency_key(consumer),
            request_hash: request_hash(&inbound.payload),
            event_id: inbound.event_id.clone(),
        }
    }

    /// `CardIssued`: opens the member's accounts that have no events yet.
    async fn card_issued(&self, inbound: &Inbound) -> Result<(), HandlerError> {
        let m: identity::CardIssued = message(inbound, "CardIssued")?;
        let member = id("memberId", &m.member_id)?;
        let opened_at = m
            .issued_at
            .and_then(|t| DateTime::<Utc>::try_from(t).ok())
            .unwrap_or_else(|| (self.clock)());
        let card: String = m
            .card_masked
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_CARD)
            .collect();
        let source = Self::source(inbound, CARD_ISSUED_CONSUMER);
        for currency in &self.open {
            let key = AccountKey {
                member_id: member.clone(),
                currency: currency.id.clone(),
            };
            let opened = self
                .effects
                .open_account(&key, &card, opened_at, &source)
                .await
                .map_err(classify)?;
            tracing::info!(account = %key.stream(), opened, "card issued");
        }
        Ok(())
    }

    /// The account and amount of a social message.
    fn money(
        &self,
        member: &str,
        amount: Option<loyalty_proto::common::v1::Money>,
    ) -> Result<(AccountKey, rust_decimal::Decimal), HandlerError> {
        let amount = amount.ok_or_else(|| reject("amount is missing"))?;
        let catalog = self.catalog.current();
        let currency = catalog.currency(&amount.currency).ok_or_else(|| {
            reject(format!(
                "amount: unknown currency {}",
                money::quote(&amount.currency)
            ))
        })?;
        let value = currency
            .parse_amount(&amount.amount)
            .map_err(|e| reject(format!("amount: {e} ({})", e.reason())))?;
        let key = AccountKey {
            member_id: member.to_owned(),
            currency: currency.id.clone(),
        };
        Ok((key, value))
    }

    /// `SocialRewardGranted`: accrues the reward.
    async fn social_reward(&self, inbound: &Inbound) -> Result<(), HandlerError> {
        let m: pb::SocialRewardGranted = message(inbound, "SocialRewardGranted")?;
        let reward = id("rewardId", &m.reward_id)?;
        let member = id("memberId", &m.member_id)?;
        let (key, amount) = self.money(&member, m.amount)?;
        let catalog = self.catalog.current();
        let (lifetime, expiry) = catalog
            .lifetime(&m.lifetime)
            .ok_or_else(|| reject(format!("lifetime: unknown definition {:?}", m.lifetime)))?;
        let now = (self.clock)();
        let command = Command::Accrue {
            key: key.clone(),
            operation_id: format!("social/reward/{reward}"),
            amount,
            lifetime: lifetime.to_owned(),
            expires_at: expiry.expires_at(now),
            kind: Kind::Social,
            reward_type: RewardType::Bonus,
            context: social_context("reward", &m.reason, &m.network, &m.activity, m.occurred_at)?,
            now,
        };
        let outcome = self
            .effects
            .accrue(&command, &reward, &Self::source(inbound, SOCIAL_CONSUMER))
            .await;
        match outcome {
            Ok(_) => Ok(()),
            // The same reward came before under another event id: applied once.
            Err(RepositoryError::Domain(LedgerError::OperationExists(op))) => {
                tracing::warn!(operation = %op, "social reward already applied; ignored");
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// `SocialPenaltyApplied`: withdraws up to the available balance.
    async fn social_penalty(&self, inbound: &Inbound) -> Result<(), HandlerError> {
        let m: pb::SocialPenaltyApplied = message(inbound, "SocialPenaltyApplied")?;
        let penalty = id("penaltyId", &m.penalty_id)?;
        let member = id("memberId", &m.member_id)?;
        let (key, amount) = self.money(&member, m.amount)?;
        let command = Command::Withdraw {
            key: key.clone(),
            operation_id: format!("social/penalty/{penalty}"),
            amount,
            kind: Kind::Social,
            withdraw_type: WithdrawType::Withdraw,
            context: social_context("penalty", &m.reason, &m.network, &m.activity, m.occurred_at)?,
            now: (self.clock)(),
        };
        let outcome = self
            .effects
            .penalty(&command, &penalty, &Self::source(inbound, SOCIAL_CONSUMER))
            .await;
        match outcome {
            Ok(taken) => {
                if let Some(taken) = taken.filter(|t| *t < amount) {
                    tracing::info!(account = %key.stream(), %amount, %taken,
                        "penalty above the balance: took what was there");
                }
                Ok(())
            }
            Err(RepositoryError::Domain(LedgerError::OperationExists(op))) => {
                tracing::warn!(operation = %op, "social penalty already applied; ignored");
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }
}

/// Starts the ledger's consumers on `runtime` (when a NATS URL is
/// configured): [`CARD_ISSUED_CONSUMER`] and [`SOCIAL_CONSUMER`]. Their
/// outcome counters are `loyalty_card_issued_consumer_messages` and
/// `loyalty_social_consumer_messages`.
pub fn start(runtime: &mut Runtime, inbox: Arc<Inbox>) {
    let feeds = [
        (
            Feed::CardIssued,
            Subscription {
                name: CARD_ISSUED_CONSUMER,
                filter: CARD_ISSUED_SUBJECT,
                metrics_prefix: "card_issued",
            },
        ),
        (
            Feed::Social,
            Subscription {
                name: SOCIAL_CONSUMER,
                filter: SOCIAL_SUBJECTS,
                metrics_prefix: "social",
            },
        ),
    ];
    for (feed, subscription) in feeds {
        let inbox = Arc::clone(&inbox);
        kit::service::consume(runtime, subscription, move |inbound: Inbound| {
            let inbox = Arc::clone(&inbox);
            async move { inbox.handle(feed, &inbound).await }
        });
    }
}

/// The social event's time, refused when out of range.
/// The context of a social `what` (reward, penalty): described by the
/// poller's reason, else by its network and activity.
fn social_context(
    what: &str,
    reason: &str,
    network: &str,
    activity: &str,
    occurred: Option<loyalty_proto::wkt::Timestamp>,
) -> Result<Context, HandlerError> {
    Ok(Context {
        description: describe(&format!("Social {what}"), reason, network, activity),
        reason: format!("social {what}"),
        operation_time: occurred_at(occurred)?,
        ..Default::default()
    })
}

fn occurred_at(
    t: Option<loyalty_proto::wkt::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, HandlerError> {
    t.map(chrono::DateTime::<chrono::Utc>::try_from)
        .transpose()
        .map_err(|e| reject(format!("occurredAt: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_unknown_top_level_fields_still_decodes() {
        let m: pb::SocialRewardGranted = decode_json(
            br#"{"rewardId":"r1","member_id":"m1","amount":{"amount":"5","currency":"BONUS"},
                "addedLater":1,"alsoNew":{"x":[1]}}"#,
        )
        .unwrap();
        assert_eq!((m.reward_id.as_str(), m.member_id.as_str()), ("r1", "m1"));
        assert_eq!(m.amount.unwrap().amount, "5");
        assert!(decode_json::<pb::SocialRewardGranted>(b"{not json").is_err());
        let wrong = decode_json::<pb::SocialRewardGranted>(br#"{"rewardId":7}"#).unwrap_err();
        assert!(wrong.contains("invalid type"), "{wrong}");
        assert!(decode_json::<pb::SocialRewardGranted>(b"[]").is_err());
    }

    #[test]
    fn ids_and_descriptions() {
        assert!(id("memberId", "m-1").is_ok());
        for bad in [
            "",
            "  ",
            "a/b",
            "a\nb",
            &"x".repeat(crate::domain::ids::MAX_ID + 1),
        ] {
            assert!(matches!(id("memberId", bad), Err(HandlerError::Reject(_))));
        }
        assert_eq!(
            describe("Social reward", " Joined ", "vk", "join"),
            "Joined"
        );
        assert_eq!(
            describe("Social reward", "", "vk", "group_join"),
            "Social reward: group_join (vk)"
        );
        assert_eq!(describe("Social penalty", "", "", ""), "Social penalty");
    }
}
