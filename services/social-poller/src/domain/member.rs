//! A member's side of the promotions (stream `member/<member_id>`): counters
//! per promotion and period, and the points granted for each activity (so
//! a leave or a deleted repost can take them back). Applying an activity
//! twice changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use kit::aggregate::Aggregate;
use rust_decimal::Decimal;

use chrono::{DateTime, Utc};

use super::activity::{Activity, ActivityKind, Network};
use super::promotion::{Action, Promotion};

/// A member's figures in one promotion and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counter {
    /// Matching activities.
    pub count: u64,
    /// Points granted.
    pub granted: Decimal,
}

/// Points moved for the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Points {
    /// `<promotion_id>:<activity_id>` (no `/`: the ledger refuses it in
    /// ids; a promotion id has no `:`): the ledger's operation is
    /// `social/reward/<id>` (or `social/penalty/<id>`).
    pub id: String,
    /// The member.
    pub member_id: String,
    /// How much.
    pub amount: Decimal,
    /// Currency (empty: the default bonus currency).
    pub currency: String,
    /// The activity's network.
    pub network: Network,
    /// The activity's kind.
    pub kind: ActivityKind,
    /// When the activity was detected.
    pub occurred_at: DateTime<Utc>,
    /// The history's description (the promotion's title).
    pub reason: String,
    /// A penalty's reversed activity (empty: none, and for rewards).
    pub reverses: String,
}

impl Points {
    fn new(p: &Promotion, member_id: &str, activity: &Activity, amount: Decimal) -> Self {
        Points {
            id: format!("{}:{}", p.id, activity.id),
            member_id: member_id.to_owned(),
            amount,
            currency: p.currency.clone(),
            network: activity.group.network,
            kind: activity.kind,
            occurred_at: activity.detected_at,
            reason: if p.title.is_empty() {
                p.id.clone()
            } else {
                p.title.clone()
            },
            reverses: String::new(),
        }
    }

    /// The activity id part of [`Points::id`].
    pub fn activity_id(&self) -> &str {
        self.id.split_once(':').map_or("", |(_, a)| a)
    }
}

/// Applies one activity under the promotions in effect.
#[derive(Debug, Clone)]
pub struct Apply {
    /// The member.
    pub member_id: String,
    /// The activity (matched to the member).
    pub activity: Activity,
    /// The promotions in effect.
    pub promotions: Vec<Promotion>,
}

/// Events of a member.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A counter moved.
    CounterChanged {
        /// The member.
        member_id: String,
        /// The promotion.
        promotion_id: String,
        /// The period key.
        period: String,
        /// The counter now.
        counter: Counter,
        /// The activity.
        activity_id: String,
    },
    /// Points granted (the ledger's `SocialRewardGranted`).
    Rewarded(Points),
    /// Points taken (the ledger's `SocialPenaltyApplied`).
    Penalised(Points),
}

/// A member never refuses activity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
pub struct Never;

/// A member's promotions state.
#[derive(Debug, Clone, Default)]
pub struct Member {
    /// Counters by (promotion, period).
    pub counters: BTreeMap<(String, String), Counter>,
    /// Points granted per activity: activity → (currency → amount).
    pub granted: BTreeMap<String, BTreeMap<String, Decimal>>,
    /// Activities applied.
    pub applied: BTreeSet<String>,
}

impl Aggregate for Member {
    type Command = Apply;
    type Event = Event;
    type Error = Never;

    fn decide(&self, c: &Apply) -> Result<Vec<Event>, Never> {
        let a = &c.activity;
        if self.applied.contains(&a.id) {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        // What this activity's penalties took already, by currency: several
        // WITHDRAW promotions share what the reversed activity earned.
        let mut taken: BTreeMap<String, Decimal> = BTreeMap::new();
        for p in c.promotions.iter().filter(|p| p.matches(a)) {
            let period = p.period.key(a.detected_at);
            let before = self
                .counters
                .get(&(p.id.clone(), period.clone()))
                .cloned()
                .unwrap_or_default();
            let mut counter = Counter {
                count: before.count + 1,
                granted: before.granted,
            };
            let moved = match p.action {
                Action::Accrue => {
                    let amount = p.accrual(counter.count, before.granted);
                    counter.granted += amount;
                    (amount > Decimal::ZERO)
                        .then(|| Event::Rewarded(Points::new(p, &c.member_id, a, amount)))
                }
                Action::Withdraw => {
                    // Never more than the reversed activity earned (and
                    // other penalties of this one left): nothing earned,
                    // nothing taken.
                    let earned = a
                        .reverses
                        .as_ref()
                        .and_then(|r| self.granted.get(r))
                        .and_then(|by| by.get(&p.currency))
                        .copied()
                        .unwrap_or_default();
                    let took = taken.entry(p.currency.clone()).or_default();
                    let remaining = (earned - *took).max(Decimal::ZERO);
                    let amount = p.amount.map_or(remaining, |fixed| fixed.min(remaining));
                    *took += amount.max(Decimal::ZERO);
                    (amount > Decimal::ZERO).then(|| {
                        Event::Penalised(Points {
                            reverses: a.reverses.clone().unwrap_or_default(),
                            ..Points::new(p, &c.member_id, a, amount)
                        })
                    })
                }
                Action::Count => None,
            };
            events.push(Event::CounterChanged {
                member_id: c.member_id.clone(),
                promotion_id: p.id.clone(),
                period,
                counter,
                activity_id: a.id.clone(),
            });
            events.extend(moved);
        }
        Ok(events)
    }

    fn apply(&mut self, e: &Event) {
        match e {
            Event::CounterChanged {
                promotion_id,
                period,
                counter,
                activity_id,
                ..
            } => {
                self.counters
                    .insert((promotion_id.clone(), period.clone()), counter.clone());
                self.applied.insert(activity_id.clone());
            }
            Event::Rewarded(p) => {
                *self
                    .granted
                    .entry(p.activity_id().to_owned())
                    .or_default()
                    .entry(p.currency.clone())
                    .or_default() += p.amount;
            }
            // What a penalty took back is no longer there to take.
            Event::Penalised(p) => {
                if let Some(left) = self
                    .granted
                    .get_mut(&p.reverses)
                    .and_then(|by| by.get_mut(&p.currency))
                {
                    *left = (*left - p.amount).max(Decimal::ZERO);
                }
            }
        }
    }
}
