//! The program's rules as the calculation reads them. The defaults shipped
//! with the service reproduce the seed's worked example: 10 % program
//! discount on every article, half of a line payable with points, 10 points
//! per 100 paid in money, the part paid with points earning nothing, and
//! the card-load EAN 4260447149502 (seed 002) neither discounted nor
//! payable with points (it earns points, as the seed says it does unless
//! the lists exclude it).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::cheque::Line;

/// The card-load EAN reserved by seed 002.
pub const CARD_LOAD_EAN: &str = "4260447149502";

/// Articles by EAN or goods id: a whitelist (when non-empty, only these) and
/// a blacklist (never these).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Whitelisted EANs.
    pub include_barcodes: BTreeSet<String>,
    /// Whitelisted goods ids.
    pub include_goods_ids: BTreeSet<String>,
    /// Blacklisted EANs.
    pub exclude_barcodes: BTreeSet<String>,
    /// Blacklisted goods ids.
    pub exclude_goods_ids: BTreeSet<String>,
}

impl Filter {
    /// Whether `line` passes: on the whitelist (or there is none) and not on
    /// the blacklist.
    pub fn admits(&self, line: &Line) -> bool {
        let listed = |barcodes: &BTreeSet<String>, goods: &BTreeSet<String>| {
            (!line.barcode.is_empty() && barcodes.contains(&line.barcode))
                || (!line.goods_id.is_empty() && goods.contains(&line.goods_id))
        };
        let whitelisted = (self.include_barcodes.is_empty() && self.include_goods_ids.is_empty())
            || listed(&self.include_barcodes, &self.include_goods_ids);
        whitelisted && !listed(&self.exclude_barcodes, &self.exclude_goods_ids)
    }

    /// A filter that refuses the given EANs.
    fn excluding(barcodes: &[&str]) -> Self {
        Self {
            exclude_barcodes: barcodes.iter().map(|b| (*b).to_owned()).collect(),
            ..Self::default()
        }
    }
}

/// A program discount: a percent off the lines it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discount {
    /// Percent off the line's amount, 0-100.
    pub percent: Decimal,
    /// Only these goods ids (empty: any).
    pub goods_ids: BTreeSet<String>,
    /// Only these barcodes (empty: any).
    pub barcodes: BTreeSet<String>,
    /// Only these groups (empty: any).
    pub groups: BTreeSet<String>,
}

impl Discount {
    /// Whether the discount's scope covers `line`.
    pub fn covers(&self, line: &Line) -> bool {
        let scoped = |set: &BTreeSet<String>, value: &str| set.is_empty() || set.contains(value);
        scoped(&self.goods_ids, &line.goods_id)
            && scoped(&self.barcodes, &line.barcode)
            && scoped(&self.groups, &line.group)
    }
}

/// What a coupon gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponValue {
    /// Percent off each line the discount filter admits.
    Percent(Decimal),
    /// A fixed amount off the cheque, spread over those lines.
    Fixed(Decimal),
}

/// A coupon the program accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    /// Its number.
    pub number: String,
    /// What it gives.
    pub value: CouponValue,
    /// Usable by any number of purchases (else once).
    pub multi_use: bool,
    /// Valid from (inclusive).
    pub valid_from: Option<DateTime<Utc>>,
    /// Valid until (exclusive).
    pub valid_until: Option<DateTime<Utc>>,
}

impl Coupon {
    /// Whether the coupon is valid at `at`.
    pub fn valid_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|t| t <= at) && self.valid_until.is_none_or(|t| at < t)
    }
}

/// The program's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Points currency in the ledger.
    pub bonus_currency: String,
    /// Cash currency in the ledger (card loads).
    pub cash_currency: String,
    /// Program discounts, applied in order.
    pub discounts: Vec<Discount>,
    /// Percent of an eligible line payable with points.
    pub payment_share_percent: Decimal,
    /// Points per 100 paid in money on eligible lines.
    pub accrual_percent: Decimal,
    /// Whether the part paid with points earns points too.
    pub accrue_on_points_paid: bool,
    /// Fewest points one payment may use.
    pub min_points_per_payment: Decimal,
    /// Most points one payment may use.
    pub max_points_per_payment: Option<Decimal>,
    /// Lines the program discount (and coupons) apply to.
    pub discount_filter: Filter,
    /// Lines that earn points.
    pub accrual_filter: Filter,
    /// Lines payable with points.
    pub payment_filter: Filter,
    /// Coupons.
    pub coupons: Vec<Coupon>,
    /// EANs of card-load articles.
    pub card_load_eans: BTreeSet<String>,
    /// Lifetime of accrued points in the ledger ("" = the ledger's default).
    pub lifetime: String,
    /// Code of the bonus program (seed 003 `serviceName`).
    pub service_name: String,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            bonus_currency: "BONUS".into(),
            cash_currency: "RUB".into(),
            discounts: vec![Discount {
                percent: Decimal::TEN,
                ..Discount::default()
            }],
            payment_share_percent: Decimal::new(50, 0),
            accrual_percent: Decimal::TEN,
            accrue_on_points_paid: false,
            min_points_per_payment: Decimal::ZERO,
            max_points_per_payment: None,
            discount_filter: Filter::excluding(&[CARD_LOAD_EAN]),
            accrual_filter: Filter::default(),
            payment_filter: Filter::excluding(&[CARD_LOAD_EAN]),
            coupons: Vec::new(),
            card_load_eans: [CARD_LOAD_EAN.to_owned()].into(),
            lifetime: String::new(),
            service_name: "loyalty".into(),
        }
    }
}

impl Rules {
    /// Whether `line` loads the card (its EAN is a card-load article).
    pub fn is_card_load(&self, line: &Line) -> bool {
        !line.barcode.is_empty() && self.card_load_eans.contains(&line.barcode)
    }

    /// The coupon numbered `number`.
    pub fn coupon(&self, number: &str) -> Option<&Coupon> {
        self.coupons.iter().find(|c| c.number == number)
    }
}
