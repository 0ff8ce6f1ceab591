//! The purchases edge's checks on the kit's violations accumulator
//! ([`kit::status::Violations`]): every field of a request is checked, all
//! violations come back at once, typed values come out.

use std::str::FromStr;

use kit::status::Violations;
use kit::status::quote;
use rust_decimal::Decimal;

use crate::error::ApiError;

/// Longest id (purchase, operation, card, device, ...).
pub const MAX_ID: usize = kit::status::MAX_ID;
/// Longest free text (names, details).
pub const MAX_TEXT: usize = 256;
/// Most lines in a cheque.
pub const MAX_LINES: usize = 1000;
/// Most coupons with one step.
pub const MAX_COUPONS: usize = 20;
/// Most payments with one step.
pub const MAX_PAYS: usize = 20;
/// Largest amount of a line, a payment or a cheque: 10^9.
pub const MAX_AMOUNT: i64 = 1_000_000_000;
/// Largest quantity of a line.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// Violations found so far.
#[derive(Debug, Default)]
pub struct Check(Violations);

impl Check {
    /// Records a violation.
    pub fn fail(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.fail(field, description);
    }

    /// A required id ([`Violations::id`]).
    pub fn id(&mut self, field: &str, value: &str) -> String {
        self.0.id(field, value)
    }

    /// An optional text of at most `max` bytes.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        if value.len() > max {
            self.fail(field, format!("is longer than {max} bytes"));
        }
        value.to_owned()
    }

    fn decimal(&mut self, field: &str, value: &str, scale: u32, max: i64) -> Option<Decimal> {
        let Ok(d) = Decimal::from_str(value.trim()) else {
            self.fail(field, format!("{} is not a decimal number", quote(value)));
            return None;
        };
        if d.scale() > scale && d.normalize().scale() > scale {
            self.fail(
                field,
                format!("{} has more than {scale} decimals", quote(value)),
            );
            return None;
        }
        if d.abs() > Decimal::from(max) {
            self.fail(field, format!("{} is beyond {max}", quote(value)));
            return None;
        }
        Some(d)
    }

    /// An amount: a decimal, >= 0, at most 2 decimals, at most 10^9; empty
    /// is `empty`.
    pub fn amount(&mut self, field: &str, value: &str, empty: Option<Decimal>) -> Decimal {
        if value.is_empty() {
            if empty.is_none() {
                self.fail(field, "is required");
            }
            return empty.unwrap_or_default();
        }
        match self.decimal(field, value, 2, MAX_AMOUNT) {
            Some(d) if d < Decimal::ZERO => {
                self.fail(field, format!("{} is negative", quote(value)));
                Decimal::ZERO
            }
            Some(d) => d,
            None => Decimal::ZERO,
        }
    }

    /// A positive amount.
    pub fn positive(&mut self, field: &str, value: &str) -> Decimal {
        let before = self.0.len();
        let d = self.amount(field, value, None);
        if self.0.len() == before && d <= Decimal::ZERO {
            self.fail(field, "must be more than 0");
        }
        d
    }

    /// A quantity: > 0, at most 3 decimals, at most 10^6; empty is 1.
    pub fn quantity(&mut self, field: &str, value: &str) -> Decimal {
        if value.is_empty() {
            return Decimal::ONE;
        }
        match self.decimal(field, value, 3, MAX_QUANTITY) {
            Some(d) if d <= Decimal::ZERO => {
                self.fail(field, format!("{} must be more than 0", quote(value)));
                Decimal::ONE
            }
            Some(d) => d,
            None => Decimal::ONE,
        }
    }

    /// The violations, if any.
    pub fn done(self) -> Result<(), ApiError> {
        self.0.finish().map_err(ApiError::Invalid)
    }
}
