//! Given past events, when a refund of an accrual asks for points the member
//! no longer has, then what its shortfall policy says: reported
//! (UNCOLLECTED, the default), refused (REFUSE), or taken from the other
//! buckets and recorded as debt that later accruals pay first (DEBT) —
//! never a negative balance.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::commands::{self as cmd, d, run, then};
use kit::aggregate::{given_when, replay};
use ledger::domain::account::{Account, Command, Event, LedgerError};
use ledger::domain::model::Shortfall;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The member every test here runs on.
const M: &str = "m";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn accrue(op: &str, amount: &str) -> Command {
    cmd::accrue(M, op, amount, "forever", None, now())
}

fn withdraw(op: &str, amount: &str) -> Command {
    cmd::withdraw(M, op, amount, now())
}

fn refund(op: &str, original: &str, shortfall: Shortfall) -> Command {
    cmd::refund(M, op, original, None, shortfall, now())
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
                let account = replay::<Account>(&then(&history, &events));
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
