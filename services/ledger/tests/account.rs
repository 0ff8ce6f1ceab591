//! Given past events, when a command arrives, then these events (or this
//! error): the account's rules, without I/O.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{DateTime, Duration, Utc};
use common::commands::{self as cmd, d, run, t0, then};
use kit::aggregate::{Aggregate, given_when, replay};
use ledger::domain::account::{Account, AccountKey, Command, Event, LedgerError};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The member every test here runs on.
const M: &str = "m-1";

fn key() -> AccountKey {
    cmd::key(M)
}

fn accrue(op: &str, amount: &str, expires_in_days: Option<i64>, now: DateTime<Utc>) -> Command {
    let expires_at = expires_in_days.map(|n| now + Duration::days(n));
    cmd::accrue(M, op, amount, "test", expires_at, now)
}

fn withdraw(op: &str, amount: &str, now: DateTime<Utc>) -> Command {
    cmd::withdraw(M, op, amount, now)
}

fn refund(op: &str, original: &str, amount: Option<&str>, now: DateTime<Utc>) -> Command {
    cmd::refund(M, op, original, amount, Default::default(), now)
}

fn draws_of(e: &Event) -> Vec<(u64, Decimal)> {
    match e {
        Event::Withdrawn { draws, .. }
        | Event::Held { draws, .. }
        | Event::Refunded { draws, .. } => draws.iter().map(|d| (d.bucket_id, d.amount)).collect(),
        other => panic!("no draws in {other:?}"),
    }
}

#[test]
fn withdrawal_burns_soonest_expiring_buckets_first() {
    let now = t0();
    let (_, events) = run(&[
        accrue("a1", "100", None, now),
        accrue("a2", "50", Some(30), now),
        accrue("a3", "20", Some(10), now),
        withdraw("w1", "60", now),
    ]);
    // Bucket 2 (10 days) then bucket 1 (30 days); the never-expiring one untouched.
    assert_eq!(
        draws_of(events.last().unwrap()),
        [(2, d("20")), (1, d("40"))]
    );
}

#[test]
fn overdraw_is_refused_with_available_and_requested() {
    let now = t0();
    let (account, history) = run(&[accrue("a1", "10.50", None, now)]);
    assert_eq!(
        account.decide(&withdraw("w1", "10.51", now)),
        Err(LedgerError::InsufficientFunds {
            available: d("10.50"),
            requested: d("10.51")
        })
    );
    assert_eq!(history.len(), 1);
}

#[test]
fn refund_of_a_withdrawal_restores_the_right_buckets_and_never_exceeds_it() {
    let now = t0();
    let (account, events) = run(&[
        accrue("a1", "100", None, now),
        accrue("a2", "50", Some(30), now),
        withdraw("w1", "80", now), // 50 from bucket 1, 30 from bucket 0
        refund("r1", "w1", Some("20"), now), // latest-expiring first: bucket 0
        refund("r2", "w1", Some("20"), now), // then 10 to bucket 0, 10 to bucket 1
    ]);
    assert_eq!(draws_of(&events[3]), [(0, d("20"))]);
    assert_eq!(draws_of(&events[4]), [(1, d("10")), (0, d("10"))]);
    assert_eq!(account.available(now), d("110"));
    // 40 of 80 left to refund.
    assert_eq!(
        account.decide(&refund("r3", "w1", Some("40.01"), now)),
        Err(LedgerError::RefundExceedsOriginal {
            remaining: d("40"),
            requested: d("40.01")
        })
    );
    let rest = given_when::<Account>(&events, &refund("r3", "w1", None, now)).unwrap();
    assert!(matches!(&rest[0], Event::Refunded { amount, credit: true, .. } if *amount == d("40")));
}

#[test]
fn refund_of_an_accrual_takes_it_back_from_its_own_bucket_first() {
    let now = t0();
    let (account, events) = run(&[
        accrue("a1", "30", Some(5), now),
        accrue("a2", "40", None, now),
        refund("r1", "a2", Some("25"), now),
    ]);
    assert_eq!(draws_of(events.last().unwrap()), [(1, d("25"))]);
    assert_eq!(account.available(now), d("45"));
    assert!(matches!(
        account.decide(&refund("r2", "nope", None, now)),
        Err(LedgerError::UnknownOperation(_))
    ));
}

