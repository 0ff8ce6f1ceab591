//! The catalog's versions as an aggregate: stream [`STREAM`] of
//! [`CatalogChanged`] events, each carrying a whole catalog. Its state is the
//! catalog in effect; version 0 is [`Catalog::builtin`].

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;
use serde::{Deserialize, Serialize};

use super::Catalog;

/// The stream of the catalog's versions.
pub const STREAM: &str = "catalog";

/// The catalog in effect and its version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogVersions {
    /// Version (0: the built-in catalog).
    pub version: u64,
    /// The catalog.
    pub catalog: Catalog,
}

/// Replace the catalog with a new version.
#[derive(Debug, Clone)]
pub struct CatalogCommand {
    /// The new catalog (already checked).
    pub catalog: Catalog,
    /// When set, the version the caller based its change on.
    pub expected_version: Option<u64>,
    /// Who makes the change.
    pub operator_id: String,
    /// Where it comes from: `api` or `file:<path>`.
    pub source: String,
    /// The request id (empty for a file).
    pub request_id: String,
    /// When it takes effect.
    pub at: DateTime<Utc>,
}

/// A new version took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogChanged {
    /// The new version.
    pub version: u64,
    /// The whole catalog of that version.
    pub catalog: Catalog,
    /// Who changed it.
    pub operator_id: String,
    /// Where it came from.
    pub source: String,
    /// The request id (empty for a file).
    pub request_id: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// Why a new version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CatalogError {
    /// Another version is in effect than the caller read.
    #[error("the catalog is at version {actual}, not {expected}")]
    VersionMismatch {
        /// The version the caller named.
        expected: u64,
        /// The version in effect.
        actual: u64,
    },
    /// A currency of the current version is missing: its balances exist.
    #[error("currency {0} cannot be removed: accounts may hold it")]
    CurrencyRemoved(String),
    /// A currency's precision would shrink: stored amounts may use it.
    #[error("the precision of {currency} cannot decrease from {from} to {to}")]
    PrecisionDecreased {
        /// The currency.
        currency: String,
        /// Its precision now.
        from: u32,
        /// The precision asked for.
        to: u32,
    },
}

impl Aggregate for CatalogVersions {
    type Command = CatalogCommand;
    type Event = CatalogChanged;
    type Error = CatalogError;

    /// Decides a change: refused when the version or the rules say so
    /// (currencies stay, precision never shrinks); no event when the catalog
    /// is the current one.
    fn decide(&self, c: &CatalogCommand) -> Result<Vec<CatalogChanged>, CatalogError> {
        if let Some(expected) = c.expected_version
            && expected != self.version
        {
            return Err(CatalogError::VersionMismatch {
                expected,
                actual: self.version,
            });
        }
        for old in self.catalog.currencies() {
            let Some(new) = c.catalog.currencies.get(&old.id) else {
                return Err(CatalogError::CurrencyRemoved(old.id.clone()));
            };
            if new.precision < old.precision {
                return Err(CatalogError::PrecisionDecreased {
                    currency: old.id.clone(),
                    from: old.precision,
                    to: new.precision,
                });
            }
        }
        if c.catalog == self.catalog {
            return Ok(Vec::new());
        }
        Ok(vec![CatalogChanged {
            version: self.version + 1,
            catalog: c.catalog.clone(),
            operator_id: c.operator_id.clone(),
            source: c.source.clone(),
            request_id: c.request_id.clone(),
            changed_at: c.at,
        }])
    }

    /// Folds a new version in.
    fn apply(&mut self, e: &CatalogChanged) {
        self.version = e.version;
        self.catalog = e.catalog.clone();
    }

    /// Refusals are stored under the request id, as JSON.
    fn encode_refusal(error: &CatalogError) -> Option<Vec<u8>> {
        serde_json::to_vec(error).ok()
    }

    fn decode_refusal(bytes: &[u8]) -> Option<CatalogError> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::{CatalogDraft, CurrencyDraft};

    fn command(draft: &CatalogDraft, expected: Option<u64>) -> CatalogCommand {
        CatalogCommand {
            catalog: Catalog::try_from(draft).unwrap(),
            expected_version: expected,
            operator_id: "op-7".into(),
            source: "api".into(),
            request_id: "r1".into(),
            at: DateTime::UNIX_EPOCH,
        }
    }

    fn with_usd() -> CatalogDraft {
        let mut d = Catalog::builtin().to_draft();
        d.currencies.push(CurrencyDraft {
            id: "USD".into(),
            precision: 2,
            max_amount: None,
        });
        d
    }

    #[test]
    fn a_new_currency_is_version_one() {
        let events = CatalogVersions::default()
            .decide(&command(&with_usd(), Some(0)))
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].version, 1);
        assert!(events[0].catalog.currency("USD").is_some());
        assert_eq!(events[0].operator_id, "op-7");
    }

    #[test]
    fn the_same_catalog_again_records_nothing() {
        let state = CatalogVersions::default();
        let same = command(&Catalog::builtin().to_draft(), None);
        assert_eq!(state.decide(&same).unwrap(), []);
    }

    #[test]
    fn a_stale_version_is_refused() {
        let mut state = CatalogVersions::default();
        for e in state.decide(&command(&with_usd(), None)).unwrap() {
            state.apply(&e);
        }
        assert_eq!(
            state.decide(&command(&with_usd(), Some(0))),
            Err(CatalogError::VersionMismatch {
                expected: 0,
                actual: 1
            })
        );
    }

    #[test]
    fn currencies_stay_and_precision_only_grows() {
        let state = CatalogVersions::default();
        let mut removed = Catalog::builtin().to_draft();
        removed.currencies.retain(|c| c.id != "EUR");
        assert_eq!(
            state.decide(&command(&removed, None)),
            Err(CatalogError::CurrencyRemoved("EUR".into()))
        );
        let mut fewer = Catalog::builtin().to_draft();
        fewer.currencies[0].precision = 0;
        assert!(matches!(
            state.decide(&command(&fewer, None)),
            Err(CatalogError::PrecisionDecreased { from: 2, to: 0, .. })
        ));
        let mut more = Catalog::builtin().to_draft();
        more.currencies[0].precision = 4;
        assert_eq!(state.decide(&command(&more, None)).unwrap().len(), 1);
    }
}
