//! The [`Repository`]: runs commands against aggregates loaded from the log,
//! with optimistic concurrency, idempotency keys and durable-only answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::{Aggregate, DecodeError, DomainEvent, Executed, Idempotency, RepositoryError};
use crate::keylock::{KeyGuard, KeyLocks};
use crate::log::{
    AppendOutcome, EventLog, ExpectedVersion, IdempotencyRecord, LogError, Metadata, NewEvent,
    StoredIdempotency,
};

/// The event type reported when a stored refusal cannot be decoded.
const REFUSAL: &str = "stored refusal";

/// The latest state of one stream as this process knows it.
#[derive(Clone)]
struct Known<A> {
    state: A,
    version: u64,
    /// Id of the stream's last event (`None` at version 0).
    last_event: Option<Uuid>,
    /// True when the state includes appends not confirmed durable yet.
    speculative: bool,
}

impl<A> Known<A> {
    /// The expected version for an append on top of this state.
    fn expected(&self) -> ExpectedVersion {
        match self.last_event {
            Some(id) => ExpectedVersion::ExactAfter(self.version, id),
            None => ExpectedVersion::Exact(self.version),
        }
    }
}

type Slot<A> = Arc<tokio::sync::Mutex<Option<Known<A>>>>;

/// Loads aggregates from the log and runs commands against them.
///
/// Commands on one stream are serialised in-process: each decides on the
/// state left by the previous one — even while that one's append is still
/// on its way to disk — and submits its own append behind it, expecting the
/// previous append's last event as the stream's head
/// ([`ExpectedVersion::ExactAfter`]). So a hot stream (one account taking
/// 1000 concurrent withdrawals) commits many commands per flush, and if an
/// earlier append fails, every append decided on it is refused and retried on
/// fresh state: nothing is committed on state that did not become durable.
/// A command that ends without an append (a rejection, a no-op) is answered
/// only after the state it was decided on is confirmed durable.
///
/// Requests with the same idempotency key run one at a time, so a client's
/// retry of a request still in flight gets that request's stored reply.
pub struct Repository<A: Aggregate> {
    log: Arc<EventLog>,
    max_attempts: usize,
    cache_capacity: usize,
    slots: Mutex<HashMap<String, Slot<A>>>,
    keys: KeyLocks,
    /// States [`Repository::load`] built, by stream, with the stream head
    /// (version, last event) they were built at: reused while the head is
    /// the same, so hot reads (a token check, a card lookup) cost one key
    /// read instead of a replay.
    reads: Mutex<HashMap<String, (u64, Uuid, A)>>,
    read_capacity: usize,
}

impl<A: Aggregate> Repository<A> {
    /// A repository over `log`, retrying conflicts up to 16 times and keeping
    /// up to 100 000 aggregates for commands and 20 000 for reads in memory
    /// (the log stays the truth).
    pub fn new(log: Arc<EventLog>) -> Self {
        Self {
            log,
            max_attempts: 16,
            cache_capacity: 100_000,
            slots: Mutex::new(HashMap::new()),
            keys: KeyLocks::default(),
            reads: Mutex::new(HashMap::new()),
            read_capacity: 20_000,
        }
    }

