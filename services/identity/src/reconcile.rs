//! Repairs what a crash between two streams can leave half done.
//!
//! Binding a card writes the card's stream first (`CardAssigned`), then the
//! member's (`MemberCardAdded`, `CardBound` / `VirtualCardEmitted`,
//! `CardIssued`). If the process dies in between, the card points at the
//! member but the member does not list the card, and nobody learns the
//! member got a card (the ledger would never open their account).
//!
//! Linking a social account or a bank card writes the claim first, then
//! the member's stream; binding a bank card claims its PAN, then its binding
//! id. Likewise confirming a phone writes the member's stream first
//! (`ContactConfirmed`), then takes the phone's login claim and releases the
//! member's other phone logins.
//!
//! The reconciler follows the durable log from its checkpoint (tree
//! `reconcile`, key `checkpoint`) and, for every `CardAssigned`, makes sure
//! the member lists the card; for every social or bank-card claim, that the
//! member lists the link (and the binding id is claimed); for every
//! confirmed phone, that the phone is the member's login and the phone they
//! began with is not. Each step is a
//! no-op when already done, so in normal operation it changes nothing. It runs at start-up (catching up
//! on whatever a crash left) and then follows the log. A failure is logged,
//! counted and retried; the checkpoint never passes an event not handled.

use std::sync::Arc;
use std::time::Duration;

use kit::aggregate::DomainEvent;
use kit::log::EventLog;
use tokio_util::sync::CancellationToken;

use crate::app::Identity;
use crate::events::Event;

/// Tree holding the reconciler's checkpoint.
const TREE: &str = "reconcile";
/// Events read per round.
const BATCH: usize = 1_000;

fn checkpoint(tree: &sled::Tree) -> anyhow::Result<u64> {
    Ok(match tree.get("checkpoint")? {
        Some(v) => u64::from_be_bytes(v.as_ref().try_into()?),
        None => 0,
    })
}

/// Handles the durable events after the checkpoint; returns how many were
/// read (0: caught up).
pub async fn catch_up(identity: &Identity, log: &EventLog) -> anyhow::Result<usize> {
    let tree = log.db().open_tree(TREE)?;
    let from = checkpoint(&tree)? + 1;
    let events = log.read_all(from, BATCH)?;
    for e in &events {
        if let Some(number) = e.stream.strip_prefix("card/")
            && let Ok(Event::CardAssigned(a)) = Event::decode(&e.event_type, &e.payload)
        {
            identity.ensure_member_card(&a.member_id, number).await?;
        }
        if let Some(account) = e.stream.strip_prefix("social/")
            && let Some((network, user)) = account.split_once('/')
            && let Ok(Event::SocialClaimed(c)) = Event::decode(&e.event_type, &e.payload)
        {
            repaired(
                identity
                    .ensure_social_link(&c.member_id, network, user)
                    .await,
            )?;
        }
        if e.stream.starts_with("bankcard/")
            && let Ok(Event::BankCardClaimed(c)) = Event::decode(&e.event_type, &e.payload)
        {
            repaired(identity.ensure_bank_card(&c.member_id, &c).await)?;
        }
        if let Some(member_id) = e.stream.strip_prefix("member/")
            && let Ok(Event::ContactConfirmed(c)) = Event::decode(&e.event_type, &e.payload)
            && c.channel == crate::domain::model::Channel::Sms
        {
            identity.ensure_phone_login(member_id, &c.value).await?;
        }
    }
    if let Some(last) = events.last() {
        tree.insert("checkpoint", &last.position.to_be_bytes())?;
    }
    Ok(events.len())
}