#[test]
fn hold_capture_partial_returns_the_rest_and_can_be_refunded() {
    let now = t0();
    let hold = cmd::hold(M, "h1", "30", Default::default(), None, now);
    let capture = cmd::capture(M, "c1", "h1", Some("12.5"), now);
    let (account, _) = run(&[accrue("a1", "100", None, now), hold.clone()]);
    assert_eq!(
        (account.available(now), account.held(now)),
        (d("70"), d("30"))
    );
    let (account, events) = run(&[
        accrue("a1", "100", None, now),
        hold,
        capture.clone(),
        refund("r1", "c1", None, now),
    ]);
    assert_eq!(
        (account.available(now), account.held(now)),
        (d("100"), d("0"))
    );
    assert!(
        matches!(&events[2], Event::Captured { amount, returned, .. }
        if *amount == d("12.5") && returned[0].amount == d("17.5"))
    );
    assert_eq!(
        account.decide(&capture),
        Err(LedgerError::OperationExists("c1".into()))
    );
    let release = cmd::release(M, "rel-1", "h1", now);
    assert_eq!(
        account.decide(&release),
        Err(LedgerError::HoldClosed("h1".into()))
    );
}

#[test]
fn capture_beyond_the_hold_is_refused() {
    let now = t0();
    let (account, _) = run(&[
        accrue("a1", "10", None, now),
        cmd::hold(M, "h1", "5", Default::default(), None, now),
    ]);
    let capture = cmd::capture(M, "c1", "h1", Some("5.01"), now);
    assert_eq!(
        account.decide(&capture),
        Err(LedgerError::CaptureExceedsHold {
            held: d("5"),
            requested: d("5.01")
        })
    );
}

#[test]
fn due_buckets_expire_exactly_once_before_anything_else() {
    let now = t0();
    let (account, history) = run(&[
        accrue("a1", "30", Some(10), now),
        accrue("a2", "5", None, now),
    ]);
    let later = now + Duration::days(10);
    // Not spendable once due, even before the expiry ran.
    assert_eq!(account.available(later), d("5"));
    assert_eq!(account.next_expiry(now), Some((later, d("30"))));
    let expire = cmd::expire(M, later);
    let events = given_when::<Account>(&history, &expire).unwrap();
    assert!(
        matches!(&events[..], [Event::Expired { bucket_id: 0, amount, .. }] if *amount == d("30"))
    );
    let all = then(&history, &events);
    assert!(
        given_when::<Account>(&all, &expire).unwrap().is_empty(),
        "never twice"
    );
    // A withdrawal after the due date expires first, then draws.
    let w = given_when::<Account>(&history, &withdraw("w1", "5", later)).unwrap();
    assert!(matches!(&w[0], Event::Expired { .. }));
    assert!(matches!(&w[1], Event::Withdrawn { .. }));
    assert!(matches!(
        given_when::<Account>(&history, &withdraw("w2", "6", later)),
        Err(LedgerError::InsufficientFunds { .. })
    ));
}

#[derive(Debug, Clone)]
enum Op {
    Accrue(u32, Option<i64>),
    Withdraw(u32),
    Refund(usize, Option<u32>),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u32..5000, proptest::option::of(1i64..20)).prop_map(|(a, e)| Op::Accrue(a, e)),
        (1u32..5000).prop_map(Op::Withdraw),
        (0usize..50, proptest::option::of(1u32..3000)).prop_map(|(i, a)| Op::Refund(i, a)),
        (1i64..10).prop_map(Op::Advance),
    ]
}

