//! The cheque as the till sends it, in domain terms (the edge converts the
//! contract's strings into these checked values).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// One cheque line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// Position, unique within the cheque.
    pub position: u32,
    /// Amount after the till's discount, >= 0, in kopecks.
    pub amount: Decimal,
    /// Article id.
    pub goods_id: String,
    /// EAN / GTIN.
    pub barcode: String,
    /// Quantity, > 0.
    pub quantity: Decimal,
    /// The till's discount on the line, >= 0.
    pub discount: Decimal,
    /// Unit price, when the till sent one.
    pub price: Option<Decimal>,
    /// Article name.
    pub name: String,
    /// Article group (for discounts by group).
    pub group: String,
}

impl Line {
    /// With a price, the amount must be price × quantity − discount (to the
    /// kopeck); the amount it should be, when it is not.
    pub fn inconsistency(&self) -> Option<Decimal> {
        let price = self.price?;
        let expected = price
            .checked_mul(self.quantity)
            .and_then(|v| v.checked_sub(self.discount))
            .map(super::amount::round)?;
        (expected != self.amount).then_some(expected)
    }
}

/// A cheque.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cheque {
    /// Cheque number.
    pub number: String,
    /// Cheque date.
    pub date: Option<DateTime<Utc>>,
    /// Lines, positions unique.
    pub lines: Vec<Line>,
}

impl Cheque {
    /// Sum of the lines' amounts; `None` on overflow.
    pub fn total(&self) -> Option<Decimal> {
        self.lines
            .iter()
            .try_fold(Decimal::ZERO, |s, l| s.checked_add(l.amount))
    }

    /// The line at `position`.
    pub fn line(&self, position: u32) -> Option<&Line> {
        self.lines.iter().find(|l| l.position == position)
    }
}
