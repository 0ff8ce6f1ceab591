//! Given past events, when a purchase's pending accrual, confirm or cancel
//! arrives, then these events (or this refusal): the account's purchase
//! rules, without I/O.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{DateTime, Duration, Utc};
use common::commands::{self as cmd, d, key, run, t0, then};
use kit::aggregate::{given_when, replay};
use ledger::domain::account::{
    Account, Command, Context, Event, LedgerError, Pending, hold_settlement_id,
};
use ledger::domain::model::{Kind, RewardType};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The member every test here runs on.
const M: &str = "m-1";

fn of(purchase: &str) -> Context {
    Context {
        purchase_id: purchase.into(),
        ..Default::default()
    }
}

fn accrue(op: &str, amount: &str, now: DateTime<Utc>) -> Command {
    cmd::accrue(M, op, amount, "forever", None, now)
}

fn hold(id: &str, purchase: &str, amount: &str, now: DateTime<Utc>) -> Command {
    let lapses_at = now + Duration::minutes(30);
    cmd::hold(M, id, amount, of(purchase), Some(lapses_at), now)
}

fn pending(op: &str, purchase: &str, amount: &str, now: DateTime<Utc>) -> Command {
    Command::AccruePending {
        key: key(M),
        pending: Pending {
            operation_id: op.into(),
            amount: d(amount),
            expires_at: Some(now + Duration::days(365)),
            lifetime: "365d".into(),
            kind: Kind::Regular,
            reward_type: RewardType::Bonus,
            context: of(purchase),
            lapses_at: now + Duration::minutes(30),
        },
        now,
    }
}

fn confirm(op: &str, purchase: &str, now: DateTime<Utc>) -> Command {
    Command::ConfirmPurchase {
        key: key(M),
        operation_id: op.into(),
        purchase_id: purchase.into(),
        context: of(purchase),
        items: Vec::new(),
        tenders: Vec::new(),
        now,
    }
}

fn cancel(op: &str, purchase: &str, now: DateTime<Utc>) -> Command {
    Command::CancelPurchase {
        key: key(M),
        operation_id: op.into(),
        purchase_id: purchase.into(),
        context: of(purchase),
        now,
    }
}

fn refund(op: &str, original: &str, now: DateTime<Utc>) -> Command {
    cmd::refund(M, op, original, None, Default::default(), now)
}

fn refusal(given: &[Command], when: &Command) -> LedgerError {
    let (_, history) = run(given);
    given_when::<Account>(&history, when).unwrap_err()
}

#[test]
fn a_pending_accrual_shows_as_pending_and_is_not_spendable() {
    let now = t0();
    let (account, events) = run(&[accrue("a", "10", now), pending("p1", "P", "5", now)]);
    assert_eq!(account.available(now), d("10"));
    assert_eq!(account.pending(now), d("5"));
    let Event::PendingAccrued { after, .. } = events.last().unwrap() else {
        panic!("{events:?}")
    };
    assert_eq!(after.available, d("10"), "pending moves no balance");
    // Spending it is refused: only the 10 are there.
    let err = refusal(
        &[accrue("a", "10", now), pending("p1", "P", "5", now)],
        &hold("h", "Q", "12", now),
    );
    assert!(
        matches!(err, LedgerError::InsufficientFunds { .. }),
        "{err:?}"
    );
}