proptest! {
    /// Over random operation sequences: the balance never goes negative and
    /// always equals the sum of what the events moved, and every event's
    /// balance_after matches a replay.
    #[test]
    fn balance_equals_the_sum_of_the_history(ops in proptest::collection::vec(op(), 1..80)) {
        let mut now = t0();
        let mut history: Vec<Event> = Vec::new();
        let mut op_ids: Vec<String> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            let id = format!("op-{i}");
            let cmd = match o {
                // Amounts in cents: exact decimals with 2 places.
                Op::Accrue(c, e) => accrue(&id, &Decimal::new(i64::from(*c), 2).to_string(), *e, now),
                Op::Withdraw(c) => withdraw(&id, &Decimal::new(i64::from(*c), 2).to_string(), now),
                Op::Refund(j, a) if !op_ids.is_empty() => {
                    let original = op_ids[j % op_ids.len()].clone();
                    refund(&id, &original, a.map(|c| Decimal::new(i64::from(c), 2).to_string()).as_deref(), now)
                }
                Op::Refund(..) => continue,
                Op::Advance(days) => { now += Duration::days(*days); cmd::expire(M, now) }
            };
            if let Ok(events) = given_when::<Account>(&history, &cmd) {
                if matches!(o, Op::Accrue(..) | Op::Withdraw(_)) { op_ids.push(id); }
                history.extend(events);
            }
        }
        let mut balance = Decimal::ZERO;
        let mut state = Account::default();
        for e in &history {
            balance += match e {
                Event::Accrued { amount, .. } => *amount,
                Event::Withdrawn { amount, .. } | Event::Expired { amount, .. } => -*amount,
                Event::Refunded { amount, credit, .. } => if *credit { *amount } else { -*amount },
                _ => Decimal::ZERO,
            };
            state.apply(e);
            prop_assert!(balance >= Decimal::ZERO);
            let after = match e {
                Event::Accrued { after, .. } | Event::Withdrawn { after, .. }
                | Event::Expired { after, .. } | Event::Refunded { after, .. } => *after,
                _ => unreachable!("no holds in this property"),
            };
            prop_assert_eq!(after.available + after.held, balance);
        }
        let total: Decimal = state.buckets().iter().map(|b| b.amount).sum();
        prop_assert_eq!(total, balance);
    }
}

#[test]
fn batch_lines_already_applied_are_recognised_and_not_doubled() {
    use ledger::domain::account::LineOutcome;
    let now = t0();
    let (account, _) = run(&[accrue("batch/r1/1", "10", None, now)]);
    let lines = [
        accrue("batch/r1/1", "10", None, now), // re-sent after a crash
        accrue("batch/r1/2", "5", None, now),  // new
        accrue("batch/r1/1", "11", None, now), // same id, other amount
        withdraw("batch/r1/3", "100", now),    // overdraw
    ];
    let (events, outcomes) = account.plan_lines(&key(), &lines, now);
    assert_eq!(
        outcomes,
        [
            LineOutcome::AlreadyApplied,
            LineOutcome::Applied,
            LineOutcome::Rejected(
                "operation id \"batch/r1/1\" is already used in this account".into()
            ),
            LineOutcome::Rejected("insufficient funds: available 15, requested 100".into()),
        ]
    );
    assert_eq!(events.len(), 1, "only the new line produces an event");
    let mut state = account.clone();
    for e in &events {
        state.apply(e);
    }
    assert_eq!(state.available(now), d("15"));
}

#[test]
fn refund_ids_are_taken_and_next_expiry_ignores_empty_buckets() {
    let now = t0();
    let (account, _) = run(&[
        accrue("a1", "100", Some(365), now),
        withdraw("w1", "100", now),
        accrue("a2", "50", Some(375), now),
        refund("r1", "w1", Some("10"), now),
    ]);
    // The refund's id cannot be reused by another operation.
    assert_eq!(
        account.decide(&withdraw("r1", "1", now)),
        Err(LedgerError::OperationExists("r1".into()))
    );
    // Bucket 0 holds the refunded 10, bucket 1 holds 50: the next expiry is bucket 0's.
    assert_eq!(
        account.next_expiry(now),
        Some((now + Duration::days(365), d("10")))
    );
    let (spent, _) = run(&[
        accrue("a1", "100", Some(365), now),
        withdraw("w1", "100", now),
        accrue("a2", "50", Some(375), now),
    ]);
    assert_eq!(
        spent.next_expiry(now),
        Some((now + Duration::days(375), d("50"))),
        "an emptied bucket does not count"
    );
}

