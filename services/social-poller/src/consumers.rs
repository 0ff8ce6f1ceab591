//! NATS subscriptions: identity's `SocialAccountLinked` credits the held
//! activity of the account to the member who linked it.

use std::sync::Arc;

use kit::aggregate::{Idempotency, Repository};
use kit::consumer::{HandlerError, Inbound, decode_json};
use kit::log::{EventLog, Metadata, request_hash};
use kit::service::Subscription;
use loyalty_proto::identity::v1 as identity;

use crate::domain::activity::{MAX_EXTERNAL_ID, Network};
use crate::domain::held::{Command, Held};
use crate::domain::link::{self, Link, Record};

/// The subscription to identity's linked accounts.
pub const LINKED: Subscription = Subscription {
    name: "social-linked",
    filter: "loyalty.identity.social_account_linked",
    metrics_prefix: "social_linked",
};

/// Most bytes of an id in a consumed message.
const MAX_ID: usize = 128;

/// A failure to record: the log's by its storage class, an undecodable
/// stored event for the dead letters, a contended stream retried.
fn classify<E: std::error::Error + Send + Sync + 'static>(
    e: kit::aggregate::RepositoryError<E>,
) -> HandlerError {
    use kit::aggregate::RepositoryError as R;
    match e {
        R::Log(l) => HandlerError::from_storage(l),
        R::Decode { .. } => HandlerError::Reject(anyhow::anyhow!("{e}")),
        R::TooManyConflicts { .. } | R::Domain(_) => HandlerError::Retry(anyhow::anyhow!("{e}")),
    }
}

/// Handles `SocialAccountLinked`.
pub struct Linked {
    held: Repository<Held>,
    links: Repository<Link>,
    clock: kit::clock::Clock,
}

impl Linked {
    /// Over `log`; `clock` dates a link whose message names no time.
    pub fn new(log: Arc<EventLog>, clock: kit::clock::Clock) -> Self {
        Self {
            held: Repository::new(Arc::clone(&log)),
            links: Repository::new(log),
            clock,
        }
    }

    /// Records the link as activity (once per account) and credits what
    /// the account's user did before linking.
    pub async fn handle(&self, inbound: Inbound) -> Result<(), HandlerError> {
        let m: identity::SocialAccountLinked = decode_json(&inbound.payload).map_err(|e| {
            HandlerError::Reject(anyhow::anyhow!("malformed SocialAccountLinked: {e}"))
        })?;
        let ok = |s: &str| {
            !s.is_empty() && s.len() <= MAX_ID && !s.chars().any(|c| c.is_control() || c == '/')
        };
        // The user id becomes part of the link's activity id (and so of a
        // reward id the ledger takes up to 128 bytes): a network's bound.
        if !ok(&m.member_id)
            || !ok(&m.external_user_id)
            || m.external_user_id.len() > MAX_EXTERNAL_ID
        {
            return Err(HandlerError::Reject(anyhow::anyhow!(
                "member or user id missing or malformed"
            )));
        }
        let Some(network) = Network::from_name(&m.network) else {
            // A network the poller does not watch: nothing held.
            return Ok(());
        };
        let at = m
            .linked_at
            .and_then(|t| chrono::DateTime::<chrono::Utc>::try_from(t).ok())
            .unwrap_or_else(|| (self.clock)());
        let record = Record {
            network,
            user: m.external_user_id.clone(),
            at,
        };
        let link_activity = link::activity(&record);
        self.links
            .execute(
                &link::stream(network, &m.external_user_id),
                &record,
                None,
                Metadata::default(),
                |_, _| Vec::new(),
            )
            .await
            .map_err(classify)?;
        let key = inbound.idempotency_key(LINKED.name);
        let stream = format!("held/{}/{}", network.name(), m.external_user_id);
        self.held
            .execute(
                &stream,
                &Command::Credit {
                    member_id: m.member_id,
                    link: link_activity,
                },
                Some(Idempotency {
                    request_hash: request_hash(key.as_bytes()),
                    key,
                }),
                Metadata::default(),
                |_, _| Vec::new(),
            )
            .await
            .map_err(classify)?;
        Ok(())
    }
}
