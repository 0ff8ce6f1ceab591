//! The cheque calculation: program discounts and coupons (Calculate), the
//! points payable and their spread over the lines (Payment), the points
//! earned (Bonus). Pure and exact: every amount in kopecks, every split by
//! the largest-remainder rule, so the lines always add up to the totals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::amount::{floor, percent_of, round, spread};
use super::cheque::{Cheque, Line};
use super::rules::{CouponValue, Rules};

/// Why a calculation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    /// The rules know no such coupon.
    #[error("unknown coupon {0:?}")]
    UnknownCoupon(String),
    /// The coupon is not valid at the purchase's date.
    #[error("coupon {0:?} is not valid at the purchase's date")]
    CouponNotValid(String),
    /// More points than the rules allow for this cheque.
    #[error("{requested} points exceed the {payable} payable for this cheque")]
    PaymentLimitExceeded {
        /// Most points payable.
        payable: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// Fewer points than one payment must use.
    #[error("{requested} points are below the minimum payment of {minimum}")]
    BelowMinimumPayment {
        /// The rules' minimum.
        minimum: Decimal,
        /// Asked for.
        requested: Decimal,
    },
    /// An amount left the range a decimal holds.
    #[error("an amount of the cheque is out of range")]
    OutOfRange,
}

/// One line as calculated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineResult {
    /// Position.
    pub position: u32,
    /// Amount after every discount.
    pub amount: Decimal,
    /// Every discount of the line: the till's, the program's, the coupons'.
    pub discount: Decimal,
    /// Most points payable on the line.
    pub payable: Decimal,
    /// Points paid on the line.
    pub paid: Decimal,
    /// Points earned by the line.
    pub earned: Decimal,
    /// Whether the line loads the card.
    pub card_load: bool,
    /// EAN.
    pub barcode: String,
    /// Goods id.
    pub goods_id: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Article name.
    pub name: String,
}

/// A calculated cheque.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Calculation {
    /// The lines, in the cheque's order.
    pub lines: Vec<LineResult>,
    /// Sum of the lines' amounts.
    pub total_amount: Decimal,
    /// Sum of the lines' discounts.
    pub total_discount: Decimal,
    /// Points payable for the cheque (before the member's balance caps it).
    pub payable: Decimal,
    /// Points earned (after Bonus).
    pub earned: Decimal,
    /// Cash the card-load lines load.
    pub charged: Decimal,
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, CalcError> {
    a.checked_add(b).ok_or(CalcError::OutOfRange)
}

fn sub(a: Decimal, b: Decimal) -> Result<Decimal, CalcError> {
    a.checked_sub(b).ok_or(CalcError::OutOfRange)
}

/// `percent` of `base`, rounded to kopecks.
fn off(base: Decimal, percent: Decimal) -> Result<Decimal, CalcError> {
    percent_of(base, percent)
        .map(round)
        .ok_or(CalcError::OutOfRange)
}

impl Calculation {
    /// A cheque as it stands (no program discount): what Payment and Bonus
    /// work on, their lines being after Calculate's discounts already.
    pub fn of(rules: &Rules, cheque: &Cheque) -> Result<Self, CalcError> {
        let lines = cheque
            .lines
            .iter()
            .map(|l| line(rules, l, l.amount, l.discount))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_lines(rules, lines)
    }

    fn from_lines(rules: &Rules, lines: Vec<LineResult>) -> Result<Self, CalcError> {
        let mut c = Calculation::default();
        for l in &lines {
            c.total_amount = add(c.total_amount, l.amount)?;
            c.total_discount = add(c.total_discount, l.discount)?;
            c.payable = add(c.payable, l.payable)?;
            if l.card_load {
                c.charged = add(c.charged, l.amount)?;
            }
        }
        if let Some(max) = rules.max_points_per_payment {
            c.payable = c.payable.min(max);
        }
        c.lines = lines;
        Ok(c)
    }
}

/// A line with its final `amount` and total `discount`, and what of it is
/// payable with points.
fn line(
    rules: &Rules,
    l: &Line,
    amount: Decimal,
    discount: Decimal,
) -> Result<LineResult, CalcError> {
    let card_load = rules.is_card_load(l);
    let payable = if !card_load && rules.payment_filter.admits(l) {
        floor(percent_of(amount, rules.payment_share_percent).ok_or(CalcError::OutOfRange)?)
    } else {
        Decimal::ZERO
    };
    Ok(LineResult {
        position: l.position,
        amount,
        discount,
        payable,
        paid: Decimal::ZERO,
        earned: Decimal::ZERO,
        card_load,
        name: l.name.clone(),
        barcode: l.barcode.clone(),
        goods_id: l.goods_id.clone(),
        quantity: l.quantity,
    })
}

