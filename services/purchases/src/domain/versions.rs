//! The program's rules as versions (stream `rules`): each change is an
//! event; the version in effect at a time decides a step that happened then
//! (an offline cheque replayed later keeps the rules of its day). Version 0
//! is the built-in [`Rules::default`], in effect from the beginning.

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;

use super::rules::Rules;

/// The stream of the rules' versions.
pub const STREAM: &str = "rules";

/// A recorded version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Its number (1, 2, ...).
    pub version: u64,
    /// The rules.
    pub rules: Rules,
    /// Who changed them.
    pub operator_id: String,
    /// "api" or "file:<path>".
    pub source: String,
    /// When they took effect.
    pub changed_at: DateTime<Utc>,
    /// The change's idempotency key.
    pub request_id: String,
}

/// A change of the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The new rules, whole (validated).
    pub rules: Rules,
    /// Who changes them.
    pub operator_id: String,
    /// "api" or "file:<path>".
    pub source: String,
    /// Now.
    pub at: DateTime<Utc>,
    /// The change's idempotency key.
    pub request_id: String,
    /// Refused unless this is the version in effect.
    pub expected_version: Option<u64>,
}

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum RulesError {
    /// Another version took effect since the caller read them.
    #[error("the rules are at version {actual}, not {expected}")]
    VersionMismatch {
        /// What the caller expected.
        expected: u64,
        /// What is in effect.
        actual: u64,
    },
}

/// Every version so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesVersions {
    versions: Vec<Version>,
}

impl RulesVersions {
    /// The version in effect now and its rules (0: the built-in rules).
    pub fn current(&self) -> (u64, Rules) {
        self.versions
            .last()
            .map_or((0, Rules::default()), |v| (v.version, v.rules.clone()))
    }

    /// The version in effect at `at` and its rules: the last one changed at
    /// or before it (0: the built-in rules, before any change).
    pub fn at(&self, at: DateTime<Utc>) -> (u64, Rules) {
        self.versions
            .iter()
            .rev()
            .find(|v| v.changed_at <= at)
            .map_or((0, Rules::default()), |v| (v.version, v.rules.clone()))
    }

    /// Every recorded version, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }
}

impl Aggregate for RulesVersions {
    type Command = Change;
    type Event = Version;
    type Error = RulesError;

    fn decide(&self, c: &Change) -> Result<Vec<Version>, RulesError> {
        let (actual, rules) = self.current();
        if let Some(expected) = c.expected_version
            && expected != actual
        {
            return Err(RulesError::VersionMismatch { expected, actual });
        }
        if rules == c.rules {
            return Ok(Vec::new());
        }
        // A version never takes effect before the one it follows.
        let changed_at = self
            .versions
            .last()
            .map_or(c.at, |v| v.changed_at.max(c.at));
        Ok(vec![Version {
            version: actual + 1,
            rules: c.rules.clone(),
            operator_id: c.operator_id.clone(),
            source: c.source.clone(),
            changed_at,
            request_id: c.request_id.clone(),
        }])
    }

    fn apply(&mut self, event: &Version) {
        self.versions.push(event.clone());
    }

    fn encode_refusal(error: &RulesError) -> Option<Vec<u8>> {
        serde_json::to_vec(error).ok()
    }

    fn decode_refusal(bytes: &[u8]) -> Option<RulesError> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use kit::aggregate::{given_when, replay};
    use rust_decimal::Decimal;

    use super::*;

    fn change(share: i64, at: DateTime<Utc>, expected: Option<u64>) -> Change {
        Change {
            rules: Rules {
                payment_share_percent: Decimal::from(share),
                ..Rules::default()
            },
            operator_id: "op".into(),
            source: "api".into(),
            at,
            request_id: format!("r{share}"),
            expected_version: expected,
        }
    }

    #[test]
    fn each_date_gets_the_version_in_effect_then() {
        let t = |d| Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap();
        let v1 = given_when::<RulesVersions>(&[], &change(30, t(10), None)).unwrap();
        let mut history = v1.clone();
        history.extend(given_when::<RulesVersions>(&history, &change(20, t(20), Some(1))).unwrap());
        let versions = replay::<RulesVersions>(&history);
        assert_eq!(versions.at(t(1)).0, 0);
        assert_eq!(versions.at(t(1)).1, Rules::default());
        assert_eq!(versions.at(t(15)).0, 1);
        assert_eq!(
            versions.at(t(25)).1.payment_share_percent,
            Decimal::from(20)
        );
        assert_eq!(versions.current().0, 2);
        // The same rules again record nothing; a stale expectation is refused.
        assert!(
            given_when::<RulesVersions>(&history, &change(20, t(21), None))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            given_when::<RulesVersions>(&history, &change(40, t(22), Some(1))),
            Err(RulesError::VersionMismatch {
                expected: 1,
                actual: 2
            })
        );
    }
}