    /// Sets how many idle aggregates are kept in memory.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self.read_capacity = self.read_capacity.min(capacity);
        self
    }

    /// Sets how many states [`Repository::load`] keeps for reuse
    /// (default 20 000; when full, a new one replaces an arbitrary one).
    pub fn with_read_cache_capacity(mut self, capacity: usize) -> Self {
        self.read_capacity = capacity;
        self
    }

    /// The log behind the repository.
    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    fn slot(&self, stream: &str) -> Slot<A> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(stream) {
            return Arc::clone(slot);
        }
        if slots.len() >= self.cache_capacity.max(1) {
            // Crude but bounded: forget idle streams; the log rebuilds on demand.
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        let slot: Slot<A> = Arc::default();
        slots.insert(stream.to_owned(), Arc::clone(&slot));
        slot
    }

    async fn lock_key(&self, key: &str) -> KeyGuard {
        self.keys.lock(key).await
    }

    /// Number of idempotency keys currently locked or waited for (the map
    /// holds only keys in use).
    pub fn keys_in_use(&self) -> usize {
        self.keys.in_use()
    }

    /// Loads the current state of the aggregate in `stream` from the log.
    /// With `durable_only`, events past the durable head (a cycle being
    /// committed right now) are left out; without, they are folded in and
    /// the state is marked speculative.
    fn load_known(
        &self,
        stream: &str,
        durable_only: bool,
    ) -> Result<Known<A>, RepositoryError<A::Error>> {
        let events = match self.log.read_stream(stream, 0) {
            Ok(events) => events,
            Err(LogError::StreamNotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        // Read after the events: an event at or below it is on disk.
        let durable = self.log.head();
        let mut known = Known {
            state: A::default(),
            version: 0,
            last_event: None,
            speculative: false,
        };
        for recorded in &events {
            if recorded.position > durable {
                if durable_only {
                    break;
                }
                known.speculative = true;
            }
            let event =
                A::Event::decode(&recorded.event_type, &recorded.payload).map_err(|source| {
                    RepositoryError::Decode {
                        position: recorded.position,
                        source,
                    }
                })?;
            known.state.apply(&event);
            known.version = recorded.version;
            known.last_event = Some(recorded.id);
        }
        Ok(known)
    }

    /// Loads the current state and version of the aggregate in `stream` from
    /// the log (default state at version 0 when the stream does not exist).
    pub fn load(&self, stream: &str) -> Result<(A, u64), RepositoryError<A::Error>> {
        let Some((version, last)) = self.log.stream_head(stream)? else {
            return Ok((A::default(), 0));
        };
        if let Some((v, id, state)) = self
            .reads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(stream)
            && (*v, *id) == (version, last)
        {
            return Ok((state.clone(), version));
        }
        // Only durable state is answered: a cycle still being fsynced could
        // fail, and then nobody may have seen its events.
        let known = self.load_known(stream, true)?;
        // Remember it only if it is exactly the head looked up above (the
        // stream may have moved on in between, or the head was not durable
        // yet; then the next read reloads). Cached states are all durable.
        if known.version == version && known.last_event == Some(last) {
            let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
            if reads.len() >= self.read_capacity.max(1)
                && let Some(evicted) = reads.keys().next().cloned()
            {
                // Any one entry: cheap, and never a stampede of reloads.
                reads.remove(&evicted);
            }
            reads.insert(stream.to_owned(), (version, last, known.state.clone()));
        }
        Ok((known.state, known.version))
    }

    /// The answer to a repeated request: its stored reply, or its stored
    /// refusal as the same domain error.
    fn repeated(stored: StoredIdempotency) -> Result<Executed, RepositoryError<A::Error>> {
        if !stored.refused {
            return Ok(Executed::Repeated {
                reply: stored.result,
            });
        }
        match A::decode_refusal(&stored.result) {
            Some(e) => Err(RepositoryError::Domain(e)),
            None => Err(RepositoryError::Decode {
                position: stored.position,
                source: DecodeError {
                    event_type: REFUSAL.to_owned(),
                    reason: "the stored refusal cannot be decoded".to_owned(),
                },
            }),
        }
    }

    /// Waits until everything submitted so far is committed, then checks that
    /// the stream's durable head is the one `known` was built on.
    async fn confirm(&self, stream: &str, known: &Known<A>) -> Result<bool, LogError> {
        self.log.barrier()?.outcome().await?;
        let head = self.log.stream_head(stream)?;
        Ok(head == known.last_event.map(|id| (known.version, id)))
    }

    /// Runs `command` against the aggregate in `stream`.
    ///
    /// With `idempotency`, a repeat of the same request returns the stored
    /// reply without deciding again; the same key with another request is
    /// [`LogError::IdempotencyConflict`]. Keys share one namespace per log:
    /// scope them by their source (e.g. `api/Withdraw/<operationId>`,
    /// [`crate::consumer::Inbound::idempotency_key`]). `reply` builds the
    /// bytes stored as the result from the new state and the events decided.
    pub async fn execute(
        &self,
        stream: &str,
        command: &A::Command,
        idempotency: Option<Idempotency>,
        metadata: Metadata,
        reply: impl Fn(&A, &[A::Event]) -> Vec<u8>,
    ) -> Result<Executed, RepositoryError<A::Error>> {
        self.execute_with(
            stream,
            |state| state.decide(command).map(|events| (events, ())),
            idempotency,
            metadata,
            reply,
        )
        .await
        .map(|(executed, _)| executed)
    }

    /// Like [`Repository::execute`], with the decision made by `decide`
    /// (pure, possibly called again after a conflict), which may also return
    /// an output of its own — e.g. an outcome per item of a multi-item
    /// command. The output of the decision that was committed is returned
    /// (`None` for a repeated request).
    pub async fn execute_with<R>(
        &self,
        stream: &str,
        decide: impl Fn(&A) -> Result<(Vec<A::Event>, R), A::Error>,
        idempotency: Option<Idempotency>,
        metadata: Metadata,
        reply: impl Fn(&A, &[A::Event]) -> Vec<u8>,
    ) -> Result<(Executed, Option<R>), RepositoryError<A::Error>> {
        let mut key = match &idempotency {
            Some(idem) => Some(self.lock_key(&idem.key).await),
            None => None,
        };
        if let Some(idem) = &idempotency
            && let Some(stored) = self
                .log
                .check_idempotency(&idem.key, &idem.request_hash)
                .await?
        {
            return Self::repeated(stored).map(|executed| (executed, None));
        }
        let slot = self.slot(stream);
        for _ in 0..self.max_attempts {
            let (pending, decided, version) = {
                let mut guard = slot.lock().await;
                let mut known = match guard.take() {
                    Some(known) => known,
                    None => self.load_known(stream, false)?,
                };
                let decided = decide(&known.state);
                // A refusal is stored under the key when the aggregate can
                // encode it: it then takes the append path (an entry, no events).
                let refusal = match (&decided, &idempotency) {
                    (Err(e), Some(_)) => A::encode_refusal(e),
                    _ => None,
                };
                let appends = match &decided {
                    Ok((events, _)) => !events.is_empty() || idempotency.is_some(),
                    Err(_) => refusal.is_some(),
                };
                if !appends {
                    // No append: answer only from confirmed durable state.
                    if known.speculative {
                        if !self.confirm(stream, &known).await? {
                            continue;
                        }
                        known.speculative = false;
                    }
                    let version = known.version;
                    let result = match decided {
                        Ok((_, output)) => Ok((
                            Executed::Applied {
                                version,
                                events: Vec::new(),
                                reply: reply(&known.state, &[]),
                            },
                            Some(output),
                        )),
                        Err(e) => Err(RepositoryError::Domain(e)),
                    };
                    *guard = Some(known);
                    return result;
                }
                let expected = known.expected();
                // Advance the known state in place: no copy on the hot path.
                let Known {
                    mut state,
                    version,
                    last_event,
                    ..
                } = known;
                let events: &[A::Event] = match &decided {
                    Ok((events, _)) => events,
                    Err(_) => &[],
                };
                for e in events {
                    state.apply(e);
                }
                let result = match &refusal {
                    Some(bytes) => bytes.clone(),
                    None => reply(&state, events),
                };
                let new_events: Vec<NewEvent> = events
                    .iter()
                    .map(|e| NewEvent {
                        event_type: e.event_type().to_owned(),
                        payload: e.encode(),
                        metadata: metadata.clone(),
                    })
                    .collect();
                let idem = idempotency.as_ref().map(|i| IdempotencyRecord {
                    key: i.key.clone(),
                    request_hash: i.request_hash,
                    result: result.clone(),
                    refused: refusal.is_some(),
                });
                let pending = self.log.submit(stream, expected, new_events, idem)?;
                // Later commands decide on the state this append will produce.
                *guard = Some(Known {
                    state,
                    version: version + events.len() as u64,
                    last_event: pending.event_ids().last().copied().or(last_event),
                    speculative: true,
                });
                let decided = decided.map(|(_, output)| (output, result));
                (pending, decided, version)
            };
            let outcome = match key.take() {
                // The key stays locked until the append's outcome is known,
                // even if this request is cancelled meanwhile: a retry waits
                // for it and answers from what was stored.
                Some(held) => {
                    let slot = Arc::clone(&slot);
                    let task = tokio::spawn(async move {
                        let outcome = pending.outcome().await;
                        if !matches!(outcome, Ok(AppendOutcome::Appended(_))) {
                            *slot.lock().await = None;
                        }
                        (outcome, held)
                    });
                    let (outcome, held) = task.await.map_err(|_| LogError::Closed)?;
                    key = Some(held);
                    outcome
                }
                None => {
                    let outcome = pending.outcome().await;
                    if !matches!(outcome, Ok(AppendOutcome::Appended(_))) {
                        *slot.lock().await = None;
                    }
                    outcome
                }
            };
            match outcome {
                Ok(AppendOutcome::Appended(appended)) => {
                    return match decided {
                        Ok((output, reply)) => Ok((
                            Executed::Applied {
                                version: version.max(appended.stream_version),
                                events: appended.events,
                                reply,
                            },
                            Some(output),
                        )),
                        Err(e) => Err(RepositoryError::Domain(e)),
                    };
                }
                Ok(AppendOutcome::Duplicate(stored)) => {
                    return Self::repeated(stored).map(|executed| (executed, None));
                }
                Err(LogError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepositoryError::TooManyConflicts {
            stream: stream.to_owned(),
            attempts: self.max_attempts,
        })
    }
}
