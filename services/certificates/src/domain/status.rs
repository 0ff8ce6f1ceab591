//! The states of a certificate and their names in import files.
//!
//! ```text
//!             activate                 redeem (one-time, or amount 0)
//!  Prepared ───────────▶ Activated ─────────────────────▶ Redeemed
//!     │                  │  ▲   │ use (amount changes)
//!     │ cancel           │  └───┘
//!     ├──────────────────┼──────────────▶ Canceled
//!     │                  │ refund (money back to the buyer)
//!     │                  └──────────────▶ Refunded
//!     │ expire (at ExpirationDate)
//!     └─────────────── Activated too ───▶ Expired
//! ```
//!
//! Redeemed, Canceled, Refunded and Expired are final: no import moves a
//! certificate out of them (re-importing the same final state changes
//! nothing). Activation needs an activation date not after the expiration
//! date. The incomplete-process states of other systems (Activating,
//! Returning, Refunding) are never imported.

use std::fmt;

/// Where a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Status {
    /// Issued, not sold yet.
    #[default]
    Prepared,
    /// Sold: its amount can be spent.
    Activated,
    /// Spent in full (or a one-time certificate used).
    Redeemed,
    /// Withdrawn from circulation.
    Canceled,
    /// Its money went back to the buyer.
    Refunded,
    /// Past its expiration date.
    Expired,
}

/// Why a status name is not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// A state of an unfinished process elsewhere.
    #[error(
        "status {0} is an unfinished process (activating, returning or refunding): finish it, then import the result"
    )]
    Incomplete(String),
    /// Not a status.
    #[error("unknown status {0}: Prepared, Activated, Redeemed, Canceled, Refunded or Expired")]
    Unknown(String),
}

impl Status {
    /// Every status, in the order of the diagram.
    pub const ALL: [Status; 6] = [
        Status::Prepared,
        Status::Activated,
        Status::Redeemed,
        Status::Canceled,
        Status::Refunded,
        Status::Expired,
    ];

    /// The status named `name` in an import file: case-insensitive, with
    /// the seed's spelling `Redunded` and the British `Cancelled` taken too.
    pub fn parse(name: &str) -> Result<Self, StatusError> {
        let n = name.trim().to_ascii_lowercase();
        Ok(match n.as_str() {
            "prepared" => Status::Prepared,
            "activated" => Status::Activated,
            "redeemed" => Status::Redeemed,
            "canceled" | "cancelled" => Status::Canceled,
            "refunded" | "redunded" => Status::Refunded,
            "expired" => Status::Expired,
            "activating" | "returning" | "refunding" => {
                return Err(StatusError::Incomplete(name.trim().to_owned()));
            }
            _ => return Err(StatusError::Unknown(kit::status::quote(name))),
        })
    }

    /// True for the states no import leaves.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Redeemed | Status::Canceled | Status::Refunded | Status::Expired
        )
    }

    /// Whether an import may move a certificate from `self` to `to` (the
    /// same state is always allowed: it may carry other data, or none).
    pub fn may_become(self, to: Status) -> bool {
        use Status::*;
        self == to
            || matches!(
                (self, to),
                (Prepared, Activated | Canceled | Expired)
                    | (Activated, Redeemed | Canceled | Refunded | Expired)
            )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Prepared => "Prepared",
            Status::Activated => "Activated",
            Status::Redeemed => "Redeemed",
            Status::Canceled => "Canceled",
            Status::Refunded => "Refunded",
            Status::Expired => "Expired",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_spellings_and_unfinished_processes() {
        assert_eq!(Status::parse("Redunded"), Ok(Status::Refunded));
        assert_eq!(Status::parse(" refunded "), Ok(Status::Refunded));
        assert_eq!(Status::parse("Cancelled"), Ok(Status::Canceled));
        for s in Status::ALL {
            assert_eq!(Status::parse(&s.to_string()), Ok(s));
        }
        for s in ["Activating", "Returning", "Refunding"] {
            assert!(matches!(Status::parse(s), Err(StatusError::Incomplete(_))));
        }
        assert!(matches!(
            Status::parse("Sold"),
            Err(StatusError::Unknown(_))
        ));
    }

    #[test]
    fn final_states_are_left_by_no_import() {
        for from in Status::ALL.into_iter().filter(|s| s.is_final()) {
            for to in Status::ALL {
                assert_eq!(from.may_become(to), from == to, "{from} → {to}");
            }
        }
        assert!(Status::Prepared.may_become(Status::Activated));
        assert!(!Status::Prepared.may_become(Status::Redeemed));
        assert!(!Status::Activated.may_become(Status::Prepared));
    }
}