/// A repair's result: refusals that retrying cannot change are logged and
/// passed over; anything else is retried.
fn repaired(r: Result<(), crate::error::ApiError>) -> anyhow::Result<()> {
    use crate::error::ApiError;
    match r {
        Ok(()) => Ok(()),
        Err(e @ (ApiError::Member(_) | ApiError::Taken(_) | ApiError::NotFound(_))) => {
            tracing::error!(error = %e, "a link cannot be finished; left for an operator");
            Ok(())
        }
        Err(
            e @ (ApiError::Invalid(_)
            | ApiError::Unauthenticated(_)
            | ApiError::BadCredentials
            | ApiError::Forbidden
            | ApiError::Card(_)
            | ApiError::Disabled(_)
            | ApiError::RequestReused
            | ApiError::Ambiguous(_)
            | ApiError::VirtualCardExists
            | ApiError::Delivery
            | ApiError::MessageFailed { .. }
            | ApiError::Busy
            | ApiError::Storage(_)
            | ApiError::Unexpected(_)),
        ) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Follows the log until `shutdown`.
pub async fn run(identity: Arc<Identity>, log: Arc<EventLog>, shutdown: CancellationToken) {
    let mut durable = log.subscribe();
    let mut backoff = Duration::from_millis(100);
    loop {
        match catch_up(&identity, &log).await {
            Ok(0) => {
                backoff = Duration::from_millis(100);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = durable.changed() => {}
                }
            }
            Ok(_) => backoff = Duration::from_millis(100),
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "reconciler failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

impl Identity {
    /// Makes sure the member lists the card bound to them (see the module).
    pub async fn ensure_member_card(&self, member_id: &str, number: &str) -> anyhow::Result<()> {
        let (card, _) = self
            .cards
            .load(&crate::domain::card::card_stream(number))
            .map_err(|e| anyhow::anyhow!("loading card: {e}"))?;
        let kind = card.kind;
        let member = match self.member(member_id) {
            Ok(m) => m,
            Err(crate::error::ApiError::NotFound(_)) => {
                tracing::warn!(%member_id, "a card points at a member never opened; left alone");
                return Ok(());
            }
            Err(e) => return Err(anyhow::anyhow!("loading member: {e}")),
        };
        if member.cards.iter().any(|(n, _)| n == number) {
            return Ok(());
        }
        match self.add_member_card(member_id, number, kind).await {
            Ok(()) => {}
            // The member refuses for good (e.g. its phone is not proven):
            // retrying cannot help; say so loudly and go on.
            Err(crate::error::ApiError::Member(refusal)) => {
                tracing::error!(
                    %member_id,
                    card = %crate::domain::values::mask_tail(number),
                    %refusal,
                    "a card points at a member that refuses it; left for an operator"
                );
                return Ok(());
            }
            Err(e) => return Err(anyhow::anyhow!("adding the card: {e}")),
        }
        // Usually the request that bound the card is about to do this
        // itself; after a crash, this is the repair.
        tracing::info!(
            %member_id,
            card = %crate::domain::values::mask_tail(number),
            "card listed on its member by the reconciler"
        );
        Ok(())
    }

    /// Makes sure a confirmed phone is the member's login, and the phone the
    /// member began with (if another) is not.
    pub async fn ensure_phone_login(&self, member_id: &str, phone: &str) -> anyhow::Result<()> {
        let member = match self.member(member_id) {
            Ok(m) => m,
            Err(crate::error::ApiError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(anyhow::anyhow!("loading member: {e}")),
        };
        if member.phone.confirmed.as_deref() != Some(phone) {
            // Another phone was confirmed since; its own event handles it.
            return Ok(());
        }
        match self.claim_phone(member_id, phone).await {
            Ok(()) => {}
            Err(crate::error::ApiError::Taken(_)) => {
                tracing::error!(
                    %member_id,
                    phone = %crate::domain::values::mask_tail(phone),
                    "a confirmed phone is another member's login; left for an operator"
                );
                return Ok(());
            }
            Err(e) => return Err(anyhow::anyhow!("claiming the phone: {e}")),
        }
        self.release_other_phones(&member, phone)
            .await
            .map_err(|e| anyhow::anyhow!("releasing other phones: {e}"))
    }
}
