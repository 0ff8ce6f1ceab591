//! Exact amounts: kopeck rounding, and splits of a total over weights that
//! never create or lose a kopeck.
//!
//! Every amount of a cheque (money and points) is kept to [`SCALE`]
//! decimals. Splits use the largest-remainder rule: each part gets the
//! floor of its exact share, and the kopecks left over go one each to the
//! parts with the largest remainders (ties: the earlier part), so the parts
//! always add up to the total exactly.

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimals of every amount (kopecks, cents, hundredths of a point).
pub const SCALE: u32 = 2;

/// The smallest amount: one kopeck.
pub fn unit() -> Decimal {
    Decimal::new(1, SCALE)
}

/// `x` as text with exactly [`SCALE`] decimals ("76.50").
pub fn render(x: Decimal) -> String {
    let mut x = round(x);
    x.rescale(SCALE);
    x.to_string()
}

/// `x` rounded to kopecks, half away from zero (discounts, prices).
pub fn round(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// `x` rounded down to kopecks (points payable, points earned: never more
/// than the rule gives).
pub fn floor(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(SCALE, RoundingStrategy::ToZero)
}

/// `x` percent of `base`, exact (rounding is the caller's).
pub fn percent_of(base: Decimal, percent: Decimal) -> Option<Decimal> {
    base.checked_mul(percent)?.checked_div(Decimal::ONE_HUNDRED)
}

/// Splits `total` (kopecks, >= 0) over non-negative `weights` in proportion,
/// by the largest-remainder rule: the parts add up to `total` exactly, and
/// none exceeds its exact share by a kopeck or more. All weights zero:
/// nothing is split (every part zero) unless `total` is zero too.
///
/// Returns `None` when `total` is negative, a weight is negative, the sum
/// of the weights overflows, or the weights are all zero for a non-zero
/// total (there is nowhere to put it).
pub fn spread(total: Decimal, weights: &[Decimal]) -> Option<Vec<Decimal>> {
    if total < Decimal::ZERO || weights.iter().any(|w| *w < Decimal::ZERO) {
        return None;
    }
    let sum = weights
        .iter()
        .try_fold(Decimal::ZERO, |s, w| s.checked_add(*w))?;
    if sum.is_zero() {
        return total.is_zero().then(|| vec![Decimal::ZERO; weights.len()]);
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given = Decimal::ZERO;
    for (i, w) in weights.iter().enumerate() {
        let exact = total.checked_mul(*w)?.checked_div(sum)?;
        let part = floor(exact);
        given = given.checked_add(part)?;
        remainders.push((exact.checked_sub(part)?, i));
        parts.push(part);
    }
    // Left over: fewer kopecks than there are parts (each floor loses < 1).
    let mut left = total.checked_sub(given)?;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left <= Decimal::ZERO {
            break;
        }
        parts[i] = parts[i].checked_add(unit())?;
        left = left.checked_sub(unit())?;
    }
    Some(parts)
}

/// The part of `total` that belongs to returning `now` more units when
/// `before` of `of` units were returned already: the cumulative rule
/// `round(total × (before + now) / of) − round(total × before / of)`, so
/// the refunds of a line add up to exactly `total` once all of it is
/// returned, whatever the steps. `None` on a bad quantity.
pub fn cumulative_share(
    total: Decimal,
    before: Decimal,
    now: Decimal,
    of: Decimal,
) -> Option<Decimal> {
    if of <= Decimal::ZERO || before < Decimal::ZERO || now < Decimal::ZERO {
        return None;
    }
    let after = before.checked_add(now)?;
    if after > of {
        return None;
    }
    let at = |q: Decimal| -> Option<Decimal> {
        if q == of {
            Some(total)
        } else {
            Some(floor(total.checked_mul(q)?.checked_div(of)?))
        }
    };
    at(after)?.checked_sub(at(before)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn spread_gives_leftover_kopecks_to_the_largest_remainders() {
        let parts = spread(d("1.00"), &[d("1"), d("1"), d("1")]);
        assert_eq!(parts, Some(vec![d("0.34"), d("0.33"), d("0.33")]));
        let parts = spread(d("10"), &[d("0"), d("3")]);
        assert_eq!(parts, Some(vec![d("0"), d("10")]));
        assert_eq!(spread(d("1"), &[d("0"), d("0")]), None);
        assert_eq!(spread(d("0"), &[d("0")]), Some(vec![d("0")]));
    }

    #[test]
    fn cumulative_shares_add_up_to_the_total() {
        let total = d("10.00");
        let a = cumulative_share(total, d("0"), d("1"), d("3"));
        let b = cumulative_share(total, d("1"), d("1"), d("3"));
        let c = cumulative_share(total, d("2"), d("1"), d("3"));
        assert_eq!(
            (a, b, c),
            (Some(d("3.33")), Some(d("3.33")), Some(d("3.34")))
        );
        assert_eq!(cumulative_share(total, d("2"), d("2"), d("3")), None);
    }
}
