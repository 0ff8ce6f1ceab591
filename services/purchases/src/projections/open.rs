//! Open purchases by the time their first step was recorded: what the
//! timeout sweep cancels when it stays unconfirmed too long.
//!
//! Rows: `o` + opened-at (micros, big-endian) + purchase id → "" (the
//! sweep's index, in time order) and `p` + purchase id → opened-at (to
//! remove the index row when the purchase is settled).

use chrono::{DateTime, Utc};
use kit::aggregate::DomainEvent;
use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};

use crate::domain::purchase::Event;

/// The projection's name.
pub const NAME: &str = "open-purchases";

const INDEX: u8 = b'o';
const BY_ID: u8 = b'p';

/// The open-purchases projection.
pub struct OpenPurchases;

fn index_key(opened_micros: i64, purchase_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + purchase_id.len());
    k.push(INDEX);
    k.extend_from_slice(&opened_micros.to_be_bytes());
    k.extend_from_slice(purchase_id.as_bytes());
    k
}

fn id_key(purchase_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + purchase_id.len());
    k.push(BY_ID);
    k.extend_from_slice(purchase_id.as_bytes());
    k
}

/// The purchases opened before `until`, oldest first: (purchase id, opened at).
pub fn opened_before(
    tree: &sled::Tree,
    until: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
    let end = index_key(until.timestamp_micros(), "");
    let mut out = Vec::new();
    for row in tree.range(vec![INDEX]..end) {
        let (key, _) = row?;
        let Some(micros) = key.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            continue;
        };
        let micros = i64::from_be_bytes(micros);
        let id = String::from_utf8_lossy(&key[9..]).into_owned();
        if let Some(at) = DateTime::<Utc>::from_timestamp_micros(micros) {
            out.push((id, at));
        }
    }
    Ok(out)
}

impl Projection for OpenPurchases {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, recorded: &RecordedEvent) -> anyhow::Result<()> {
        if !recorded.stream.starts_with("purchase/") {
            return Ok(());
        }
        let event = Event::decode(&recorded.event_type, &recorded.payload)?;
        let id = event.step().purchase_id.as_str();
        match event {
            Event::Calculated { .. } | Event::Paid { .. } | Event::BonusCalculated { .. } => {
                if rows.get(&id_key(id))?.is_none() {
                    let micros = recorded.time.timestamp_micros();
                    rows.insert(index_key(micros, id), Vec::new());
                    rows.insert(id_key(id), micros.to_be_bytes().to_vec());
                }
            }
            Event::Confirmed { .. } | Event::Cancelled { .. } | Event::TimedOut { .. } => {
                if let Some(v) = rows.get(&id_key(id))? {
                    let micros = <[u8; 8]>::try_from(v.as_slice())
                        .map(i64::from_be_bytes)
                        .map_err(|_| anyhow::anyhow!("bad open-purchase row for {id:?}"))?;
                    rows.remove(index_key(micros, id));
                    rows.remove(id_key(id));
                }
            }
            Event::Refunded { .. } | Event::MessageRequested { .. } => {}
        }
        Ok(())
    }
}
