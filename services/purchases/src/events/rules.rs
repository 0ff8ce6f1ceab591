//! The program's rules on the wire: `loyalty.purchases.v1.ProgramRules` ⇄
//! [`Rules`] (checked: every fault named by its field), and the
//! `RulesChanged` event of each version.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kit::aggregate::{DecodeError, DomainEvent};
use loyalty_proto::purchases::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;

use crate::domain::rules::{Coupon, CouponValue, Discount, Filter, Rules};
use crate::domain::versions::Version;

/// `RulesChanged`.
pub const RULES_CHANGED: &str = "loyalty.purchases.v1.RulesChanged";

/// Most discount rules, coupons, or articles in one list.
pub const MAX_ITEMS: usize = 10_000;

/// A fault of a rules definition: the field and what is wrong.
pub type Fault = (String, String);

struct Faults(Vec<Fault>);

impl Faults {
    fn fail(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push((field.into(), reason.into()));
    }

    fn decimal(&mut self, field: &str, s: &str, empty: Decimal, max: Decimal) -> Decimal {
        if s.trim().is_empty() {
            return empty;
        }
        match Decimal::from_str(s.trim()) {
            Ok(d) if d < Decimal::ZERO || d > max => {
                self.fail(field, format!("{d} is not between 0 and {max}"));
                empty
            }
            Ok(d) if d.normalize().scale() > 4 => {
                self.fail(field, "at most 4 decimals");
                empty
            }
            Ok(d) => d,
            Err(_) => {
                self.fail(field, format!("{} is not a decimal", kit::status::quote(s)));
                empty
            }
        }
    }

    fn set(&mut self, field: &str, items: &[String]) -> BTreeSet<String> {
        if items.len() > MAX_ITEMS {
            self.fail(field, format!("at most {MAX_ITEMS} entries"));
        }
        for (i, item) in items.iter().enumerate() {
            if item.is_empty() || item.len() > 128 {
                self.fail(format!("{field}[{i}]"), "1 to 128 characters");
            }
        }
        items.iter().cloned().collect()
    }

    fn filter(&mut self, field: &str, f: Option<&pb::ArticleFilter>) -> Filter {
        let f = f.cloned().unwrap_or_default();
        Filter {
            include_barcodes: self.set(&format!("{field}.include_barcodes"), &f.include_barcodes),
            include_goods_ids: self
                .set(&format!("{field}.include_goods_ids"), &f.include_goods_ids),
            exclude_barcodes: self.set(&format!("{field}.exclude_barcodes"), &f.exclude_barcodes),
            exclude_goods_ids: self
                .set(&format!("{field}.exclude_goods_ids"), &f.exclude_goods_ids),
        }
    }

    fn time(
        &mut self,
        field: &str,
        t: Option<loyalty_proto::wkt::Timestamp>,
    ) -> Option<DateTime<Utc>> {
        t.and_then(|t| match DateTime::<Utc>::try_from(t) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(field, e.to_string());
                None
            }
        })
    }
}

