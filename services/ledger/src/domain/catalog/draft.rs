//! A catalog as written by an operator (a `--catalog-file` or an
//! `UpdateCatalog` call): unchecked until [`Catalog::try_from`] turns it into
//! a [`Catalog`] or into every violation at once.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Catalog, Currency, DEFAULT_MAX_AMOUNT, Lifetime};
use crate::domain::money;

/// Most currencies (and, separately, lifetime definitions) in a catalog.
pub const MAX_ENTRIES: usize = 64;
/// Longest currency id.
pub const MAX_CURRENCY_ID: usize = 32;
/// Longest lifetime id.
pub const MAX_LIFETIME_ID: usize = 64;
/// Most decimals of a currency.
pub const MAX_PRECISION: u32 = 8;
/// Most days of a lifetime rule (100 years).
pub const MAX_DAYS: u32 = 36_500;
/// The largest bound a currency may have: 10^15 units.
pub const MAX_BOUND: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0);

/// One refused field of a draft: a path (`currencies[1].precision`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field within the draft.
    pub field: String,
    /// What is wrong, quoting at most a short prefix of the value.
    pub message: String,
}

/// An unchecked catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogDraft {
    /// Currencies.
    #[serde(default, rename = "currency")]
    pub currencies: Vec<CurrencyDraft>,
    /// Id of the default currency.
    pub default_currency: String,
    /// Lifetime definitions.
    #[serde(default, rename = "lifetime")]
    pub lifetimes: Vec<LifetimeDraft>,
    /// Id of the default lifetime.
    pub default_lifetime: String,
}

/// An unchecked currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyDraft {
    /// External id.
    pub id: String,
    /// Decimals.
    pub precision: u32,
    /// Bound of one operation, decimal string; `None` (or empty) = 10^12.
    #[serde(default)]
    pub max_amount: Option<String>,
}

/// How a lifetime definition sets an expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifetimeRule {
    /// [`Lifetime::Never`].
    Never,
    /// [`Lifetime::Days`].
    Days,
    /// [`Lifetime::EndOfMonthPlus`].
    EndOfMonthPlusDays,
}

/// An unchecked lifetime definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimeDraft {
    /// External id.
    pub id: String,
    /// The rule.
    pub rule: LifetimeRule,
    /// Days of the rule (0 for `never`).
    #[serde(default)]
    pub days: u32,
}

impl LifetimeDraft {
    /// The draft of a checked lifetime.
    pub fn of(id: &str, lifetime: Lifetime) -> Self {
        let (rule, days) = match lifetime {
            Lifetime::Never => (LifetimeRule::Never, 0),
            Lifetime::Days(d) => (LifetimeRule::Days, d),
            Lifetime::EndOfMonthPlus(d) => (LifetimeRule::EndOfMonthPlusDays, d),
        };
        Self {
            id: id.to_owned(),
            rule,
            days,
        }
    }
}

fn id_fault(id: &str, max: usize, extra: &[char]) -> Option<String> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || extra.contains(&c);
    if id.is_empty() {
        Some("is required".into())
    } else if id.len() > max || !id.chars().all(allowed) {
        let more: String = extra.iter().map(|c| format!(" {c}")).collect();
        Some(format!(
            "must be 1 to {max} of A-Z a-z 0-9 _ - .{more}, not {}",
            money::quote(id)
        ))
    } else {
        None
    }
}

struct Faults(Vec<Violation>);

impl Faults {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation {
            field: field.into(),
            message: message.into(),
        });
    }
}

fn currency(i: usize, d: &CurrencyDraft, f: &mut Faults) -> Option<Currency> {
    let at = |name: &str| format!("currencies[{i}].{name}");
    let mut ok = true;
    if let Some(m) = id_fault(&d.id, MAX_CURRENCY_ID, &[]) {
        f.add(at("id"), m);
        ok = false;
    }
    if d.precision > MAX_PRECISION {
        f.add(at("precision"), format!("must be 0 to {MAX_PRECISION}"));
        return None;
    }
    let max_amount = match d.max_amount.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_MAX_AMOUNT,
        Some(s) => match money::parse_bounded(s, d.precision, MAX_BOUND) {
            Ok(v) => v,
            Err(e) => {
                f.add(at("max_amount"), format!("{e} (bound at most 10^15)"));
                ok = false;
                Decimal::ZERO
            }
        },
    };
    ok.then(|| Currency {
        id: d.id.clone(),
        precision: d.precision,
        max_amount,
    })
}

