//! Refund shares of a confirmed purchase: for each returned quantity of a
//! line, the money, the points paid on it (given back) and the points it
//! earned (taken back), by the cumulative rule of
//! [`super::amount::cumulative_share`]: the refunds of a line add up to
//! exactly what the line had once all of it is returned, in any steps, and
//! together they can never exceed it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::amount::cumulative_share;

/// A line of a confirmed purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchasedLine {
    /// Position.
    pub position: u32,
    /// Quantity bought.
    pub quantity: Decimal,
    /// Money paid for it (after discounts, points included).
    pub amount: Decimal,
    /// Points paid on it.
    pub paid: Decimal,
    /// Points it earned.
    pub earned: Decimal,
}

/// What returning part of a line gives back and takes back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundShare {
    /// Position.
    pub position: u32,
    /// Quantity returned now.
    pub quantity: Decimal,
    /// Money for it.
    pub money: Decimal,
    /// Points paid on it, given back to the member.
    pub returned_points: Decimal,
    /// Points it earned, taken back from the member.
    pub taken_back_points: Decimal,
}

/// Why a refund is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    /// The purchase has no line at this position.
    #[error("the purchase has no line at position {0}")]
    UnknownPosition(u32),
    /// More of the line than is left.
    #[error("line {position}: {requested} returned, only {left} left")]
    ExceedsLine {
        /// Position.
        position: u32,
        /// Quantity left to return.
        left: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// Nothing of the purchase is left to return.
    #[error("the purchase is refunded in full already")]
    NothingLeft,
    /// A quantity is not positive, or an amount left the range.
    #[error("a refund quantity is not positive, or an amount is out of range")]
    BadQuantity,
}

/// The shares of returning `request` (position → quantity; empty: all that
/// is left of every line), after `before` (position → quantity returned by
/// earlier refunds).
pub fn shares(
    lines: &[PurchasedLine],
    before: &BTreeMap<u32, Decimal>,
    request: &[(u32, Decimal)],
) -> Result<Vec<RefundShare>, RefundError> {
    let done = |p: u32| before.get(&p).copied().unwrap_or_default();
    let wanted: Vec<(u32, Decimal)> = if request.is_empty() {
        lines
            .iter()
            .map(|l| (l.position, l.quantity - done(l.position)))
            .filter(|(_, q)| *q > Decimal::ZERO)
            .collect()
    } else {
        request.to_vec()
    };
    if wanted.is_empty() {
        return Err(RefundError::NothingLeft);
    }
    let mut out = Vec::with_capacity(wanted.len());
    for (position, quantity) in wanted {
        let line = lines
            .iter()
            .find(|l| l.position == position)
            .ok_or(RefundError::UnknownPosition(position))?;
        if quantity <= Decimal::ZERO {
            return Err(RefundError::BadQuantity);
        }
        let before = done(position)
            + out
                .iter()
                .filter(|s: &&RefundShare| s.position == position)
                .map(|s| s.quantity)
                .sum::<Decimal>();
        let left = line.quantity - before;
        if quantity > left {
            return Err(RefundError::ExceedsLine {
                position,
                left,
                requested: quantity,
            });
        }
        let share = |total: Decimal| {
            cumulative_share(total, before, quantity, line.quantity).ok_or(RefundError::BadQuantity)
        };
        out.push(RefundShare {
            position,
            quantity,
            money: share(line.amount)?,
            returned_points: share(line.paid)?,
            taken_back_points: share(line.earned)?,
        });
    }
    Ok(out)
}
