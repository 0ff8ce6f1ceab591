//! Where each group's activity is in the log, so `ListActivity` reads one
//! page and not the whole stream. Rows: the group's stream, a zero byte,
//! the activity's sequence (8 bytes, big-endian) → the event's position
//! (8 bytes, big-endian).

use kit::aggregate::DomainEvent;
use kit::log::{EventLog, LogError, RecordedEvent};
use kit::projection::{Projection, Rows};

use crate::domain::activity::Activity;
use crate::domain::group::Event;
use crate::events::types;

/// The projection's name.
pub const NAME: &str = "activity";

/// The activity index.
pub struct ActivityIndex;

fn key(stream: &str, sequence: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 9);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(&sequence.to_be_bytes());
    k
}

/// The activity of `stream` with a sequence after `after`, at most `max`,
/// oldest first: `max` index rows and `max` events read, whatever the
/// stream's length.
pub fn page(
    tree: &sled::Tree,
    log: &EventLog,
    stream: &str,
    after: u64,
    max: usize,
) -> anyhow::Result<Vec<Activity>> {
    let Some(from) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for row in tree
        .range(key(stream, from)..=key(stream, u64::MAX))
        .take(max)
    {
        let (_, position) = row?;
        let position = <[u8; 8]>::try_from(position.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| anyhow::anyhow!("activity index: malformed position"))?;
        let event = log
            .read_all(position, 1)?
            .into_iter()
            .next()
            .ok_or(LogError::Corrupt {
                position,
                reason: "the activity index points past the log",
            })?;
        if let Some(a) = activity_of(&event)? {
            out.push(a);
        }
    }
    Ok(out)
}

/// The activity a group's event carries, if any.
pub fn activity_of(e: &RecordedEvent) -> anyhow::Result<Option<Activity>> {
    if e.event_type != types::ACTIVITY_DETECTED && e.event_type != types::ACTIVITY_REMOVED {
        return Ok(None);
    }
    match Event::decode(&e.event_type, &e.payload)? {
        Event::Detected(a) | Event::Removed(a) => Ok(Some(a)),
        _ => Ok(None),
    }
}

impl Projection for ActivityIndex {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, event: &RecordedEvent) -> anyhow::Result<()> {
        if !event.stream.starts_with("group/") {
            return Ok(());
        }
        if let Some(a) = activity_of(event)? {
            rows.insert(
                key(&event.stream, a.sequence()),
                event.position.to_be_bytes().to_vec(),
            );
        }
        Ok(())
    }
}
