//! Decisions that span more than one plain command: a batch's lines for one
//! account, opening an account for a new card, and a penalty capped at the
//! balance. Pure, like the rest of the aggregate.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use kit::aggregate::Aggregate;

use super::super::rules::shift;
use super::{Account, AccountKey, Command, Event, LedgerError, LineOutcome};

impl Account {
    /// Decides many accrue / withdraw commands for this account in one go
    /// (a batch's lines for one member): due buckets expire first, then each
    /// line is decided on the state the previous lines left. A line whose
    /// operation id the account already has counts as applied when its
    /// amount matches (a batch re-sent after a crash) and is refused otherwise.
    /// Returns the events and one outcome per line.
    pub fn plan_lines(
        &self,
        key: &AccountKey,
        lines: &[Command],
        now: DateTime<Utc>,
    ) -> (Vec<Event>, Vec<LineOutcome>) {
        let mut state = self.clone();
        let mut events = state.expire_due(key, now);
        let mut outcomes = Vec::with_capacity(lines.len());
        for line in lines {
            let (op, amount) = match line {
                Command::Accrue {
                    operation_id,
                    amount,
                    ..
                }
                | Command::Withdraw {
                    operation_id,
                    amount,
                    ..
                } => (operation_id, *amount),
                _ => {
                    outcomes.push(LineOutcome::Rejected("not a batch line".into()));
                    continue;
                }
            };
            if let Some(existing) = state.operations.get(op) {
                outcomes.push(if existing.amount == amount {
                    LineOutcome::AlreadyApplied
                } else {
                    LineOutcome::Rejected(LedgerError::OperationExists(op.clone()).to_string())
                });
                continue;
            }
            match state.decide_one(line) {
                Ok(Some(mut e)) => {
                    let Some(after) = shift(state.booked, &e) else {
                        outcomes.push(LineOutcome::Rejected(
                            LedgerError::BalanceOutOfRange.to_string(),
                        ));
                        continue;
                    };
                    e.set_after(after);
                    state.apply(&e);
                    events.push(e);
                    outcomes.push(LineOutcome::Applied);
                }
                Ok(None) => outcomes.push(LineOutcome::Applied),
                Err(e) => outcomes.push(LineOutcome::Rejected(e.to_string())),
            }
        }
        (events, outcomes)
    }

    /// Opens the account: an [`Event::Opened`] when it has no events yet,
    /// nothing otherwise (an account is opened at most once, and never after
    /// its first operation).
    pub fn open(
        &self,
        key: &AccountKey,
        card_id: &str,
        opened_at: DateTime<Utc>,
        source_event_id: &str,
    ) -> Vec<Event> {
        if self.has_events() {
            return Vec::new();
        }
        vec![Event::Opened {
            key: key.clone(),
            card_id: card_id.to_owned(),
            opened_at,
            source_event_id: source_event_id.to_owned(),
        }]
    }

    /// Decides a penalty: a [`Command::Withdraw`] of at most what is
    /// available at its time. A penalty larger than the balance takes what is
    /// there (the balance never goes negative, nothing is kept as a debt);
    /// against an empty balance it decides no event. Returns the events and
    /// the amount actually taken. Any other command is decided as it is.
    pub fn plan_penalty(&self, penalty: &Command) -> Result<(Vec<Event>, Decimal), LedgerError> {
        let Command::Withdraw {
            operation_id,
            amount,
            now,
            ..
        } = penalty
        else {
            return self.decide(penalty).map(|events| (events, Decimal::ZERO));
        };
        self.ensure_new_operation(operation_id)?;
        let take = (*amount).min(self.available(*now));
        if take <= Decimal::ZERO {
            return Ok((Vec::new(), Decimal::ZERO));
        }
        let mut capped = penalty.clone();
        if let Command::Withdraw { amount, .. } = &mut capped {
            *amount = take;
        }
        Ok((self.decide(&capped)?, take))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{Kind, RewardType, WithdrawType};
    use chrono::TimeZone;

    fn key() -> AccountKey {
        AccountKey {
            member_id: "m".into(),
            currency: "BONUS".into(),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn accrue(amount: i64) -> Command {
        Command::Accrue {
            key: key(),
            operation_id: format!("a{amount}"),
            amount: Decimal::new(amount, 0),
            lifetime: "forever".into(),
            expires_at: None,
            kind: Kind::Regular,
            reward_type: RewardType::Bonus,
            context: Default::default(),
            now: at(),
        }
    }

    fn penalty(id: &str, amount: i64) -> Command {
        Command::Withdraw {
            key: key(),
            operation_id: id.into(),
            amount: Decimal::new(amount, 0),
            kind: Kind::Social,
            withdraw_type: WithdrawType::Withdraw,
            context: Default::default(),
            now: at(),
        }
    }

    fn with(events: Vec<Event>) -> Account {
        let mut a = Account::default();
        for e in &events {
            a.apply(e);
        }
        a
    }

    #[test]
    fn an_account_is_opened_once_and_never_after_its_first_operation() {
        let fresh = Account::default();
        let opened = fresh.open(&key(), "***1234", at(), "ev-1");
        assert!(matches!(
            opened.as_slice(),
            [Event::Opened { source_event_id, card_id, .. }]
                if source_event_id == "ev-1" && card_id == "***1234"
        ));
        let state = with(opened);
        assert!(state.has_events());
        assert_eq!(state.available(at()), Decimal::ZERO);
        assert!(state.open(&key(), "***1234", at(), "ev-2").is_empty());
        let used = with(Account::default().decide(&accrue(5)).unwrap());
        assert!(used.open(&key(), "", at(), "ev-3").is_empty());
    }

    #[test]
    fn a_penalty_takes_at_most_the_balance() {
        let state = with(Account::default().decide(&accrue(10)).unwrap());
        let (events, taken) = state.plan_penalty(&penalty("p1", 25)).unwrap();
        assert_eq!(taken, Decimal::new(10, 0));
        let after = with(
            Account::default()
                .decide(&accrue(10))
                .unwrap()
                .into_iter()
                .chain(events)
                .collect(),
        );
        assert_eq!(after.available(at()), Decimal::ZERO);
        // Nothing left: nothing decided, no error.
        let (events, taken) = after.plan_penalty(&penalty("p2", 1)).unwrap();
        assert!(events.is_empty() && taken.is_zero());
        // A smaller penalty takes exactly its amount.
        let (_, taken) = state.plan_penalty(&penalty("p3", 4)).unwrap();
        assert_eq!(taken, Decimal::new(4, 0));
        // The same operation id twice is refused.
        assert!(matches!(
            after.plan_penalty(&penalty("p1", 1)),
            Err(LedgerError::OperationExists(_))
        ));
    }
}