fn lifetime(i: usize, d: &LifetimeDraft, f: &mut Faults) -> Option<Lifetime> {
    let at = |name: &str| format!("lifetimes[{i}].{name}");
    let mut ok = true;
    if let Some(m) = id_fault(&d.id, MAX_LIFETIME_ID, &['+']) {
        f.add(at("id"), m);
        ok = false;
    }
    let l = match d.rule {
        LifetimeRule::Never if d.days == 0 => Some(Lifetime::Never),
        LifetimeRule::Never => {
            f.add(at("days"), "must be 0 for a lifetime that never expires");
            None
        }
        LifetimeRule::Days if (1..=MAX_DAYS).contains(&d.days) => Some(Lifetime::Days(d.days)),
        LifetimeRule::EndOfMonthPlusDays if d.days <= MAX_DAYS => {
            Some(Lifetime::EndOfMonthPlus(d.days))
        }
        LifetimeRule::Days | LifetimeRule::EndOfMonthPlusDays => {
            f.add(
                at("days"),
                format!("must be at most {MAX_DAYS} (days: at least 1)"),
            );
            None
        }
    };
    l.filter(|_| ok)
}

impl TryFrom<&CatalogDraft> for Catalog {
    type Error = Vec<Violation>;

    /// Checks every field and answers every violation at once: ids unique
    /// and well formed, at most [`MAX_ENTRIES`] of each, precision and
    /// bounds in range, defaults naming entries.
    fn try_from(d: &CatalogDraft) -> Result<Self, Vec<Violation>> {
        let mut f = Faults(Vec::new());
        let mut currencies = BTreeMap::new();
        let mut lifetimes = BTreeMap::new();
        for (name, len) in [
            ("currencies", d.currencies.len()),
            ("lifetimes", d.lifetimes.len()),
        ] {
            if len == 0 || len > MAX_ENTRIES {
                f.add(name, format!("must list 1 to {MAX_ENTRIES}"));
            }
        }
        for (i, c) in d.currencies.iter().enumerate().take(MAX_ENTRIES) {
            if let Some(c) = currency(i, c, &mut f)
                && let Some(dup) = currencies.insert(c.id.clone(), c)
            {
                f.add(
                    format!("currencies[{i}].id"),
                    format!("{} is listed twice", dup.id),
                );
            }
        }
        for (i, l) in d.lifetimes.iter().enumerate().take(MAX_ENTRIES) {
            if let Some(rule) = lifetime(i, l, &mut f)
                && lifetimes.insert(l.id.clone(), rule).is_some()
            {
                f.add(
                    format!("lifetimes[{i}].id"),
                    format!("{} is listed twice", l.id),
                );
            }
        }
        let defaults = [
            (
                "currency",
                &d.default_currency,
                currencies.contains_key(&d.default_currency),
            ),
            (
                "lifetime",
                &d.default_lifetime,
                lifetimes.contains_key(&d.default_lifetime),
            ),
        ];
        for (what, id, listed) in defaults {
            if !listed {
                let not = money::quote(id);
                f.add(
                    format!("default_{what}"),
                    format!("must name a listed {what}, not {not}"),
                );
            }
        }
        if !f.0.is_empty() {
            return Err(f.0);
        }
        Ok(Catalog {
            currencies,
            default_currency: d.default_currency.clone(),
            lifetimes,
            default_lifetime: d.default_lifetime.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(d: &CatalogDraft) -> Vec<String> {
        Catalog::try_from(d)
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn the_builtin_catalog_round_trips_through_its_draft() {
        let c = Catalog::builtin();
        assert_eq!(Catalog::try_from(&c.to_draft()).unwrap(), c);
    }

    #[test]
    fn the_largest_bound_is_ten_to_the_fifteenth() {
        assert_eq!(MAX_BOUND, Decimal::new(1_000_000_000_000_000, 0));
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let mut d = Catalog::builtin().to_draft();
        d.currencies[0].precision = 9;
        d.currencies[1].id = "R UB".into();
        d.currencies[2].max_amount = Some("1.234".into());
        d.lifetimes[0].days = 0;
        d.lifetimes[0].rule = LifetimeRule::Days;
        d.default_currency = "USD".into();
        assert_eq!(
            fields(&d),
            [
                "currencies[0].precision",
                "currencies[1].id",
                "currencies[2].max_amount",
                "lifetimes[0].days",
                "default_currency",
            ]
        );
    }

    #[test]
    fn duplicates_and_empty_lists_are_refused() {
        let mut d = Catalog::builtin().to_draft();
        d.currencies.push(d.currencies[0].clone());
        d.lifetimes.clear();
        assert_eq!(
            fields(&d),
            ["lifetimes", "currencies[3].id", "default_lifetime"]
        );
    }

    #[test]
    fn a_long_id_is_quoted_by_a_short_prefix_only() {
        let mut d = Catalog::builtin().to_draft();
        d.currencies[0].id = "X".repeat(10_000);
        let v = Catalog::try_from(&d).unwrap_err();
        assert!(v[0].message.len() < 200, "{}", v[0].message);
    }
}
