//! Promotions: a rule on activity (network, group, kinds) and its action —
//! accrue points by tiers within caps per member and period, withdraw
//! points, or only count.

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;

use super::activity::{Activity, ActivityKind, Network, check_ref};

/// Largest amount one tier, withdrawal or cap may name.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// Most decimals of an amount.
pub const MAX_SCALE: u32 = 2;
/// Most tiers of a promotion.
pub const MAX_TIERS: usize = 10;
/// Longest title, in characters.
pub const MAX_TITLE: usize = 128;
/// Longest currency code.
pub const MAX_CURRENCY: usize = 32;

/// What a promotion does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Accrue points by the tiers, within the caps.
    Accrue,
    /// Withdraw a fixed amount, or (without one) what was granted for the
    /// activity this one reverses.
    Withdraw,
    /// Only count.
    Count,
}

/// The period caps and tiers count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Calendar day, UTC.
    Day,
    /// Calendar month, UTC.
    Month,
    /// Forever.
    AllTime,
}

impl Period {
    /// The period's key at `at`: `2026-11-29`, `2026-11`, `all`.
    pub fn key(self, at: DateTime<Utc>) -> String {
        match self {
            Period::Day => at.format("%Y-%m-%d").to_string(),
            Period::Month => format!("{:04}-{:02}", at.year(), at.month()),
            Period::AllTime => "all".to_owned(),
        }
    }
}

/// From the `from_count`-th activity of the period on, `amount` each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// First activity (1-based) of the tier.
    pub from_count: u32,
    /// Points per activity.
    pub amount: Decimal,
}

/// A promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// Id (a reference: [`check_ref`]).
    pub id: String,
    /// Title, the ledger history's description.
    pub title: String,
    /// Only this network (`None`: any).
    pub network: Option<Network>,
    /// Only this group (`None`: any).
    pub group_id: Option<String>,
    /// The kinds it reacts to.
    pub kinds: Vec<ActivityKind>,
    /// What it does.
    pub action: Action,
    /// Accrue: ascending tiers, the first from 1.
    pub tiers: Vec<Tier>,
    /// Withdraw: a fixed amount (`None`: reverse what was granted).
    pub amount: Option<Decimal>,
    /// Period of the caps and tiers.
    pub period: Period,
    /// Most points per member and period.
    pub max_points: Option<Decimal>,
    /// Most rewarded activities per member and period (0: no cap).
    pub max_count: u32,
    /// Currency (empty: the ledger's default bonus currency).
    pub currency: String,
    /// Defined but not applied.
    pub disabled: bool,
}

/// Checks an amount: positive, at most [`MAX_SCALE`] decimals, at most
/// [`MAX_AMOUNT`].
pub fn check_amount(value: Decimal) -> Result<Decimal, String> {
    if value <= Decimal::ZERO {
        return Err("must be positive".into());
    }
    if value.normalize().scale() > MAX_SCALE {
        return Err(format!("at most {MAX_SCALE} decimals"));
    }
    if value > MAX_AMOUNT {
        return Err(format!("at most {MAX_AMOUNT}"));
    }
    Ok(value.normalize())
}

