//! Exact amounts: parsing decimal strings against a currency's precision.

use std::str::FromStr;

use rust_decimal::Decimal;

/// Why an amount string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Empty string.
    #[error("amount is required")]
    Missing,
    /// Not a plain decimal number.
    #[error("amount {0:?} is not a decimal number")]
    NotDecimal(String),
    /// Zero or negative.
    #[error("amount must be greater than zero")]
    NotPositive,
    /// More decimals than the currency has.
    #[error("amount has {given} decimals; the currency allows {allowed}")]
    TooManyDecimals {
        /// Decimals in the input.
        given: u32,
        /// The currency's precision.
        allowed: u32,
    },
    /// Above the largest amount one operation may move in the currency.
    #[error("amount must be at most {max}")]
    TooLarge {
        /// The currency's bound.
        max: Decimal,
    },
}

impl AmountError {
    /// Stable machine-readable reason for field violations.
    pub fn reason(&self) -> &'static str {
        match self {
            AmountError::Missing => "REQUIRED",
            AmountError::NotDecimal(_) => "NOT_A_DECIMAL",
            AmountError::NotPositive => "NOT_POSITIVE",
            AmountError::TooManyDecimals { .. } => "TOO_MANY_DECIMALS",
            AmountError::TooLarge { .. } => "TOO_LARGE",
        }
    }
}

/// Parses a positive amount with at most `precision` decimals. Only plain
/// decimal notation is accepted (`"36.50"`, `"1000"`): no exponents, no
/// thousands separators, no signs other than a leading minus (refused).
pub fn parse_positive(input: &str, precision: u32) -> Result<Decimal, AmountError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(AmountError::Missing);
    }
    let plain = s
        .strip_prefix('-')
        .unwrap_or(s)
        .split_once('.')
        .map_or_else(
            || {
                s.trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_digit())
            },
            |(i, f)| {
                !i.is_empty()
                    && !f.is_empty()
                    && i.chars().all(|c| c.is_ascii_digit())
                    && f.chars().all(|c| c.is_ascii_digit())
            },
        );
    if !plain || s.len() > 40 {
        return Err(AmountError::NotDecimal(prefix(s)));
    }
    let value = Decimal::from_str(s).map_err(|_| AmountError::NotDecimal(prefix(s)))?;
    if value <= Decimal::ZERO {
        return Err(AmountError::NotPositive);
    }
    let given = value.normalize().scale();
    if given > precision {
        return Err(AmountError::TooManyDecimals {
            given,
            allowed: precision,
        });
    }
    Ok(value.normalize())
}

/// Parses a positive amount with at most `precision` decimals and at most
/// `max` (see [`parse_positive`]): the bound every amount entering the
/// ledger is checked against, so no sum of them can overflow.
pub fn parse_bounded(input: &str, precision: u32, max: Decimal) -> Result<Decimal, AmountError> {
    let value = parse_positive(input, precision)?;
    if value > max {
        return Err(AmountError::TooLarge { max });
    }
    Ok(value)
}

/// Longest part of a refused value an error message quotes.
pub const QUOTE_CHARS: usize = 32;

/// At most the first [`QUOTE_CHARS`] characters of `s` (with `…` when cut):
/// what an error may echo of a value it refuses.
pub fn prefix(s: &str) -> String {
    let mut out: String = s.chars().take(QUOTE_CHARS).collect();
    if s.chars().nth(QUOTE_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// `s` quoted for an error message, cut to a short prefix (see [`prefix`]).
pub fn quote(s: &str) -> String {
    format!("{:?}", prefix(s))
}

/// Renders an amount with exactly `precision` decimals (`"36.50"`).
pub fn render(value: Decimal, precision: u32) -> String {
    let mut v = value;
    v.rescale(precision);
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_plain_decimals_within_precision() {
        assert_eq!(parse_positive("36.50", 2).unwrap().to_string(), "36.5");
        assert_eq!(parse_positive("1000", 0).unwrap().to_string(), "1000");
        assert_eq!(
            parse_positive("1522.460", 2).unwrap().to_string(),
            "1522.46"
        );
        assert_eq!(render(parse_positive("36.5", 2).unwrap(), 2), "36.50");
    }

    #[test]
    fn refuses_bad_amounts_with_a_reason() {
        assert_eq!(parse_positive("", 2), Err(AmountError::Missing));
        assert_eq!(parse_positive("0", 2), Err(AmountError::NotPositive));
        assert_eq!(parse_positive("-5", 2), Err(AmountError::NotPositive));
        assert_eq!(
            parse_positive("1.234", 2),
            Err(AmountError::TooManyDecimals {
                given: 3,
                allowed: 2
            })
        );
        for bad in ["1e3", "1,5", "abc", "1.", ".5", "+1", "NaN", "1 000"] {
            assert!(
                matches!(parse_positive(bad, 2), Err(AmountError::NotDecimal(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn bounded_amounts_refuse_what_is_above_the_bound() {
        let max = Decimal::new(1_000_000_000_000, 0);
        assert_eq!(parse_bounded("1000000000000", 2, max), Ok(max));
        assert_eq!(
            parse_bounded("1000000000000.01", 2, max),
            Err(AmountError::TooLarge { max })
        );
        assert_eq!(
            parse_bounded("79228162514264337593543950335", 2, max),
            Err(AmountError::TooLarge { max })
        );
        // Beyond what a decimal holds: refused, quoting a short prefix.
        let Err(AmountError::NotDecimal(q)) = parse_bounded(&"9".repeat(39), 2, max) else {
            panic!("not a decimal")
        };
        assert_eq!(q.chars().count(), QUOTE_CHARS + 1);
        assert_eq!(quote(&"x".repeat(10_000)).chars().count(), QUOTE_CHARS + 3);
    }

    proptest! {
        /// Any amount rendered with the currency's precision parses back to itself.
        #[test]
        fn render_parse_round_trip(units in 1i64..1_000_000_000_000, precision in 0u32..4) {
            let value = Decimal::new(units, precision);
            let parsed = parse_positive(&render(value, precision), precision).unwrap();
            prop_assert_eq!(parsed, value.normalize());
        }

        /// Arbitrary strings never panic the parser.
        #[test]
        fn parser_never_panics(s in ".{0,50}") {
            let _ = parse_positive(&s, 2);
        }
    }
}