/// Checks a definition and makes it the rules; every fault at once.
pub fn rules_from(m: &pb::ProgramRules) -> Result<Rules, Vec<Fault>> {
    let mut f = Faults(Vec::new());
    let hundred = Decimal::ONE_HUNDRED;
    let big = Decimal::from(1_000_000_000_i64);
    let defaults = Rules::default();
    let currency = |f: &mut Faults, field: &str, s: &str, default: &str| {
        if s.is_empty() {
            return default.to_owned();
        }
        if s.len() > 32
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            f.fail(field, "1 to 32 of A-Z a-z 0-9 _ - .");
        }
        s.to_owned()
    };
    if m.discounts.len() > 100 {
        f.fail("discounts", "at most 100 discount rules");
    }
    let discounts = m
        .discounts
        .iter()
        .enumerate()
        .map(|(i, d)| Discount {
            percent: f.decimal(
                &format!("discounts[{i}].percent"),
                &d.percent,
                Decimal::ZERO,
                hundred,
            ),
            goods_ids: f.set(&format!("discounts[{i}].goods_ids"), &d.goods_ids),
            barcodes: f.set(&format!("discounts[{i}].barcodes"), &d.barcodes),
            groups: f.set(&format!("discounts[{i}].groups"), &d.groups),
        })
        .collect();
    if m.coupons.len() > MAX_ITEMS {
        f.fail("coupons", format!("at most {MAX_ITEMS} coupons"));
    }
    let mut numbers = BTreeSet::new();
    let mut coupons = Vec::new();
    for (i, c) in m.coupons.iter().enumerate() {
        let field = |name: &str| format!("coupons[{i}].{name}");
        if c.number.is_empty() || c.number.len() > 128 {
            f.fail(field("number"), "1 to 128 characters");
        } else if !numbers.insert(c.number.clone()) {
            f.fail(field("number"), "appears twice");
        }
        let value = match (c.percent.is_empty(), c.fixed_amount.is_empty()) {
            (false, true) => CouponValue::Percent(f.decimal(
                &field("percent"),
                &c.percent,
                Decimal::ZERO,
                hundred,
            )),
            (true, false) => CouponValue::Fixed(f.decimal(
                &field("fixed_amount"),
                &c.fixed_amount,
                Decimal::ZERO,
                big,
            )),
            _ => {
                f.fail(field("percent"), "exactly one of percent and fixed_amount");
                CouponValue::Percent(Decimal::ZERO)
            }
        };
        coupons.push(Coupon {
            number: c.number.clone(),
            value,
            multi_use: c.multi_use,
            valid_from: f.time(&field("valid_from"), c.valid_from),
            valid_until: f.time(&field("valid_until"), c.valid_until),
        });
    }
    let min = f.decimal(
        "min_points_per_payment",
        &m.min_points_per_payment,
        Decimal::ZERO,
        big,
    );
    let max = (!m.max_points_per_payment.trim().is_empty()).then(|| {
        f.decimal(
            "max_points_per_payment",
            &m.max_points_per_payment,
            Decimal::ZERO,
            big,
        )
    });
    if max.is_some_and(|max| max < min) {
        f.fail("max_points_per_payment", "is below min_points_per_payment");
    }
    let rules = Rules {
        bonus_currency: currency(
            &mut f,
            "bonus_currency",
            &m.bonus_currency,
            &defaults.bonus_currency,
        ),
        cash_currency: currency(
            &mut f,
            "cash_currency",
            &m.cash_currency,
            &defaults.cash_currency,
        ),
        discounts,
        payment_share_percent: f.decimal(
            "payment_share_percent",
            &m.payment_share_percent,
            defaults.payment_share_percent,
            hundred,
        ),
        accrual_percent: f.decimal(
            "accrual_percent",
            &m.accrual_percent,
            defaults.accrual_percent,
            hundred,
        ),
        accrue_on_points_paid: m.accrue_on_points_paid,
        min_points_per_payment: min,
        max_points_per_payment: max,
        // An omitted filter or card-load list takes the built-in one.
        discount_filter: match &m.discount_filter {
            Some(x) => f.filter("discount_filter", Some(x)),
            None => defaults.discount_filter,
        },
        accrual_filter: match &m.accrual_filter {
            Some(x) => f.filter("accrual_filter", Some(x)),
            None => defaults.accrual_filter,
        },
        payment_filter: match &m.payment_filter {
            Some(x) => f.filter("payment_filter", Some(x)),
            None => defaults.payment_filter,
        },
        coupons,
        card_load_eans: if m.card_load_eans.is_empty() {
            defaults.card_load_eans
        } else {
            f.set("card_load_eans", &m.card_load_eans)
        },
        lifetime: m.lifetime.clone(),
        service_name: if m.service_name.is_empty() {
            defaults.service_name
        } else {
            m.service_name.clone()
        },
    };
    if f.0.is_empty() { Ok(rules) } else { Err(f.0) }
}

fn list(s: &BTreeSet<String>) -> Vec<String> {
    s.iter().cloned().collect()
}

fn filter(f: &Filter) -> pb::ArticleFilter {
    pb::ArticleFilter {
        include_barcodes: list(&f.include_barcodes),
        include_goods_ids: list(&f.include_goods_ids),
        exclude_barcodes: list(&f.exclude_barcodes),
        exclude_goods_ids: list(&f.exclude_goods_ids),
    }
}