#[test]
fn amounts_returned_into_an_expired_bucket_expire_at_once() {
    let now = t0();
    let hold = cmd::hold(M, "h1", "60", Default::default(), None, now);
    let (_, history) = run(&[accrue("a1", "100", Some(10), now), hold]);
    let later = now + Duration::days(11);
    let release = cmd::release(M, "rel-1", "h1", later);
    let events = given_when::<Account>(&history, &release).unwrap();
    // The free 40 expire first, then the released 60 expire right after.
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Expired { .. } => "expired",
            Event::Released { .. } => "released",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["expired", "released", "expired"]);
    let all = then(&history, &events);
    let account = replay::<Account>(&all);
    assert_eq!(
        (account.available(later), account.held(later)),
        (d("0"), d("0"))
    );
    assert!(
        given_when::<Account>(&all, &cmd::expire(M, later))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_operation_that_would_overflow_the_balance_is_refused_not_a_panic() {
    let now = t0();
    // A log written before amounts were bounded may hold the largest decimal.
    let (account, history) = run(&[accrue("a1", "79228162514264337593543950335", None, now)]);
    assert!(matches!(
        account.decide(&accrue("a2", "1", None, now)),
        Err(LedgerError::BalanceOutOfRange)
    ));
    // Everything else on the account still works.
    let w = given_when::<Account>(&history, &withdraw("w1", "1", now)).unwrap();
    assert!(matches!(&w[0], Event::Withdrawn { amount, .. } if *amount == d("1")));
}

#[test]
fn refunding_an_accrual_takes_only_what_is_left_of_its_bucket_and_reports_the_rest() {
    let now = t0();
    let (_, history) = run(&[
        accrue("a1", "30", Some(5), now),
        accrue("a2", "40", None, now),
        withdraw("w1", "10", now), // from a1's bucket (soonest-expiring)
    ]);
    // a1's bucket expired with 20 in it; a full refund of a1 takes nothing
    // from a2's bucket: 0 taken, 30 reported as not taken back.
    let later = now + Duration::days(6);
    let events = given_when::<Account>(&history, &refund("r1", "a1", None, later)).unwrap();
    assert!(matches!(&events[0], Event::Expired { amount, .. } if *amount == d("20")));
    assert!(
        matches!(&events[1], Event::Refunded { amount, uncollected, draws, credit: false, .. }
            if amount.is_zero() && *uncollected == d("30") && draws.is_empty()),
        "{:?}",
        events[1]
    );
    let all = then(&history, &events);
    let account = replay::<Account>(&all);
    assert_eq!(
        account.available(later),
        d("40"),
        "a2's points are untouched"
    );
    // The accrual counts as fully refunded.
    assert_eq!(
        account.decide(&refund("r2", "a1", Some("1"), later)),
        Err(LedgerError::AlreadyRefunded("a1".into()))
    );
    // Before expiry, a partly spent bucket gives what it has: 20 of 25.
    let events = given_when::<Account>(&history, &refund("r3", "a1", Some("25"), now)).unwrap();
    assert!(
        matches!(&events[0], Event::Refunded { amount, uncollected, draws, .. }
            if *amount == d("20") && *uncollected == d("5") && draws.len() == 1 && draws[0].bucket_id == 0),
        "{:?}",
        events[0]
    );
}

#[test]
fn a_capture_and_the_expiry_of_a_hold_never_both_take_effect() {
    let now = t0();
    let lapses = now + Duration::seconds(60);
    let hold = cmd::hold(M, "h1", "30", Default::default(), Some(lapses), now);
    let (_, history) = run(&[accrue("a1", "100", Some(10), now), hold]);
    // The capture read the clock a second before the hold lapsed.
    let capture = cmd::capture(M, "c1", "h1", None, lapses - Duration::seconds(1));
    let expire = cmd::expire(M, lapses);
    // The expiry committed first: the capture is refused.
    let expired = given_when::<Account>(&history, &expire).unwrap();
    assert!(
        matches!(&expired[..], [Event::HoldExpired { amount, expired_at, .. }]
            if *amount == d("30") && *expired_at == lapses)
    );
    let after_expiry = then(&history, &expired);
    assert_eq!(
        given_when::<Account>(&after_expiry, &capture),
        Err(LedgerError::HoldExpired("h1".into()))
    );
    // The capture committed first: nothing expires.
    let captured = given_when::<Account>(&history, &capture).unwrap();
    let after_capture = then(&history, &captured);
    assert!(
        given_when::<Account>(&after_capture, &expire)
            .unwrap()
            .is_empty()
    );
    // Any later operation records the lapse first and spends what it freed.
    let w = given_when::<Account>(&history, &withdraw("w1", "100", lapses)).unwrap();
    assert!(matches!(
        &w[..],
        [Event::HoldExpired { .. }, Event::Withdrawn { .. }]
    ));
    let account = replay::<Account>(&history);
    assert_eq!(
        (account.available(lapses), account.held(lapses)),
        (d("100"), d("0"))
    );
}
