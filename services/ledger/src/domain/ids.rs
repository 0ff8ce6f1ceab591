//! The one rule of the ledger's ids (operation, hold, member, card, request
//! ids): present, at most [`MAX_ID`] bytes, printable; an id that becomes
//! part of a stream name or idempotency key ([`StreamId`]) has no `/` either.

use std::fmt;

/// Longest accepted id, in bytes.
pub const MAX_ID: usize = 128;

/// Why a value is not an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdFault {
    /// Empty or blank.
    #[error("is required")]
    Missing,
    /// Too long, or with control characters.
    #[error("must be at most {MAX_ID} printable characters")]
    Malformed,
    /// Contains `/`, which separates the parts of stream names.
    #[error("must not contain '/'")]
    Slash,
}

/// Checks an id against the rule (no `/` check: operation ids may have one).
pub fn check(value: &str) -> Result<(), IdFault> {
    if value.trim().is_empty() {
        Err(IdFault::Missing)
    } else if value.len() > MAX_ID || value.chars().any(char::is_control) {
        Err(IdFault::Malformed)
    } else {
        Ok(())
    }
}

/// An id that is part of a stream name (member ids, `memberNo`s): the rule
/// and no `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

impl StreamId {
    /// Parses `value`.
    pub fn parse(value: &str) -> Result<Self, IdFault> {
        check(value)?;
        if value.contains('/') {
            return Err(IdFault::Slash);
        }
        Ok(Self(value.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rule() {
        assert_eq!(check(""), Err(IdFault::Missing));
        assert_eq!(check("  "), Err(IdFault::Missing));
        assert_eq!(check("a\nb"), Err(IdFault::Malformed));
        assert_eq!(check(&"x".repeat(MAX_ID + 1)), Err(IdFault::Malformed));
        assert_eq!(check("op/1"), Ok(()));
        assert_eq!(StreamId::parse("m/1"), Err(IdFault::Slash));
        assert_eq!(StreamId::parse("m-1").unwrap().as_str(), "m-1");
    }

    proptest! {
        #[test]
        fn a_stream_id_never_has_a_slash_or_control_and_fits(s in ".{0,200}") {
            if let Ok(id) = StreamId::parse(&s) {
                prop_assert!(!id.as_str().contains('/'));
                prop_assert!(id.as_str().len() <= MAX_ID);
                prop_assert!(!id.as_str().chars().any(char::is_control));
            }
        }
    }
}
