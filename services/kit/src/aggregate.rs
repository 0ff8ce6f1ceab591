//! Aggregates and the repository that runs commands against them.
//!
//! An aggregate is pure: [`Aggregate::decide`] turns a command into events (or
//! a domain error) without I/O, and [`Aggregate::apply`] folds an event into
//! the state and cannot fail. The [`Repository`] loads an aggregate by
//! replaying its stream, decides, appends with the loaded version as the
//! expected one, and retries on a concurrent-write conflict — so two commands
//! can never both act on the same stale state.

mod repository;

pub use repository::Repository;

use crate::log::{LogError, RecordedEvent};

/// An event payload that cannot be decoded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot decode event of type {event_type:?}: {reason}")]
pub struct DecodeError {
    /// Stored event type.
    pub event_type: String,
    /// What went wrong.
    pub reason: String,
}

/// A domain event that the log can store.
///
/// `event_type` is the event's versioned type: the full name of its proto
/// message (e.g. `loyalty.ledger.v1.PointsAccrued`); a new version of an event
/// is a new message (`...v2.PointsAccrued`), and `decode` keeps reading the old.
pub trait DomainEvent: Sized + Clone + Send + Sync + 'static {
    /// The event's type name.
    fn event_type(&self) -> &'static str;
    /// Encodes the payload (protobuf bytes).
    fn encode(&self) -> Vec<u8>;
    /// Decodes a stored payload of the given type.
    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError>;
}

/// A pure, event-sourced aggregate.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// Commands the aggregate handles.
    type Command: Send + Sync;
    /// Events the aggregate emits and folds.
    type Event: DomainEvent;
    /// Domain errors (rejected commands).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides what happens when `command` meets the current state.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
    /// Folds one event into the state. Must not fail: events are facts.
    fn apply(&mut self, event: &Self::Event);

    /// Encodes a refusal so it can be stored under the command's idempotency
    /// key: a repeat of the request then gets the same refusal, even after
    /// the state changed (same key, same answer). `None` (the default):
    /// refusals are not stored and a repeat is decided again.
    fn encode_refusal(_error: &Self::Error) -> Option<Vec<u8>> {
        None
    }

    /// Decodes a refusal stored by [`Aggregate::encode_refusal`]; `None`
    /// when the bytes cannot be read (reported as a decode error).
    fn decode_refusal(_bytes: &[u8]) -> Option<Self::Error> {
        None
    }
}

/// Replays `events` onto a default aggregate (for tests and projections).
pub fn replay<'a, A: Aggregate>(events: impl IntoIterator<Item = &'a A::Event>) -> A {
    let mut state = A::default();
    for e in events {
        state.apply(e);
    }
    state
}

/// Given past events, when a command arrives: the events it produces.
/// The "given / when / then" form of aggregate tests.
pub fn given_when<A: Aggregate>(
    given: &[A::Event],
    when: &A::Command,
) -> Result<Vec<A::Event>, A::Error> {
    replay::<A>(given).decide(when)
}

/// Errors of [`Repository::execute`].
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError<E: std::error::Error + 'static> {
    /// The aggregate rejected the command.
    #[error(transparent)]
    Domain(E),
    /// The event log failed or refused the append.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A stored event could not be decoded.
    #[error("event at position {position}: {source}")]
    Decode {
        /// Position of the event.
        position: u64,
        /// Why it failed.
        source: DecodeError,
    },
    /// The stream kept moving; gave up after the configured retries.
    #[error("stream {stream:?} kept changing; gave up after {attempts} attempts")]
    TooManyConflicts {
        /// The contended stream.
        stream: String,
        /// Attempts made.
        attempts: usize,
    },
}

/// Idempotency of one command: the caller's key and a hash of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// Caller's key (operation id, request id, source event id, ...).
    pub key: String,
    /// SHA-256 of the request's canonical bytes ([`crate::log::request_hash`]).
    pub request_hash: [u8; 32],
}

/// What executing a command did.
#[derive(Debug, Clone)]
pub enum Executed {
    /// The command was decided now; its events (possibly none) are durable.
    Applied {
        /// Stream version after the events.
        version: u64,
        /// The recorded events.
        events: Vec<RecordedEvent>,
        /// The reply stored under the idempotency key (empty without one).
        reply: Vec<u8>,
    },
    /// The same request was executed before: its stored reply, nothing done.
    Repeated {
        /// The stored reply.
        reply: Vec<u8>,
    },
}

impl Executed {
    /// The reply bytes, whether fresh or stored.
    pub fn reply(&self) -> &[u8] {
        match self {
            Executed::Applied { reply, .. } | Executed::Repeated { reply } => reply,
        }
    }
}
