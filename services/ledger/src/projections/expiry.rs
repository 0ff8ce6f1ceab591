//! The expiry schedule: which accounts have buckets expiring, and holds
//! lapsing, when.
//!
//! Rows:
//! - `b<stream>\0<bucket id BE>` → expiry (µs BE, 8 bytes) + amount left (decimal string);
//! - `d<expiry µs BE><stream>\0<bucket id BE>` → empty, present while the
//!   bucket has an amount left;
//! - `h<stream>\0<hold id>` → the hold's expiry (µs BE, 8 bytes);
//! - `t<expiry µs BE><stream>\0<hold id>` → empty; both present while a hold
//!   with an expiry is open.
//!
//! The scheduler scans the `d` and `t` rows ([`DUE`]) up to now and asks
//! each account to expire what is due; the resulting `HoldExpired` and
//! `PointsExpired` events close the holds and empty the buckets and remove
//! their rows (so do captures and releases of holds), so every hold and
//! every bucket expires exactly once.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use kit::aggregate::DomainEvent;
use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};
use rust_decimal::Decimal;

use super::row_key;
use crate::domain::account::{AccountKey, Draw, Event};

/// Name of the projection (tree `proj/expiry`).
pub const NAME: &str = "expiry";

/// The expiry-schedule projection.
pub struct ExpirySchedule;

/// Prefix of a due row: a bucket's.
const BUCKET_DUE: u8 = b'd';
/// Prefix of a due row: a hold's.
const HOLD_DUE: u8 = b't';
/// The prefixes of due rows (buckets, holds), each sorted by time.
pub const DUE: [u8; 2] = [BUCKET_DUE, HOLD_DUE];

fn bucket_key(stream: &str, bucket: u64) -> Vec<u8> {
    row_key(b'b', &[stream.as_bytes(), &bucket.to_be_bytes()])
}

fn hold_key(stream: &str, hold: &str) -> Vec<u8> {
    row_key(b'h', &[stream.as_bytes(), hold.as_bytes()])
}

/// A due row's key: `prefix`, the expiry, the stream, NUL, the `item`.
fn due_key(prefix: u8, expires: i64, stream: &str, item: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + item.len() + 10);
    k.push(prefix);
    // Expiry times are after 1970: the big-endian bytes sort by time.
    k.extend_from_slice(&(expires.max(0) as u64).to_be_bytes());
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(item);
    k
}

/// Parses a due row key (`d` or `t`) into (expiry, stream).
pub fn parse_due_key(key: &[u8]) -> Option<(DateTime<Utc>, String)> {
    let (prefix, rest) = key.split_first()?;
    if !DUE.contains(prefix) {
        return None;
    }
    let micros = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let tail = rest.get(8..)?;
    let nul = tail.iter().position(|b| *b == 0)?;
    let stream = std::str::from_utf8(&tail[..nul]).ok()?.to_owned();
    Some((DateTime::from_timestamp_micros(micros as i64)?, stream))
}

/// The first key after every `prefix` due row due at or before `now`.
pub fn due_until(prefix: u8, now: DateTime<Utc>) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(&((now.timestamp_micros().max(0) as u64) + 1).to_be_bytes());
    k
}

impl ExpirySchedule {
    /// Adds `delta` to a bucket's amount, keeping the `d` row in step.
    fn adjust(
        rows: &mut Rows<'_>,
        stream: &str,
        bucket: u64,
        expires: Option<DateTime<Utc>>,
        delta: Decimal,
    ) -> anyhow::Result<()> {
        let key = bucket_key(stream, bucket);
        let (expiry, amount) = match rows.get(&key)? {
            Some(v) if v.len() >= 8 => (
                i64::from_be_bytes(v[..8].try_into()?),
                Decimal::from_str(std::str::from_utf8(&v[8..])?)?,
            ),
            _ => match expires {
                Some(t) => (t.timestamp_micros(), Decimal::ZERO),
                // Buckets that never expire are not scheduled.
                None => return Ok(()),
            },
        };
        let left = amount
            .checked_add(delta)
            .ok_or_else(|| anyhow::anyhow!("bucket {bucket} of {stream}: amount out of range"))?;
        let due = due_key(BUCKET_DUE, expiry, stream, &bucket.to_be_bytes());
        if left > Decimal::ZERO {
            let mut v = expiry.to_be_bytes().to_vec();
            v.extend_from_slice(left.to_string().as_bytes());
            rows.insert(key, v);
            rows.insert(due, Vec::new());
        } else {
            rows.remove(key);
            rows.remove(due);
        }
        Ok(())
    }

