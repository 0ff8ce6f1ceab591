//! `google.protobuf.Timestamp` with canonical proto3 JSON.
//!
//! pbjson-types renders timestamps with a `+00:00` offset; the proto3 JSON
//! mapping requires the `Z`-normalised form (`2026-11-22T05:34:15.147654Z`)
//! with 0, 3, 6 or 9 fractional digits. This type is wire-compatible with the
//! well-known type and serialises canonically.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: seconds and nanoseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Message)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Non-negative fractions of a second at nanosecond resolution.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        }
    }
}

impl TryFrom<Timestamp> for DateTime<Utc> {
    type Error = &'static str;
    fn try_from(t: Timestamp) -> Result<Self, Self::Error> {
        let nanos = u32::try_from(t.nanos).map_err(|_| "negative nanos")?;
        DateTime::from_timestamp(t.seconds, nanos).ok_or("timestamp out of range")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let t = DateTime::<Utc>::try_from(*self).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        let t = DateTime::parse_from_rfc3339(&s).map_err(serde::de::Error::custom)?;
        Ok(t.with_timezone(&Utc).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_z_normalised_and_round_trips() {
        let t: Timestamp = DateTime::parse_from_rfc3339("2026-11-22T08:34:15.147654+03:00")
            .unwrap()
            .with_timezone(&Utc)
            .into();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-22T05:34:15.147654Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let whole = Timestamp {
            seconds: 0,
            nanos: 0,
        };
        assert_eq!(
            serde_json::to_string(&whole).unwrap(),
            "\"1970-01-01T00:00:00Z\""
        );
    }
}
