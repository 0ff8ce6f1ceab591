//! Certificates that can still expire, by expiration date: what the expiry
//! sweep expires once their date has passed.
//!
//! Rows: `e` + date (YYYYMMDD) + certificate id → "" (the sweep's index,
//! in date order) and `c` + certificate id → the date (to move or remove
//! the index row when the certificate changes).

use chrono::NaiveDate;
use kit::aggregate::{Aggregate, DomainEvent};
use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};

use crate::domain::certificate::{Certificate, Event};

/// The projection's name.
pub const NAME: &str = "expiring";

const INDEX: u8 = b'e';
const BY_ID: u8 = b'c';

/// The expiring-certificates projection.
pub struct Expiring;

fn index_key(date: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(INDEX);
    k.extend_from_slice(date.as_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn id_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(BY_ID);
    k.extend_from_slice(id.as_bytes());
    k
}

fn day(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// The certificates whose expiration date is before `today`, oldest first.
pub fn due(tree: &sled::Tree, today: NaiveDate) -> anyhow::Result<Vec<String>> {
    let end = index_key(&day(today), "");
    let mut out = Vec::new();
    for row in tree.range(vec![INDEX]..end) {
        let (key, _) = row?;
        if let Some(id) = key.get(9..) {
            out.push(String::from_utf8_lossy(id).into_owned());
        }
    }
    Ok(out)
}

impl Projection for Expiring {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, recorded: &RecordedEvent) -> anyhow::Result<()> {
        if !recorded.stream.starts_with("certificate/") {
            return Ok(());
        }
        let event = Event::decode(&recorded.event_type, &recorded.payload)?;
        let (id, expires) = match &event {
            Event::Imported { certificate_id, .. } | Event::Updated { certificate_id, .. } => {
                // Both carry the certificate's state and dates as they are
                // now: folded into a blank certificate, they say when it
                // expires.
                let mut c = Certificate::default();
                c.apply(&event);
                (certificate_id.clone(), c.expires_on())
            }
            Event::Expired { certificate_id, .. } => (certificate_id.clone(), None),
            // A payment leaves the dates as they are; a certificate it
            // redeemed stays indexed, and the sweep's Expire of it does
            // nothing (only a live certificate expires).
            Event::Used { .. } => return Ok(()),
            // The event before it (an update or a payment) moved the state.
            Event::Transitioned { .. } => return Ok(()),
        };
        if let Some(old) = rows.get(&id_key(&id))? {
            rows.remove(index_key(&String::from_utf8_lossy(&old), &id));
            rows.remove(id_key(&id));
        }
        if let Some(date) = expires {
            let date = day(date);
            rows.insert(index_key(&date, &id), Vec::new());
            rows.insert(id_key(&id), date.into_bytes());
        }
        Ok(())
    }
}
