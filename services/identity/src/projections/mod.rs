//! The identity service's read models, fed from its event log by the kit's
//! runner and rebuilt by `identity rebuild-projections`.

pub mod directory;
pub mod stock;

use kit::aggregate::DomainEvent;
use kit::log::RecordedEvent;

use crate::events::Event;

/// Decodes a recorded identity event (`None` for other types).
fn decode(event: &RecordedEvent) -> Option<Event> {
    Event::decode(&event.event_type, &event.payload).ok()
}

/// Adds `delta` to the big-endian counter row `key`.
fn bump(rows: &mut kit::projection::Rows<'_>, key: &[u8], delta: i64) -> anyhow::Result<()> {
    let now = match rows.get(key)? {
        Some(v) => i64::from_be_bytes(v.as_slice().try_into()?),
        None => 0,
    };
    rows.insert(key.to_vec(), (now + delta).to_be_bytes().to_vec());
    Ok(())
}

/// Reads the counter row `key` of `tree` (0 when absent).
pub fn counter(tree: &sled::Tree, key: &[u8]) -> anyhow::Result<i64> {
    Ok(match tree.get(key)? {
        Some(v) => i64::from_be_bytes(v.as_ref().try_into()?),
        None => 0,
    })
}
