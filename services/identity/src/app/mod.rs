//! The identity service's use cases: each registration step, tokens, cards
//! and links, run against the aggregates through the kit's repositories.
//! Operations that touch two streams (a card and its member, a claim and its
//! member) write the claim first and are safe to retry: a claim already held
//! by the same member is a no-op.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kit::aggregate::{Aggregate, Executed, Repository};
use kit::log::{EventLog, Metadata};

use crate::domain::card::{
    Allocate, Card, CardCommand, Claim, Take, VIRTUAL_STREAM, VirtualRange, card_stream,
};
use crate::domain::event::{self as ev, Event};
use crate::domain::member::{
    Command, ConfirmOutcome, Limits, Member, MemberError, NewCode, NewContact, NewToken,
};
use crate::domain::message::{Outcome, Template};
use crate::domain::model::{CardKind, CardState, Channel, LoginKind};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::steps::Policy;
use crate::domain::values::{CardNumber, Email, Phone};
use crate::error::{ApiError, violation};
use crate::secrets::{self, Secrets};

mod cards;
mod contacts;
mod links;
mod messages;
mod registration;
mod tokens;
mod views;

pub use cards::{CardRange, LoadCards, LoadedCards, MAX_CARDS_PER_LOAD, RejectedCard};
pub use links::{BankCard, BankCardKey};
pub use messages::{MessageRequest, RequestedChannel};
pub use registration::{BeginState, Begun};
pub use tokens::{REFRESH_RETRY_GRACE, TokenPair};
pub use views::{CardCounts, CardStock, MemberCounts, Views};

/// The clock: the kit's one injectable [`kit::clock::Clock`].
pub use kit::clock::Clock;

/// Settings of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The registration steps.
    pub policy: Policy,
    /// The questionnaire.
    pub questionnaire: Questionnaire,
    /// Send and login limits.
    pub limits: Limits,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Refresh token lifetime (from its last trade).
    pub refresh_ttl: Duration,
    /// Confirm code lifetime.
    pub code_ttl: Duration,
    /// Virtual range: first, last, digits.
    pub virtual_range: (u64, u64, usize),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Session {
    /// The member.
    pub member_id: String,
    /// The token's id.
    pub token_id: String,
    /// May only re-confirm the phone.
    pub limited: bool,
    /// The member's state when authenticated.
    pub member: Member,
    /// The token's expiry.
    pub expires_at: DateTime<Utc>,
}

/// Card states kept for lookups (about 100 bytes each).
pub const CARD_READ_CACHE: usize = 500_000;

/// The identity use cases.
pub struct Identity {
    pub(crate) members: Repository<Member>,
    pub(crate) cards: Repository<Card>,
    range: Repository<VirtualRange>,
    pub(crate) claims: Repository<Claim>,
    templates: Repository<Template>,
    outcomes: Repository<Outcome>,
    /// Message requests being sent right now: a concurrent duplicate is
    /// refused (ABORTED, retried by its sender) instead of sending twice.
    sending: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The projections queries read (none in unit tests).
    views: Option<Views>,
    pub(crate) secrets: Secrets,
    notifier: Arc<notify::Notifier>,
    pub(crate) settings: Settings,
    pub(crate) clock: Clock,
    /// Serialises virtual-card emissions so the one-virtual-card rule is
    /// checked on the member's current state, not a session's snapshot (the
    /// allocator is one stream anyway; the log has one writer process).
    emit_lock: tokio::sync::Mutex<()>,
}

/// The stream of a member.
pub fn member_stream(id: &str) -> String {
    format!("member/{id}")
}

/// The stream of a login claim.
pub fn login_stream(kind: LoginKind, login: &str) -> String {
    let k = match kind {
        LoginKind::Card => "card",
        LoginKind::Phone => "phone",
    };
    format!("login/{k}/{login}")
}

fn metadata() -> Metadata {
    Metadata {
        correlation_id: None,
        causation_id: None,
        traceparent: kit::telemetry::current_traceparent(),
    }
}

/// A new log event of `e`, with the current trace context.
fn new_event(e: &Event) -> kit::log::NewEvent {
    kit::log::NewEvent {
        event_type: kit::aggregate::DomainEvent::event_type(e).to_owned(),
        payload: kit::aggregate::DomainEvent::encode(e),
        metadata: metadata(),
    }
}

fn events_of(executed: &Executed) -> Vec<Event> {
    match executed {
        Executed::Applied { events, .. } => events
            .iter()
            .filter_map(|r| {
                <Event as kit::aggregate::DomainEvent>::decode(&r.event_type, &r.payload).ok()
            })
            .collect(),
        Executed::Repeated { .. } => Vec::new(),
    }
}

