//! Binary encoding of stored records, each sealed with a CRC-32 checksum that
//! is verified on every read.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::{LogError, Metadata, RecordedEvent};

/// Format tag of an event record.
const EVENT_FORMAT_V1: u8 = 1;
/// Format tag of an idempotency record (always a reply).
const IDEMPOTENCY_FORMAT_V1: u8 = 1;
/// Format tag of an idempotency record with an outcome byte (0 reply, 1 refusal).
const IDEMPOTENCY_FORMAT_V2: u8 = 2;

/// Appends `bytes` prefixed by its length as `u16`.
#[allow(
    clippy::expect_used,
    reason = "append validates every short field (stream, type, ids) to at most u16::MAX bytes"
)]
fn put_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("short field length validated before encoding");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends `bytes` prefixed by its length as `u32`.
#[allow(
    clippy::expect_used,
    reason = "append bounds payloads and replies far below u32::MAX (the event size limit)"
)]
fn put_long(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("long field length validated before encoding");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Seals `out` with the CRC-32 of its contents.
fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Splits a sealed record into its body after verifying the checksum.
fn unseal(bytes: &[u8]) -> Result<&[u8], &'static str> {
    if bytes.len() < 5 {
        return Err("record shorter than its checksum");
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_be_bytes(
        crc.try_into()
            .map_err(|_| "record shorter than its checksum")?,
    );
    if crc32fast::hash(body) != stored {
        return Err("checksum mismatch");
    }
    Ok(body)
}

/// Sequential reader over a record body.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.bytes.len() < n {
            return Err("record truncated");
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "record truncated")
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, &'static str> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn short(&mut self) -> Result<&'a [u8], &'static str> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(len as usize)
    }
    fn short_str(&mut self) -> Result<&'a str, &'static str> {
        std::str::from_utf8(self.short()?).map_err(|_| "string field is not UTF-8")
    }
    fn opt_string(&mut self) -> Result<Option<String>, &'static str> {
        let s = self.short_str()?;
        Ok((!s.is_empty()).then(|| s.to_owned()))
    }
}

/// Encodes an event record.
pub(crate) fn encode_event(event: &RecordedEvent) -> Vec<u8> {
    let md = &event.metadata;
    let mut out =
        Vec::with_capacity(64 + event.stream.len() + event.event_type.len() + event.payload.len());
    out.push(EVENT_FORMAT_V1);
    out.extend_from_slice(&event.position.to_be_bytes());
    out.extend_from_slice(&event.version.to_be_bytes());
    out.extend_from_slice(event.id.as_bytes());
    out.extend_from_slice(&event.time.timestamp_micros().to_be_bytes());
    put_short(&mut out, event.stream.as_bytes());
    put_short(&mut out, event.event_type.as_bytes());
    put_short(
        &mut out,
        md.correlation_id.as_deref().unwrap_or("").as_bytes(),
    );
    put_short(
        &mut out,
        md.causation_id.as_deref().unwrap_or("").as_bytes(),
    );
    put_short(&mut out, md.traceparent.as_deref().unwrap_or("").as_bytes());
    put_long(&mut out, &event.payload);
    seal(out)
}

/// Decodes and verifies an event record stored under `position`.
pub(crate) fn decode_event(position: u64, bytes: &[u8]) -> Result<RecordedEvent, LogError> {
    let corrupt = |reason: &'static str| LogError::Corrupt { position, reason };
    let body = unseal(bytes).map_err(corrupt)?;
    let mut c = Cursor { bytes: body };
    if c.u8().map_err(corrupt)? != EVENT_FORMAT_V1 {
        return Err(corrupt("unknown record format"));
    }
    let stored_position = c.u64().map_err(corrupt)?;
    if stored_position != position {
        return Err(corrupt("record position differs from its key"));
    }
    let version = c.u64().map_err(corrupt)?;
    let id = Uuid::from_bytes(c.array().map_err(corrupt)?);
    let micros = c.i64().map_err(corrupt)?;
    let time = Utc
        .timestamp_micros(micros)
        .single()
        .ok_or_else(|| corrupt("time out of range"))?;
    let stream = c.short_str().map_err(corrupt)?.to_owned();
    let event_type = c.short_str().map_err(corrupt)?.to_owned();
    let metadata = Metadata {
        correlation_id: c.opt_string().map_err(corrupt)?,
        causation_id: c.opt_string().map_err(corrupt)?,
        traceparent: c.opt_string().map_err(corrupt)?,
    };
    let len = c.u32().map_err(corrupt)? as usize;
    let payload = c.take(len).map_err(corrupt)?.to_vec();
    if !c.bytes.is_empty() {
        return Err(corrupt("trailing bytes after payload"));
    }
    Ok(RecordedEvent {
        position,
        stream,
        version,
        id,
        event_type,
        time,
        payload,
        metadata,
    })
}

