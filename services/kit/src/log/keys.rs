//! Key layout of the log tree and validation of the strings stored in it.

use super::{LogError, MAX_SHORT_FIELD};

pub(crate) const EVENT_PREFIX: u8 = b'E';
pub(crate) const STREAM_PREFIX: u8 = b'S';
pub(crate) const HEAD_PREFIX: u8 = b'H';
pub(crate) const IDEMPOTENCY_PREFIX: u8 = b'I';

pub(crate) fn validate_short(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_SHORT_FIELD && !value.chars().any(char::is_control)
}

pub(crate) fn validate_stream(stream: &str) -> Result<(), LogError> {
    let reason = if stream.is_empty() {
        "empty"
    } else if stream.len() > MAX_SHORT_FIELD {
        "longer than 1024 bytes"
    } else if stream.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(());
    };
    Err(LogError::InvalidStreamId {
        stream: stream.chars().take(64).collect(),
        reason,
    })
}

pub(crate) fn event_key(position: u64) -> [u8; 9] {
    let mut k = [EVENT_PREFIX; 9];
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

pub(crate) fn stream_prefix(stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 10);
    k.push(STREAM_PREFIX);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k
}

pub(crate) fn stream_key(stream: &str, version: u64) -> Vec<u8> {
    let mut k = stream_prefix(stream);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

pub(crate) fn head_key(stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 1);
    k.push(HEAD_PREFIX);
    k.extend_from_slice(stream.as_bytes());
    k
}

pub(crate) fn idempotency_key(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(IDEMPOTENCY_PREFIX);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Encodes a stream head: its version and the id of its last event.
pub(crate) fn head_value(version: u64, last_event: uuid::Uuid) -> [u8; 24] {
    let mut v = [0u8; 24];
    v[..8].copy_from_slice(&version.to_be_bytes());
    v[8..].copy_from_slice(last_event.as_bytes());
    v
}

/// Decodes a stream head written by [`head_value`].
pub(crate) fn decode_head(bytes: &[u8]) -> Option<(u64, uuid::Uuid)> {
    if bytes.len() != 24 {
        return None;
    }
    let version = be_u64(&bytes[..8])?;
    let id = uuid::Uuid::from_bytes(bytes[8..].try_into().ok()?);
    Some((version, id))
}

pub(crate) fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}