/// Calculate: the program's discounts and the `coupons` (numbers) applied at
/// `at` to each line the discount filter admits (card loads never), then
/// what is payable with points.
pub fn calculate(
    rules: &Rules,
    cheque: &Cheque,
    coupons: &[String],
    at: DateTime<Utc>,
) -> Result<Calculation, CalcError> {
    let mut percents = Vec::new();
    let mut fixed = Decimal::ZERO;
    for number in coupons {
        let c = rules
            .coupon(number)
            .ok_or_else(|| CalcError::UnknownCoupon(number.clone()))?;
        if !c.valid_at(at) {
            return Err(CalcError::CouponNotValid(number.clone()));
        }
        match c.value {
            CouponValue::Percent(p) => percents.push(p),
            CouponValue::Fixed(a) => fixed = add(fixed, a)?,
        }
    }
    let eligible = |l: &Line| !rules.is_card_load(l) && rules.discount_filter.admits(l);
    // Percent discounts, in order, each on what the previous ones left.
    let mut amounts = Vec::with_capacity(cheque.lines.len());
    for l in &cheque.lines {
        let mut amount = l.amount;
        if eligible(l) {
            let program = rules.discounts.iter().filter(|d| d.covers(l));
            for percent in program.map(|d| d.percent).chain(percents.iter().copied()) {
                amount = sub(amount, off(amount, percent)?)?.max(Decimal::ZERO);
            }
        }
        amounts.push(amount);
    }
    // Fixed coupons: spread over the eligible lines by their amounts, never
    // beyond them.
    let weights: Vec<Decimal> = cheque
        .lines
        .iter()
        .zip(&amounts)
        .map(|(l, a)| if eligible(l) { *a } else { Decimal::ZERO })
        .collect();
    let room = weights
        .iter()
        .try_fold(Decimal::ZERO, |s, w| s.checked_add(*w))
        .ok_or(CalcError::OutOfRange)?;
    let fixed = fixed.min(room);
    let parts = spread(fixed, &weights).ok_or(CalcError::OutOfRange)?;
    let mut lines = Vec::with_capacity(cheque.lines.len());
    for ((l, amount), part) in cheque.lines.iter().zip(amounts).zip(parts) {
        let amount = sub(amount, part)?;
        let program = sub(l.amount, amount)?;
        lines.push(line(rules, l, amount, add(l.discount, program)?)?);
    }
    Calculation::from_lines(rules, lines)
}

/// Payment: spreads `points` over the payable lines in proportion to what
/// each may take (never more), refusing more than the cheque allows.
pub fn pay(rules: &Rules, calc: &mut Calculation, points: Decimal) -> Result<(), CalcError> {
    if points > calc.payable {
        return Err(CalcError::PaymentLimitExceeded {
            payable: calc.payable,
            requested: points,
        });
    }
    if points < rules.min_points_per_payment {
        return Err(CalcError::BelowMinimumPayment {
            minimum: rules.min_points_per_payment,
            requested: points,
        });
    }
    let weights: Vec<Decimal> = calc.lines.iter().map(|l| l.payable).collect();
    let parts = spread(points, &weights).ok_or(CalcError::OutOfRange)?;
    for (l, part) in calc.lines.iter_mut().zip(parts) {
        l.paid = part;
    }
    Ok(())
}

/// Bonus: the points the cheque earns — the accrual percent of the money
/// paid on the lines the accrual filter admits (with the points paid on
/// them too when the rules say so), rounded down to kopecks for the cheque
/// and spread over the lines. `paid` maps positions to the points paid on
/// them.
pub fn earn(
    rules: &Rules,
    calc: &mut Calculation,
    cheque: &Cheque,
    paid: &BTreeMap<u32, Decimal>,
) -> Result<(), CalcError> {
    let mut bases = Vec::with_capacity(calc.lines.len());
    for (l, source) in calc.lines.iter_mut().zip(&cheque.lines) {
        l.paid = paid.get(&l.position).copied().unwrap_or_default();
        let base = if !rules.accrual_filter.admits(source) {
            Decimal::ZERO
        } else if rules.accrue_on_points_paid {
            l.amount
        } else {
            sub(l.amount, l.paid)?.max(Decimal::ZERO)
        };
        bases.push(base);
    }
    let base = bases
        .iter()
        .try_fold(Decimal::ZERO, |s, b| s.checked_add(*b))
        .ok_or(CalcError::OutOfRange)?;
    let total = floor(percent_of(base, rules.accrual_percent).ok_or(CalcError::OutOfRange)?);
    let parts = spread(total, &bases).ok_or(CalcError::OutOfRange)?;
    for (l, part) in calc.lines.iter_mut().zip(parts) {
        l.earned = part;
    }
    calc.earned = total;
    Ok(())
}

/// Why `cheque` is not the cheque that was paid (`paid`: the Payment's
/// lines): Bonus must earn on the lines the points were paid on — the same
/// positions, amounts and quantities; `None` when it is.
pub fn differs_from_paid(paid: &[LineResult], cheque: &Cheque) -> Option<String> {
    if paid.len() != cheque.lines.len() {
        return Some(format!(
            "the cheque has {} lines; the one paid had {}",
            cheque.lines.len(),
            paid.len()
        ));
    }
    paid.iter().find_map(|p| match cheque.line(p.position) {
        None => Some(format!("line {} of the paid cheque is missing", p.position)),
        Some(l) if l.amount != p.amount || l.quantity != p.quantity => Some(format!(
            "line {}: {} × {} now, {} × {} when paid",
            p.position, l.quantity, l.amount, p.quantity, p.amount
        )),
        Some(_) => None,
    })
}
