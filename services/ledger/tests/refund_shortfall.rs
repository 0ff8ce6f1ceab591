//! Given past events, when a refund of an accrual asks for points the member
//! no longer has, then what its shortfall policy says: reported
//! (UNCOLLECTED, the default), refused (REFUSE), or taken from the other
//! buckets and recorded as debt that later accruals pay first (DEBT) —
//! never a negative balance.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use chrono::{DateTime, TimeZone, Utc};
use kit::aggregate::{given_when, replay};
use ledger::domain::account::{Account, AccountKey, Command, Event, LedgerError};
use ledger::domain::model::{Kind, RewardType, Shortfall, WithdrawType};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn key() -> AccountKey {
    AccountKey {
        member_id: "m".into(),
        currency: "BONUS".into(),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn accrue(op: &str, amount: &str) -> Command {
    Command::Accrue {
        key: key(),
        operation_id: op.into(),
        amount: d(amount),
        lifetime: "forever".into(),
        expires_at: None,
        kind: Kind::Regular,
        reward_type: RewardType::Bonus,
        context: Default::default(),
        now: now(),
    }
}

fn withdraw(op: &str, amount: &str) -> Command {
    Command::Withdraw {
        key: key(),
        operation_id: op.into(),
        amount: d(amount),
        kind: Kind::Regular,
        withdraw_type: WithdrawType::Bonus,
        context: Default::default(),
        now: now(),
    }
}

fn refund(op: &str, original: &str, shortfall: Shortfall) -> Command {
    Command::Refund {
        key: key(),
        operation_id: op.into(),
        original_operation_id: original.into(),
        amount: None,
        context: Default::default(),
        now: now(),
        shortfall,
    }
}

fn run(commands: &[Command]) -> (Account, Vec<Event>) {
    let mut history = Vec::new();
    for c in commands {
        let events = given_when::<Account>(&history, c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        history.extend(events);
    }
    (replay::<Account>(&history), history)
}

#[test]
fn uncollected_reports_what_the_accrual_no_longer_has() {
    let (account, events) = run(&[
        accrue("a", "10"),
        withdraw("w", "8"),
        refund("r", "a", Shortfall::Uncollected),
    ]);
    let Some(Event::Refunded {
        amount,
        uncollected,
        debt,
        ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert_eq!((*amount, *uncollected, *debt), (d("2"), d("8"), d("0")));
    assert_eq!(account.available(now()), d("0"));
    assert_eq!(account.debt(), d("0"));
}

#[test]
fn refuse_refuses_unless_the_accrual_is_all_there() {
    let (_, history) = run(&[accrue("a", "10"), withdraw("w", "8")]);
    assert_eq!(
        given_when::<Account>(&history, &refund("r", "a", Shortfall::Refuse)),
        Err(LedgerError::RefundShortfall {
            left: d("2"),
            requested: d("10")
        })
    );
    let (account, _) = run(&[accrue("a", "10"), refund("r", "a", Shortfall::Refuse)]);
    assert_eq!(account.available(now()), d("0"));
}

#[test]
fn debt_takes_the_other_buckets_then_owes_the_rest_and_accruals_pay_it_first() {
    let (account, events) = run(&[
        accrue("a", "10"),
        accrue("b", "5"),
        withdraw("w", "12"),
        refund("r", "a", Shortfall::Debt),
    ]);
    let Some(Event::Refunded { amount, debt, .. }) = events.last() else {
        panic!("{events:?}")
    };
    // The 3 left (in b's bucket) are taken; 7 are owed.
    assert_eq!((*amount, *debt), (d("3"), d("7")));
    assert_eq!(account.available(now()), d("0"));
    assert_eq!(account.debt(), d("7"));

    let (account, events) = run(&[
        accrue("a", "10"),
        accrue("b", "5"),
        withdraw("w", "12"),
        refund("r", "a", Shortfall::Debt),
        accrue("c", "10"),
    ]);
    let Some(Event::Accrued {
        debt_repaid,
        bucket,
        after,
        ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert_eq!((*debt_repaid, bucket.amount), (d("7"), d("3")));
    assert_eq!(after.available, d("3"));
    assert_eq!(account.available(now()), d("3"));
    assert_eq!(account.debt(), d("0"));
}

proptest! {
    /// Whatever is spent before a refund and whatever the policy, the
    /// balance never goes negative, and what is taken plus what is reported
    /// plus what is owed is exactly the refund.
    #[test]
    fn no_policy_ever_takes_a_balance_below_zero(
        accrued in 1u32..1000,
        other in 0u32..1000,
        spent in 0u32..2000,
        policy in 0u8..3,
    ) {
        let spent = spent.min(accrued + other);
        let shortfall = [Shortfall::Uncollected, Shortfall::Debt, Shortfall::Refuse][policy as usize];
        let mut commands = vec![accrue("a", &accrued.to_string())];
        if other > 0 {
            commands.push(accrue("b", &other.to_string()));
        }
        if spent > 0 {
            commands.push(withdraw("w", &spent.to_string()));
        }
        let (_, history) = run(&commands);
        match given_when::<Account>(&history, &refund("r", "a", shortfall)) {
            Ok(events) => {
                let mut all = history.clone();
                all.extend(events.clone());
                let account = replay::<Account>(&all);
                prop_assert!(account.available(now()) >= Decimal::ZERO);
                let Some(Event::Refunded { amount, uncollected, debt, .. }) = events.last() else {
                    return Err(TestCaseError::fail("no refund event"));
                };
                prop_assert_eq!(*amount + *uncollected + *debt, Decimal::from(accrued));
            }
            Err(LedgerError::RefundShortfall { .. }) => prop_assert_eq!(shortfall, Shortfall::Refuse),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
    }
}
