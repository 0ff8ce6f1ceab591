//! Validated values: phone numbers, e-mail addresses, card numbers, PANs,
//! with the masked forms that are safe to show, log and publish.

use std::fmt;
use std::ops::RangeInclusive;

/// Why a value was refused (a machine-readable reason and a description).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct Invalid {
    /// Machine-readable reason, e.g. `BAD_LENGTH`.
    pub reason: &'static str,
    /// Human-readable description.
    pub description: String,
}

fn invalid(reason: &'static str, description: impl Into<String>) -> Invalid {
    Invalid {
        reason,
        description: description.into(),
    }
}

fn digits_only(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    (!cleaned.is_empty() && cleaned.bytes().all(|b| b.is_ascii_digit())).then_some(cleaned)
}

/// `digits` (`None`: the value was not all digits) if there are `len` of
/// them; refused with `not_digits` or `BAD_LENGTH`, described for `what`.
fn digits_within(
    digits: Option<String>,
    what: &str,
    not_digits: &'static str,
    len: RangeInclusive<usize>,
) -> Result<String, Invalid> {
    let d = digits.ok_or_else(|| invalid(not_digits, format!("{what} has digits only")))?;
    if !len.contains(&d.len()) {
        let (min, max) = (len.start(), len.end());
        return Err(invalid(
            "BAD_LENGTH",
            format!("{what} has {min} to {max} digits"),
        ));
    }
    Ok(d)
}

/// `***` and the last 4 characters (the seed's `***1234`).
pub fn mask_tail(value: &str) -> String {
    let tail: String = value
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("***{tail}")
}

/// A phone number in international form: 10 to 15 digits, no `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Parses `+7 (912) 348-79-79`, `79123487979`, ...
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        digits_within(digits_only(raw), "a phone number", "NOT_A_PHONE", 10..=15).map(Self)
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `***1234`.
    pub fn masked(&self) -> String {
        mask_tail(&self.0)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// An e-mail address (lower-cased domain), at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses `local@domain.tld`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let bad = || {
            invalid(
                "NOT_AN_EMAIL",
                "an e-mail address looks like name@example.org",
            )
        };
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.contains('@')
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `t***@example.org`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A loyalty card number: 6 to 19 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardNumber(String);

impl CardNumber {
    /// Parses a card number (spaces and dashes allowed between digits).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let digits = digits_only(raw).filter(|_| !raw.trim().starts_with('+'));
        digits_within(digits, "a card number", "NOT_DIGITS", 6..=19).map(Self)
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `***1085`: what logs and events show.
    pub fn masked(&self) -> String {
        mask_tail(&self.0)
    }

    /// The number as an integer (for ranges; at most 19 digits fit in u64).
    #[allow(
        clippy::expect_used,
        reason = "parse() admits 6 to 19 digits only, and 19 digits always fit in u64"
    )]
    pub fn value(&self) -> u64 {
        self.0.parse().expect("at most 19 digits")
    }

    /// The number `value` written with `width` digits.
    pub fn from_value(value: u64, width: usize) -> Result<Self, Invalid> {
        Self::parse(&format!("{value:0width$}"))
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A bank card's PAN: 13 to 19 digits passing the Luhn check. Never stored:
/// only its keyed hash and last 4 digits are.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

impl Pan {
    /// Parses and Luhn-checks a PAN.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let d = digits_within(digits_only(raw), "a PAN", "NOT_DIGITS", 13..=19)?;
        if !luhn(&d) {
            return Err(invalid("BAD_CHECK_DIGIT", "the PAN fails the Luhn check"));
        }
        Ok(Self(d))
    }

    /// The digits (to hash; never to store).
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The last 4 digits.
    pub fn last4(&self) -> String {
        self.0[self.0.len() - 4..].to_owned()
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan(***{})", self.last4())
    }
}

/// The Luhn check.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phones_parse_and_mask_like_the_seed() {
        let p = Phone::parse("+7 (912) 348-79-79").unwrap();
        assert_eq!(p.as_str(), "79123487979");
        assert_eq!(p.masked(), "***7979");
        assert_eq!(Phone::parse("12345").unwrap_err().reason, "BAD_LENGTH");
        assert_eq!(Phone::parse("7912abc").unwrap_err().reason, "NOT_A_PHONE");
    }

    #[test]
    fn emails_and_cards_and_pans() {
        assert_eq!(
            Email::parse("Test@LOYMAX.ru").unwrap().as_str(),
            "Test@loymax.ru"
        );
        assert_eq!(
            Email::parse("test@loymax.ru").unwrap().masked(),
            "t***@loymax.ru"
        );
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@b").is_err());
        let c = CardNumber::parse("9116 5808 4491 1085").unwrap();
        assert_eq!(c.as_str(), "9116580844911085");
        assert_eq!(c.masked(), "***1085");
        assert_eq!(CardNumber::from_value(42, 8).unwrap().as_str(), "00000042");
        let pan = Pan::parse("4111 1111 1111 1111").unwrap();
        assert_eq!(pan.last4(), "1111");
        assert_eq!(format!("{pan:?}"), "Pan(***1111)");
        assert_eq!(
            Pan::parse("4111111111111112").unwrap_err().reason,
            "BAD_CHECK_DIGIT"
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic_and_masks_never_leak(s in "\\PC{0,40}") {
            if let Ok(p) = Phone::parse(&s) {
                prop_assert!(p.masked().len() <= 7);
            }
            if let Ok(c) = CardNumber::parse(&s) {
                prop_assert!(!c.masked().contains(c.as_str()) || c.as_str().len() <= 4);
            }
            let _ = Email::parse(&s);
            let _ = Pan::parse(&s);
        }
    }
}