/// A stored idempotency entry: what a key was first used for and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdempotency {
    /// SHA-256 of the request that first used the key.
    pub request_hash: [u8; 32],
    /// Stream the request appended to.
    pub stream: String,
    /// Global position of the last event the request appended (or the log head
    /// at the time, when it appended none).
    pub position: u64,
    /// When the key was first used.
    pub recorded_at: DateTime<Utc>,
    /// The result stored for the request, returned again for repeats.
    pub result: Vec<u8>,
    /// True when `result` is a stored refusal rather than a reply.
    pub refused: bool,
}

/// Encodes an idempotency entry.
pub(crate) fn encode_idempotency(entry: &StoredIdempotency) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entry.stream.len() + entry.result.len());
    out.push(IDEMPOTENCY_FORMAT_V2);
    out.push(u8::from(entry.refused));
    out.extend_from_slice(&entry.request_hash);
    out.extend_from_slice(&entry.position.to_be_bytes());
    out.extend_from_slice(&entry.recorded_at.timestamp_micros().to_be_bytes());
    put_short(&mut out, entry.stream.as_bytes());
    put_long(&mut out, &entry.result);
    seal(out)
}

/// Decodes and verifies an idempotency entry stored under `key`.
pub(crate) fn decode_idempotency(key: &str, bytes: &[u8]) -> Result<StoredIdempotency, LogError> {
    let corrupt = |reason: &'static str| LogError::CorruptIdempotency {
        key: key.to_owned(),
        reason,
    };
    let body = unseal(bytes).map_err(corrupt)?;
    let mut c = Cursor { bytes: body };
    let refused = match c.u8().map_err(corrupt)? {
        IDEMPOTENCY_FORMAT_V1 => false,
        IDEMPOTENCY_FORMAT_V2 => match c.u8().map_err(corrupt)? {
            0 => false,
            1 => true,
            _ => return Err(corrupt("unknown outcome")),
        },
        _ => return Err(corrupt("unknown record format")),
    };
    let request_hash: [u8; 32] = c.array().map_err(corrupt)?;
    let position = c.u64().map_err(corrupt)?;
    let recorded_at = Utc
        .timestamp_micros(c.i64().map_err(corrupt)?)
        .single()
        .ok_or_else(|| corrupt("time out of range"))?;
    let stream = c.short_str().map_err(corrupt)?.to_owned();
    let len = c.u32().map_err(corrupt)? as usize;
    let result = c.take(len).map_err(corrupt)?.to_vec();
    Ok(StoredIdempotency {
        request_hash,
        stream,
        position,
        recorded_at,
        result,
        refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordedEvent {
        RecordedEvent {
            position: 42,
            stream: "account-1".into(),
            version: 3,
            id: Uuid::now_v7(),
            event_type: "loyalty.test.v1.Happened".into(),
            time: Utc.timestamp_micros(1_700_000_000_123_456).unwrap(),
            payload: b"payload".to_vec(),
            metadata: Metadata {
                correlation_id: Some("corr".into()),
                causation_id: None,
                traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            },
        }
    }

    #[test]
    fn event_round_trips() {
        let e = sample();
        let bytes = encode_event(&e);
        assert_eq!(decode_event(42, &bytes).unwrap(), e);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = encode_event(&sample());
        for i in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[i / 8] ^= 1 << (i % 8);
            let err = decode_event(42, &damaged).unwrap_err();
            assert!(
                matches!(err, LogError::Corrupt { position: 42, .. }),
                "bit {i}: {err}"
            );
        }
    }

    #[test]
    fn truncation_and_wrong_key_are_detected() {
        let bytes = encode_event(&sample());
        for len in 0..bytes.len() {
            assert!(
                decode_event(42, &bytes[..len]).is_err(),
                "truncated to {len}"
            );
        }
        assert!(matches!(
            decode_event(43, &bytes),
            Err(LogError::Corrupt { position: 43, .. })
        ));
    }

    #[test]
    fn idempotency_round_trips() {
        let entry = StoredIdempotency {
            request_hash: [7; 32],
            stream: "s".into(),
            position: 9,
            recorded_at: Utc.timestamp_micros(1_700_000_000_000_000).unwrap(),
            result: b"ok".to_vec(),
            refused: false,
        };
        let bytes = encode_idempotency(&entry);
        assert_eq!(decode_idempotency("k", &bytes).unwrap(), entry);
        let mut damaged = bytes.clone();
        damaged[3] ^= 0xff;
        assert!(decode_idempotency("k", &damaged).is_err());
        let refusal = StoredIdempotency {
            refused: true,
            ..entry
        };
        let bytes = encode_idempotency(&refusal);
        assert_eq!(decode_idempotency("k", &bytes).unwrap(), refusal);
    }

    #[test]
    fn version_1_idempotency_records_still_read_as_replies() {
        let mut out = vec![IDEMPOTENCY_FORMAT_V1];
        out.extend_from_slice(&[7; 32]);
        out.extend_from_slice(&9u64.to_be_bytes());
        out.extend_from_slice(&1_700_000_000_000_000i64.to_be_bytes());
        put_short(&mut out, b"s");
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(b"ok");
        let entry = decode_idempotency("k", &seal(out)).unwrap();
        assert!(!entry.refused);
        assert_eq!(entry.result, b"ok");
    }
}
