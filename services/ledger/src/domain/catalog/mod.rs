//! Currencies and lifetime definitions: what can be held, with which
//! precision, and when accrued amounts expire.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use rust_decimal::Decimal;

use super::money::{self, AmountError};

mod draft;
mod versions;

pub use draft::{CatalogDraft, CurrencyDraft, LifetimeDraft, LifetimeRule, Violation};
pub use versions::{CatalogChanged, CatalogCommand, CatalogError, CatalogVersions, STREAM};

/// The default bound of one operation's amount: 10^12 units of the currency.
pub const DEFAULT_MAX_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// A currency an account can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    /// External id (`currencyExternalId`), e.g. `BONUS`, `EUR`.
    pub id: String,
    /// Decimals allowed in amounts.
    pub precision: u32,
    /// Largest amount one operation (or batch line) may move.
    pub max_amount: Decimal,
}

impl Currency {
    /// A currency with `precision` decimals and the default bound
    /// ([`DEFAULT_MAX_AMOUNT`]).
    pub fn new(id: &str, precision: u32) -> Self {
        Self {
            id: id.to_owned(),
            precision,
            max_amount: DEFAULT_MAX_AMOUNT,
        }
    }

    /// Parses an amount of this currency: positive, at most its precision,
    /// at most its bound.
    pub fn parse_amount(&self, input: &str) -> Result<Decimal, AmountError> {
        money::parse_bounded(input, self.precision, self.max_amount)
    }
}

/// When accrued amounts expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Never.
    Never,
    /// A number of days after the accrual.
    Days(u32),
    /// At the end of the month of the accrual plus a number of days.
    EndOfMonthPlus(u32),
}

impl Lifetime {
    /// Expiry of an amount accrued at `at`.
    pub fn expires_at(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Lifetime::Never => None,
            Lifetime::Days(d) => Some(at + Duration::days(i64::from(d))),
            Lifetime::EndOfMonthPlus(d) => {
                let (y, m) = if at.month() == 12 {
                    (at.year() + 1, 1)
                } else {
                    (at.year(), at.month() + 1)
                };
                let first_of_next = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                Some(first_of_next + Duration::days(i64::from(d)))
            }
        }
    }
}

/// Everything the ledger knows about currencies and lifetimes: one version
/// of the catalog. Built by [`Catalog::builtin`] or from a [`CatalogDraft`]
/// (validated), changed only through [`CatalogVersions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    currencies: BTreeMap<String, Currency>,
    default_currency: String,
    lifetimes: BTreeMap<String, Lifetime>,
    default_lifetime: String,
}

impl Default for Catalog {
    /// [`Catalog::builtin`].
    fn default() -> Self {
        Self::builtin()
    }
}

impl Catalog {
    /// The built-in catalog, version 0: what a ledger whose log holds no
    /// `CatalogChanged` uses. `BONUS` (2 decimals, default), `RUB`, `EUR`;
    /// lifetimes `forever` (default), `365d`, `eom+30` (end of month + 30
    /// days). Frozen: changing it would change existing ledgers' catalogs.
    pub fn builtin() -> Self {
        let currencies = [("BONUS", 2), ("RUB", 2), ("EUR", 2)]
            .into_iter()
            .map(|(id, precision)| (id.to_owned(), Currency::new(id, precision)))
            .collect();
        let lifetimes = [
            ("forever", Lifetime::Never),
            ("365d", Lifetime::Days(365)),
            ("eom+30", Lifetime::EndOfMonthPlus(30)),
        ]
        .into_iter()
        .map(|(id, l)| (id.to_owned(), l))
        .collect();
        Self {
            currencies,
            default_currency: "BONUS".into(),
            lifetimes,
            default_lifetime: "forever".into(),
        }
    }

    /// This catalog with exactly `currencies` (id, precision; each with the
    /// default bound), `default_currency` the one an empty id names.
    pub fn with_currencies(mut self, currencies: &[(&str, u32)], default_currency: &str) -> Self {
        self.currencies = currencies
            .iter()
            .map(|(id, precision)| ((*id).to_owned(), Currency::new(id, *precision)))
            .collect();
        self.default_currency = default_currency.to_owned();
        self
    }

    /// Every currency in the order of seed 004's report columns: `RUR` (or
    /// `RUB`), `USD`, `EUR`, `BTC`, then the others by id.
    pub fn report_order(&self) -> Vec<&Currency> {
        let rank = |id: &str| match id {
            "RUR" | "RUB" => 0,
            "USD" => 1,
            "EUR" => 2,
            "BTC" => 3,
            _ => 4,
        };
        let mut all: Vec<&Currency> = self.currencies.values().collect();
        all.sort_by(|a, b| rank(&a.id).cmp(&rank(&b.id)).then(a.id.cmp(&b.id)));
        all
    }

    /// The currency with `id`, or the default bonus currency for an empty id.
    pub fn currency(&self, id: &str) -> Option<&Currency> {
        let id = if id.is_empty() {
            &self.default_currency
        } else {
            id
        };
        self.currencies.get(id)
    }

    /// Every currency.
    pub fn currencies(&self) -> impl Iterator<Item = &Currency> {
        self.currencies.values()
    }

    /// Every lifetime definition, by id.
    pub fn lifetimes(&self) -> impl Iterator<Item = (&str, Lifetime)> {
        self.lifetimes.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The id of the currency an empty currency names.
    pub fn default_currency(&self) -> &str {
        &self.default_currency
    }

    /// The id of the lifetime an empty lifetime names.
    pub fn default_lifetime(&self) -> &str {
        &self.default_lifetime
    }

    /// This catalog as a draft (to render, or to edit into a new version).
    pub fn to_draft(&self) -> CatalogDraft {
        CatalogDraft {
            currencies: self
                .currencies
                .values()
                .map(|c| CurrencyDraft {
                    id: c.id.clone(),
                    precision: c.precision,
                    max_amount: Some(c.max_amount.to_string()),
                })
                .collect(),
            default_currency: self.default_currency.clone(),
            lifetimes: self
                .lifetimes
                .iter()
                .map(|(id, l)| LifetimeDraft::of(id, *l))
                .collect(),
            default_lifetime: self.default_lifetime.clone(),
        }
    }

    /// The lifetime with `id` (and its id), or the default for an empty id.
    pub fn lifetime(&self, id: &str) -> Option<(&str, Lifetime)> {
        let id = if id.is_empty() {
            &self.default_lifetime
        } else {
            id
        };
        self.lifetimes
            .get_key_value(id)
            .map(|(k, v)| (k.as_str(), *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_compute_expiry() {
        let at = Utc.with_ymd_and_hms(2026, 12, 15, 10, 0, 0).unwrap();
        assert_eq!(Lifetime::Never.expires_at(at), None);
        assert_eq!(
            Lifetime::Days(30).expires_at(at),
            Some(Utc.with_ymd_and_hms(2027, 1, 14, 10, 0, 0).unwrap())
        );
        assert_eq!(
            Lifetime::EndOfMonthPlus(30).expires_at(at),
            Some(Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn the_default_bound_is_ten_to_the_twelfth() {
        assert_eq!(DEFAULT_MAX_AMOUNT, Decimal::new(1_000_000_000_000, 0));
    }

    #[test]
    fn defaults_resolve_empty_ids() {
        let c = Catalog::default();
        assert_eq!(c.currency("").unwrap().id, "BONUS");
        assert!(c.currency("XYZ").is_none());
        assert_eq!(c.lifetime("").unwrap().0, "forever");
        assert!(c.lifetime("nope").is_none());
    }
}