#[test]
fn confirm_captures_the_purchases_holds_and_commits_its_accruals_in_one_decision() {
    let now = t0();
    let given = [
        accrue("a", "100", now),
        hold("h1", "P", "36.5", now),
        hold("other", "Q", "10", now),
        pending("p1", "P", "2", now),
    ];
    let (_, history) = run(&given);
    let events = given_when::<Account>(&history, &confirm("c1", "P", now)).unwrap();
    // One decision: the capture, the accrual, the marker.
    assert_eq!(events.len(), 3, "{events:#?}");
    let Event::Captured {
        hold_id,
        operation_id,
        amount,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!((hold_id.as_str(), *amount), ("h1", d("36.5")));
    assert_eq!(operation_id, &hold_settlement_id("h1"));
    let Event::Accrued {
        operation_id,
        amount,
        ..
    } = &events[1]
    else {
        panic!("{events:?}")
    };
    assert_eq!((operation_id.as_str(), *amount), ("p1", d("2")));
    let Event::PurchaseConfirmed {
        captured,
        accrued,
        after,
        ..
    } = &events[2]
    else {
        panic!("{events:?}")
    };
    assert_eq!((*captured, *accrued), (d("36.5"), d("2")));
    // 100 - 36.5 captured - 10 still held for Q + 2 accrued.
    assert_eq!(after.available, d("55.5"));
    assert_eq!(after.held, d("10"));
    let all = then(&history, &events);
    let account = replay::<Account>(&all);
    assert_eq!(account.pending(now), Decimal::ZERO);
    assert_eq!(
        account.held(now),
        d("10"),
        "the other purchase's hold stays"
    );
}

#[test]
fn cancel_releases_the_holds_and_drops_the_pending_accruals() {
    let now = t0();
    let (account, events) = run(&[
        accrue("a", "100", now),
        hold("h1", "P", "40", now),
        pending("p1", "P", "3", now),
        cancel("x1", "P", now),
    ]);
    assert_eq!(account.available(now), d("100"));
    assert_eq!(account.held(now), Decimal::ZERO);
    assert_eq!(account.pending(now), Decimal::ZERO);
    let tail: Vec<&str> = events[events.len() - 3..]
        .iter()
        .map(|e| match e {
            Event::Released { .. } => "released",
            Event::PendingDropped { .. } => "dropped",
            Event::PurchaseCancelled { .. } => "cancelled",
            _ => "other",
        })
        .collect();
    assert_eq!(tail, ["released", "dropped", "cancelled"]);
}

#[test]
fn a_settled_purchase_takes_nothing_new_and_is_settled_once() {
    let now = t0();
    let confirmed = [accrue("a", "100", now), confirm("c1", "P", now)];
    let cancelled = [accrue("a", "100", now), cancel("x1", "P", now)];
    assert_eq!(
        refusal(&confirmed, &hold("h", "P", "1", now)),
        LedgerError::PurchaseConfirmed("P".into())
    );
    assert_eq!(
        refusal(&confirmed, &pending("p", "P", "1", now)),
        LedgerError::PurchaseConfirmed("P".into())
    );
    assert_eq!(
        refusal(&confirmed, &cancel("x2", "P", now)),
        LedgerError::PurchaseConfirmed("P".into())
    );
    assert_eq!(
        refusal(&confirmed, &confirm("c2", "P", now)),
        LedgerError::PurchaseConfirmed("P".into())
    );
    assert_eq!(
        refusal(&cancelled, &confirm("c1", "P", now)),
        LedgerError::PurchaseCancelled("P".into())
    );
    assert_eq!(
        refusal(&cancelled, &pending("p", "P", "1", now)),
        LedgerError::PurchaseCancelled("P".into())
    );
}

#[test]
fn a_lapsed_hold_or_pending_accrual_refuses_the_confirm_but_not_the_cancel() {
    let now = t0();
    let later = now + Duration::minutes(31);
    let with_hold = [accrue("a", "100", now), hold("h1", "P", "40", now)];
    assert_eq!(
        refusal(&with_hold, &confirm("c1", "P", later)),
        LedgerError::PurchaseLapsed("P".into())
    );
    let with_pending = [accrue("a", "100", now), pending("p1", "P", "5", now)];
    assert_eq!(
        refusal(&with_pending, &confirm("c1", "P", later)),
        LedgerError::PurchaseLapsed("P".into())
    );
    let (account, _) = run(&[
        accrue("a", "100", now),
        hold("h1", "P", "40", now),
        pending("p1", "P", "5", now),
        cancel("x1", "P", later),
    ]);
    assert_eq!(account.available(later), d("100"));
    assert_eq!(account.pending(later), Decimal::ZERO);
}

#[test]
fn a_confirmed_purchase_is_refundable_under_its_capture_and_accrual_ids() {
    let now = t0();
    let (account, _) = run(&[
        accrue("a", "100", now),
        hold("h1", "P", "30", now),
        pending("p1", "P", "3", now),
        confirm("c1", "P", now),
        refund("r1", &hold_settlement_id("h1"), now),
        refund("r2", "p1", now),
    ]);
    // 100 - 30 + 3, then the 30 paid back and the 3 taken back.
    assert_eq!(account.available(now), d("100"));
}

#[test]
fn operation_ids_of_pending_accruals_are_taken() {
    let now = t0();
    let given = [accrue("a", "100", now), pending("p1", "P", "5", now)];
    assert_eq!(
        refusal(&given, &accrue("p1", "1", now)),
        LedgerError::OperationExists("p1".into())
    );
    assert_eq!(
        refusal(&given, &pending("a", "P", "1", now)),
        LedgerError::OperationExists("a".into())
    );
}

proptest! {
    /// Whatever is held and pending, a confirm or a cancel conserves the
    /// amounts: available + held + pending before = after, up to what the
    /// confirm committed (pending becomes available) and captured (spent).
    #[test]
    fn settlement_conserves_amounts(
        balance in 0u32..10_000,
        holds in proptest::collection::vec(1u32..500, 0..4),
        pendings in proptest::collection::vec(1u32..500, 0..4),
        confirm_it in any::<bool>(),
    ) {
        let now = t0();
        let mut given = vec![accrue("a", &balance.to_string(), now)];
        let mut held = 0u32;
        for (i, h) in holds.iter().enumerate() {
            if held + h <= balance {
                held += h;
                given.push(hold(&format!("h{i}"), "P", &h.to_string(), now));
            }
        }
        let pend: u32 = pendings.iter().sum();
        for (i, p) in pendings.iter().enumerate() {
            given.push(pending(&format!("p{i}"), "P", &p.to_string(), now));
        }
        given.push(if confirm_it { confirm("c", "P", now) } else { cancel("c", "P", now) });
        let (account, _) = run(&given);
        let (available, on_hold, pending_now) =
            (account.available(now), account.held(now), account.pending(now));
        prop_assert_eq!(on_hold, Decimal::ZERO);
        prop_assert_eq!(pending_now, Decimal::ZERO);
        let expected = if confirm_it { balance - held + pend } else { balance };
        prop_assert_eq!(available, Decimal::from(expected));
    }
}