    /// Schedules a hold placed with an expiry.
    fn hold_placed(rows: &mut Rows<'_>, stream: &str, hold: &str, expires: DateTime<Utc>) {
        let micros = expires.timestamp_micros();
        rows.insert(hold_key(stream, hold), micros.to_be_bytes().to_vec());
        rows.insert(
            due_key(HOLD_DUE, micros, stream, hold.as_bytes()),
            Vec::new(),
        );
    }

    /// Unschedules a hold that was captured, released or expired.
    fn hold_closed(rows: &mut Rows<'_>, stream: &str, hold: &str) -> anyhow::Result<()> {
        let key = hold_key(stream, hold);
        // Holds placed without an expiry were never scheduled.
        let Some(v) = rows.get(&key)? else {
            return Ok(());
        };
        let micros = i64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("hold {hold:?} of {stream}: bad schedule row"))?,
        );
        rows.remove(key);
        rows.remove(due_key(HOLD_DUE, micros, stream, hold.as_bytes()));
        Ok(())
    }

    fn draws(
        rows: &mut Rows<'_>,
        stream: &str,
        draws: &[Draw],
        sign: Decimal,
    ) -> anyhow::Result<()> {
        for d in draws {
            let delta = if sign.is_sign_negative() {
                -d.amount
            } else {
                d.amount
            };
            Self::adjust(rows, stream, d.bucket_id, d.expires_at, delta)?;
        }
        Ok(())
    }
}

impl Projection for ExpirySchedule {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, recorded: &RecordedEvent) -> anyhow::Result<()> {
        if AccountKey::from_stream(&recorded.stream).is_none() {
            return Ok(()); // batch records and other non-account streams
        }
        let event = Event::decode(&recorded.event_type, &recorded.payload)?;
        let s = recorded.stream.as_str();
        let (plus, minus) = (Decimal::ONE, Decimal::NEGATIVE_ONE);
        match &event {
            // A lapsed pending accrual needs no timer: it counts nowhere
            // from its lapse on, and nothing was taken from a bucket for it.
            Event::Opened { .. }
            | Event::PendingAccrued { .. }
            | Event::PendingDropped { .. }
            | Event::PurchaseConfirmed { .. }
            | Event::PurchaseCancelled { .. } => {}
            // What landed in the bucket (an accrual that paid debt holds less).
            Event::Accrued { bucket, .. } => {
                Self::adjust(rows, s, bucket.id, bucket.expires_at, bucket.amount)?
            }
            Event::Withdrawn { draws, .. } => Self::draws(rows, s, draws, minus)?,
            Event::Held {
                hold_id,
                draws,
                expires_at,
                ..
            } => {
                Self::draws(rows, s, draws, minus)?;
                if let Some(t) = expires_at {
                    Self::hold_placed(rows, s, hold_id, *t);
                }
            }
            Event::Captured {
                hold_id, returned, ..
            }
            | Event::Released {
                hold_id, returned, ..
            }
            | Event::HoldExpired {
                hold_id, returned, ..
            } => {
                Self::draws(rows, s, returned, plus)?;
                Self::hold_closed(rows, s, hold_id)?;
            }
            Event::Refunded { draws, credit, .. } => {
                Self::draws(rows, s, draws, if *credit { plus } else { minus })?
            }
            Event::Expired {
                bucket_id, amount, ..
            } => Self::adjust(rows, s, *bucket_id, None, -*amount)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_by_time_and_parse_back() {
        let t1 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t2 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = due_key(BUCKET_DUE, t1.timestamp_micros(), "account/z/BONUS", &[9]);
        let b = due_key(BUCKET_DUE, t2.timestamp_micros(), "account/a/BONUS", &[1]);
        assert!(a < b);
        assert_eq!(parse_due_key(&a), Some((t1, "account/z/BONUS".to_owned())));
        assert!(a < due_until(BUCKET_DUE, t1) && b > due_until(BUCKET_DUE, t1));
        let h = due_key(HOLD_DUE, t1.timestamp_micros(), "account/m/BONUS", b"h/1");
        assert_eq!(parse_due_key(&h), Some((t1, "account/m/BONUS".to_owned())));
        assert!(h < due_until(HOLD_DUE, t1) && due_until(BUCKET_DUE, t2) < h);
        assert_eq!(parse_due_key(&hold_key("account/m/BONUS", "h/1")), None);
    }
}