impl Identity {
    /// The use cases over one event log.
    pub fn new(
        log: Arc<EventLog>,
        secrets: Secrets,
        notifier: Arc<notify::Notifier>,
        settings: Settings,
        clock: Clock,
    ) -> Self {
        Self {
            members: Repository::new(Arc::clone(&log)),
            // Cards are small and looked up on every cheque: keep many.
            cards: Repository::new(Arc::clone(&log)).with_read_cache_capacity(CARD_READ_CACHE),
            range: Repository::new(Arc::clone(&log)),
            claims: Repository::new(Arc::clone(&log)),
            templates: Repository::new(Arc::clone(&log)),
            outcomes: Repository::new(log),
            sending: std::sync::Mutex::default(),
            views: None,
            secrets,
            notifier,
            settings,
            clock,
            emit_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub(crate) async fn run<A>(
        &self,
        repo: &Repository<A>,
        stream: &str,
        c: &A::Command,
    ) -> Result<Executed, kit::aggregate::RepositoryError<A::Error>>
    where
        A: Aggregate,
    {
        repo.execute(stream, c, None, metadata(), |_, _| Vec::new())
            .await
    }

    /// Runs `c` on the member's stream.
    pub(crate) async fn run_member(
        &self,
        member_id: &str,
        c: &Command,
    ) -> Result<Executed, kit::aggregate::RepositoryError<MemberError>> {
        self.run(&self.members, &member_stream(member_id), c).await
    }

    /// The member's current state.
    pub fn member(&self, member_id: &str) -> Result<Member, ApiError> {
        let (m, _) = self
            .members
            .load(&member_stream(member_id))
            .map_err(ApiError::from)?;
        if m.id.is_empty() {
            return Err(ApiError::NotFound("member"));
        }
        Ok(m)
    }

    /// Checks a token: its member, that it is active, unexpired and matches.
    pub fn authenticate(&self, token: &str) -> Result<Session, ApiError> {
        let (token_id, member_id, hash) =
            secrets::parse_token(token).ok_or(ApiError::Unauthenticated("malformed token"))?;
        let member = self
            .member(&member_id)
            .map_err(|_| ApiError::Unauthenticated("unknown token"))?;
        let t = member
            .tokens
            .get(&token_id)
            .ok_or(ApiError::Unauthenticated("revoked or rotated token"))?;
        if !secrets::same_hash(&t.secret_hash, &hash) {
            return Err(ApiError::Unauthenticated("unknown token"));
        }
        if t.expires_at <= self.now() {
            return Err(ApiError::Unauthenticated("expired token"));
        }
        Ok(Session {
            member_id,
            token_id,
            limited: t.limited,
            expires_at: t.expires_at,
            member,
        })
    }

    fn new_token(
        &self,
        member: &Member,
        replaces: Option<&str>,
        limited: bool,
    ) -> (String, NewToken) {
        let issued = secrets::new_token(&member.id, member.tokens_issued + 1);
        let now = self.now();
        let t = NewToken {
            token_id: issued.token_id,
            secret_hash: issued.secret_hash,
            expires_at: now + self.settings.token_ttl,
            replaces: replaces.map(str::to_owned),
            limited,
            refresh: None,
            issued_at: now,
        };
        (issued.token, t)
    }

    async fn issue_token(
        &self,
        member: &Member,
        limited: bool,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let (token, t) = self.new_token(member, None, limited);
        let expires_at = t.expires_at;
        self.run_member(&member.id, &Command::IssueToken(t)).await?;
        Ok((token, expires_at))
    }

    /// Revokes a token (idempotent).
    /// Only the token itself revokes it: its id alone (which names the
    /// member and a sequence number) is not enough.
    pub async fn revoke(&self, token: &str) -> Result<(), ApiError> {
        let Some((token_id, member_id, hash)) = secrets::parse_token(token) else {
            return Ok(());
        };
        let Ok(member) = self.member(&member_id) else {
            return Ok(());
        };
        let genuine = member
            .tokens
            .get(&token_id)
            .is_some_and(|t| secrets::same_hash(&t.secret_hash, &hash));
        if !genuine {
            return Ok(());
        }
        self.run_member(&member_id, &Command::RevokeToken(token_id))
            .await?;
        Ok(())
    }

    /// Takes a claim for `member_id`; a claim held by another member is
    /// `Taken(what)`.
    pub(crate) async fn take_claim(
        &self,
        stream: &str,
        member_id: &str,
        event: Event,
        what: &'static str,
    ) -> Result<(), ApiError> {
        let take = Take {
            member_id: member_id.to_owned(),
            event,
        };
        match self.run(&self.claims, stream, &take.into()).await {
            Ok(_) => Ok(()),
            Err(kit::aggregate::RepositoryError::Domain(_)) => Err(ApiError::Taken(what)),
            Err(e) => Err(e.into()),
        }
    }
}