/// The rules' definition.
pub fn rules_message(r: &Rules) -> pb::ProgramRules {
    pb::ProgramRules {
        bonus_currency: r.bonus_currency.clone(),
        cash_currency: r.cash_currency.clone(),
        discounts: r
            .discounts
            .iter()
            .map(|d| pb::DiscountRule {
                percent: d.percent.to_string(),
                goods_ids: list(&d.goods_ids),
                barcodes: list(&d.barcodes),
                groups: list(&d.groups),
            })
            .collect(),
        payment_share_percent: r.payment_share_percent.to_string(),
        accrual_percent: r.accrual_percent.to_string(),
        accrue_on_points_paid: r.accrue_on_points_paid,
        min_points_per_payment: r.min_points_per_payment.to_string(),
        max_points_per_payment: r
            .max_points_per_payment
            .map(|d| d.to_string())
            .unwrap_or_default(),
        discount_filter: Some(filter(&r.discount_filter)),
        accrual_filter: Some(filter(&r.accrual_filter)),
        payment_filter: Some(filter(&r.payment_filter)),
        coupons: r
            .coupons
            .iter()
            .map(|c| pb::CouponRule {
                number: c.number.clone(),
                percent: match c.value {
                    CouponValue::Percent(p) => p.to_string(),
                    CouponValue::Fixed(_) => String::new(),
                },
                fixed_amount: match c.value {
                    CouponValue::Fixed(a) => a.to_string(),
                    CouponValue::Percent(_) => String::new(),
                },
                multi_use: c.multi_use,
                valid_from: c.valid_from.map(Into::into),
                valid_until: c.valid_until.map(Into::into),
            })
            .collect(),
        card_load_eans: list(&r.card_load_eans),
        lifetime: r.lifetime.clone(),
        service_name: r.service_name.clone(),
    }
}

impl DomainEvent for Version {
    fn event_type(&self) -> &'static str {
        RULES_CHANGED
    }

    fn encode(&self) -> Vec<u8> {
        pb::RulesChanged {
            version: self.version,
            rules: Some(rules_message(&self.rules)),
            operator_id: self.operator_id.clone(),
            source: self.source.clone(),
            changed_at: Some(self.changed_at.into()),
            request_id: self.request_id.clone(),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let err = |reason: String| DecodeError {
            event_type: event_type.to_owned(),
            reason,
        };
        if event_type != RULES_CHANGED {
            return Err(err(format!("unknown event type {event_type}")));
        }
        let m = pb::RulesChanged::decode(payload).map_err(|e| err(e.to_string()))?;
        let rules = rules_from(&m.rules.unwrap_or_default()).map_err(|faults| {
            err(faults
                .iter()
                .map(|(f, r)| format!("{f}: {r}"))
                .collect::<Vec<_>>()
                .join("; "))
        })?;
        let changed_at = m
            .changed_at
            .map(DateTime::<Utc>::try_from)
            .transpose()
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("changed_at is missing".into()))?;
        Ok(Version {
            version: m.version,
            rules,
            operator_id: m.operator_id,
            source: m.source,
            changed_at,
            request_id: m.request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_round_trip_and_bad_ones_name_their_fields() {
        let rules = Rules::default();
        assert_eq!(rules_from(&rules_message(&rules)), Ok(rules));
        let bad = pb::ProgramRules {
            payment_share_percent: "150".into(),
            coupons: vec![pb::CouponRule {
                number: "C".into(),
                percent: "5".into(),
                fixed_amount: "1".into(),
                ..Default::default()
            }],
            min_points_per_payment: "10".into(),
            max_points_per_payment: "5".into(),
            ..Default::default()
        };
        let faults: Vec<String> = rules_from(&bad)
            .unwrap_err()
            .into_iter()
            .map(|f| f.0)
            .collect();
        for field in [
            "payment_share_percent",
            "coupons[0].percent",
            "max_points_per_payment",
        ] {
            assert!(
                faults.iter().any(|f| f == field),
                "{field} not in {faults:?}"
            );
        }
    }
}
