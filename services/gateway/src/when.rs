//! Times in request bodies: RFC 3339 with a zone (`2019-04-09T07:24:26.628Z`,
//! seed 001), or without one (`2019-04-09T10:24:26`, `2013-08-14 12:26:14`),
//! which older tills send and seed 003 prescribes ("without the time zone,
//! Moscow time"). A zone-less time is read at the gateway's
//! `--naive-time-offset` (`+03:00` by default).

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest time text read.
const MAX_LEN: usize = 40;

/// Zone-less forms accepted.
const NAIVE_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];

/// A time as the client wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// With its zone.
    Zoned(DateTime<FixedOffset>),
    /// Without a zone: local time at the gateway's offset.
    Naive(NaiveDateTime),
}

impl When {
    /// Parses `text`; `None` when it is neither form.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() > MAX_LEN {
            return None;
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(Self::Zoned(t));
        }
        NAIVE_FORMATS
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .map(Self::Naive)
    }

    /// The instant, reading a zone-less time at `offset`.
    pub fn at(self, offset: FixedOffset) -> DateTime<Utc> {
        match self {
            Self::Zoned(t) => t.with_timezone(&Utc),
            Self::Naive(t) => t
                .and_local_timezone(offset)
                .single()
                .map_or_else(|| t.and_utc(), |t| t.with_timezone(&Utc)),
        }
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(
                "a date and time: RFC 3339 (2019-04-09T07:24:26.628Z), or without a zone (2019-04-09T10:24:26, 2019-04-09 10:24:26) in the gateway's local time",
            )
        })
    }
}

impl Serialize for When {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Zoned(t) => s.serialize_str(&t.to_rfc3339()),
            Self::Naive(t) => s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        }
    }
}

/// Parses an offset such as `+03:00`, `-05:30` or `Z`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    if text == "Z" || text == "UTC" {
        return FixedOffset::east_opt(0);
    }
    DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{text}"))
        .ok()
        .map(|t| *t.offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn moscow() -> FixedOffset {
        parse_offset("+03:00").unwrap()
    }

    #[test]
    fn zoned_and_zone_less_times_are_read() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let z = When::parse("2019-04-09T07:24:26.628Z").unwrap();
        assert_eq!(z.at(moscow()), utc("2019-04-09T07:24:26.628Z"));
        let naive = When::parse("2019-04-09T10:24:26.628").unwrap();
        assert_eq!(naive.at(moscow()), utc("2019-04-09T07:24:26.628Z"));
        let spaced = When::parse("2013-08-14 12:26:14").unwrap();
        assert_eq!(spaced.at(moscow()), utc("2013-08-14T09:26:14Z"));
        assert_eq!(
            spaced.at(parse_offset("Z").unwrap()),
            utc("2013-08-14T12:26:14Z")
        );
        for bad in [
            "",
            "yesterday",
            "2019-13-01T00:00:00",
            "2019-04-09",
            &"9".repeat(100),
        ] {
            assert_eq!(When::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn offsets_are_read() {
        assert_eq!(
            parse_offset("-05:30"),
            FixedOffset::west_opt(5 * 3600 + 1800)
        );
        assert_eq!(parse_offset("+3"), None);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,60}") {
            let _ = When::parse(&s).map(|w| w.at(moscow()));
        }
    }
}
