//! Idempotency keys of the ledger's own requests, in one namespace per log:
//! built and read back here only.

use std::fmt;

/// What a request's idempotency key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyKey {
    /// An operation (`Accrue`, `Withdraw`, `CaptureHold`, `ReleaseHold`,
    /// `Refund`) by its operation id: `api/op/<id>`, unique across the
    /// ledger whatever the account or method.
    Operation(String),
    /// A hold by its hold id: `api/hold/<id>`.
    Hold(String),
    /// A catalog change by its request id: `api/catalog/<id>`.
    Catalog(String),
    /// A batch by its `requestId`: `batch/<id>` (also the batch's stream).
    Batch(String),
}

impl IdempotencyKey {
    /// The caller's id inside the key.
    pub fn id(&self) -> &str {
        match self {
            Self::Operation(id) | Self::Hold(id) | Self::Catalog(id) | Self::Batch(id) => id,
        }
    }

    /// Reads a key back (e.g. from a log error); `None` for keys of other
    /// sources (consumed events).
    pub fn parse(key: &str) -> Option<Self> {
        if let Some(id) = key.strip_prefix("batch/") {
            return Some(Self::Batch(id.to_owned()));
        }
        let (namespace, id) = key.strip_prefix("api/")?.split_once('/')?;
        let id = id.to_owned();
        match namespace {
            "op" => Some(Self::Operation(id)),
            "hold" => Some(Self::Hold(id)),
            "catalog" => Some(Self::Catalog(id)),
            _ => None,
        }
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operation(id) => write!(f, "api/op/{id}"),
            Self::Hold(id) => write!(f, "api/hold/{id}"),
            Self::Catalog(id) => write!(f, "api/catalog/{id}"),
            Self::Batch(id) => write!(f, "batch/{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_written_even_with_slashes_in_the_id() {
        for key in [
            IdempotencyKey::Operation("a/b".into()),
            IdempotencyKey::Hold("h1".into()),
            IdempotencyKey::Catalog("c/1".into()),
            IdempotencyKey::Batch("r/2".into()),
        ] {
            assert_eq!(IdempotencyKey::parse(&key.to_string()), Some(key));
        }
        assert_eq!(IdempotencyKey::parse("identity/card_issued/x"), None);
    }
}