impl Promotion {
    /// Every rule a promotion must follow: (field, why) for each broken one.
    pub fn violations(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Err(e) = check_ref(&self.id) {
            v.push(("promotion.promotion_id", e));
        }
        if self.title.chars().count() > MAX_TITLE || self.title.chars().any(char::is_control) {
            v.push((
                "promotion.title",
                format!("at most {MAX_TITLE} printable characters"),
            ));
        }
        if let Some(g) = &self.group_id
            && let Err(e) = check_ref(g)
        {
            v.push(("promotion.condition.group_id", e));
        }
        let mut kinds = self.kinds.clone();
        kinds.sort();
        kinds.dedup();
        if self.kinds.is_empty() || kinds.len() != self.kinds.len() {
            v.push((
                "promotion.condition.kinds",
                format!("1 to {} distinct kinds", ActivityKind::ALL.len()),
            ));
        }
        if self.currency.len() > MAX_CURRENCY || self.currency.chars().any(char::is_control) {
            v.push((
                "promotion.currency",
                format!("at most {MAX_CURRENCY} printable characters"),
            ));
        }
        match self.action {
            Action::Accrue => {
                let ascending = self
                    .tiers
                    .windows(2)
                    .all(|w| w[0].from_count < w[1].from_count);
                if self.tiers.is_empty()
                    || self.tiers.len() > MAX_TIERS
                    || self.tiers[0].from_count != 1
                    || !ascending
                {
                    v.push((
                        "promotion.tiers",
                        format!(
                            "1 to {MAX_TIERS} tiers with ascending from_count, the first from 1"
                        ),
                    ));
                }
                if self.amount.is_some() {
                    v.push(("promotion.amount", "only for WITHDRAW".into()));
                }
            }
            Action::Withdraw | Action::Count => {
                if !self.tiers.is_empty() {
                    v.push(("promotion.tiers", "only for ACCRUE".into()));
                }
                if self.action == Action::Count && self.amount.is_some() {
                    v.push(("promotion.amount", "only for WITHDRAW".into()));
                }
            }
        }
        v
    }

    /// Whether `activity` is what the promotion reacts to.
    pub fn matches(&self, activity: &Activity) -> bool {
        !self.disabled
            && !activity.baseline
            && self.network.is_none_or(|n| n == activity.group.network)
            && self
                .group_id
                .as_ref()
                .is_none_or(|g| *g == activity.group.group_id)
            && self.kinds.contains(&activity.kind)
    }

    /// Points for the `n`-th (1-based) matching activity of a period, by the
    /// tiers, before caps.
    pub fn tier_amount(&self, n: u64) -> Decimal {
        self.tiers
            .iter()
            .rev()
            .find(|t| u64::from(t.from_count) <= n)
            .map_or(Decimal::ZERO, |t| t.amount)
    }

    /// Points for the `n`-th matching activity of a period when `granted`
    /// were granted in it before: the tier's amount, none past the count
    /// cap, cut to what the points cap leaves.
    pub fn accrual(&self, n: u64, granted: Decimal) -> Decimal {
        if self.max_count > 0 && n > u64::from(self.max_count) {
            return Decimal::ZERO;
        }
        let amount = self.tier_amount(n);
        match self.max_points {
            Some(cap) => amount.min((cap - granted).max(Decimal::ZERO)),
            None => amount,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn likes() -> Promotion {
        Promotion {
            id: "likes".into(),
            title: "Likes".into(),
            network: None,
            group_id: None,
            kinds: vec![ActivityKind::Like],
            action: Action::Accrue,
            tiers: vec![
                Tier {
                    from_count: 1,
                    amount: Decimal::from(5),
                },
                Tier {
                    from_count: 2,
                    amount: Decimal::ONE,
                },
            ],
            amount: None,
            period: Period::Month,
            max_points: Some(Decimal::from(15)),
            max_count: 0,
            currency: String::new(),
            disabled: false,
        }
    }

    #[test]
    fn five_for_the_first_like_one_for_each_next_no_more_than_fifteen() {
        let p = likes();
        assert!(p.violations().is_empty());
        let mut granted = Decimal::ZERO;
        let mut each = Vec::new();
        for n in 1..=13 {
            let a = p.accrual(n, granted);
            granted += a;
            each.push(a.to_string());
        }
        assert_eq!(
            each,
            [
                "5", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "0", "0"
            ]
        );
        assert_eq!(granted, Decimal::from(15));
    }

    #[test]
    fn broken_rules_are_named() {
        let mut p = likes();
        p.tiers.reverse();
        p.kinds = vec![];
        p.id = "a/b".into();
        let fields: Vec<_> = p.violations().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "promotion.promotion_id",
                "promotion.condition.kinds",
                "promotion.tiers"
            ]
        );
        assert!(check_amount(Decimal::new(1, 3)).is_err());
        assert!(check_amount(Decimal::ZERO).is_err());
        assert!(check_amount(MAX_AMOUNT + Decimal::ONE).is_err());
    }
}
