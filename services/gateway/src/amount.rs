//! Money and quantities in the seeds' JSON: numbers (`85`, `76.5`), read and
//! written exactly. A JSON number is parsed from its text into a
//! [`Decimal`], never through binary floating point; answers write the decimal's digits as a
//! JSON number token. A quoted number (`"76.5"`) is accepted too.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Longest text of an amount the gateway reads (digits, sign, point,
/// exponent): more than any money or quantity has.
pub const MAX_AMOUNT_TEXT: usize = 40;

/// An exact decimal amount in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Amount(pub Decimal);

impl Amount {
    /// Parses the text of an amount (`76.5`, `-1`, `1e2`).
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.len() > MAX_AMOUNT_TEXT {
            return None;
        }
        // More fractional digits than a decimal keeps would be rounded away
        // silently: refuse them.
        let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
        if mantissa
            .split_once('.')
            .is_some_and(|(_, fraction)| fraction.len() > 28)
        {
            return None;
        }
        let parsed = if text.contains(['e', 'E']) {
            Decimal::from_scientific(text).ok()?
        } else {
            Decimal::from_str(text).ok()?
        };
        Some(Self(parsed))
    }

    /// An amount from a service's decimal string (`"76.50"`); `None` for an
    /// empty string (the service had no value).
    pub fn from_wire(text: &str) -> Option<Self> {
        Self::parse(text.trim())
    }

    /// The decimal's text for a gRPC request (`"76.5"`).
    pub fn to_wire(self) -> String {
        self.0.normalize().to_string()
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.0.normalize().to_string();
        let raw = RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get().trim();
        let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(quoted) => quoted,
            None => text,
        };
        // The value is not quoted back: a card number or PIN typed into
        // the wrong field must not travel back in the answer.
        Amount::parse(text).ok_or_else(|| {
            serde::de::Error::custom("expected a number with at most 28 digits after the point")
        })
    }
}

impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .description(Some(
                "An exact decimal (read and written without binary floating point), e.g. 76.5",
            ))
            .examples([serde_json::json!(76.5)])
            .into()
    }
}

impl utoipa::ToSchema for Amount {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_and_quoted_numbers_read_exactly() {
        let a: Amount = serde_json::from_str("76.5").unwrap();
        assert_eq!(a.0, Decimal::new(765, 1));
        let b: Amount = serde_json::from_str("\"0.10\"").unwrap();
        assert_eq!(b.to_wire(), "0.1");
        let c: Amount = serde_json::from_str("1e2").unwrap();
        assert_eq!(c.to_wire(), "100");
        // 0.1 + 0.2 in binary floating point is not 0.3; as read here it is.
        let x: Amount = serde_json::from_str("0.1").unwrap();
        let y: Amount = serde_json::from_str("0.2").unwrap();
        assert_eq!((x.0 + y.0).to_string(), "0.3");
    }

    #[test]
    fn bad_amounts_are_refused_with_a_short_quote() {
        for bad in ["\"abc\"", "true", "\"\"", "{}", "[1]"] {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
        let long = format!("\"{}\"", "9".repeat(500));
        let e = serde_json::from_str::<Amount>(&long)
            .unwrap_err()
            .to_string();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn answers_are_json_numbers() {
        let v =
            serde_json::to_string(&vec![Amount(Decimal::new(7650, 2)), Amount::default()]).unwrap();
        assert_eq!(v, "[76.5,0]");
    }

    proptest! {
        #[test]
        fn any_decimal_round_trips(mantissa in any::<i64>(), scale in 0u32..=10) {
            let d = Decimal::new(mantissa, scale);
            let text = serde_json::to_string(&Amount(d)).unwrap();
            let back: Amount = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back.0, d);
        }
    }
}
