//! Expiry: due buckets expire exactly once, by the scheduler or lazily,
//! partly spent buckets expire only what is left, and what fell due while
//! the service was down is expired when it starts again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::clocked::{Ledger, TestClock, open_log};
use common::commands as cmd;
use ledger::domain::account::Command;
use ledger::projections::expiry::ExpirySchedule;
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// (member, amount) of every `PointsExpired` in the log.
fn expired_of(l: &Ledger) -> Vec<(String, Decimal)> {
    l.events::<pb::PointsExpired>("loyalty.ledger.v1.PointsExpired")
        .into_iter()
        .map(|m| (m.account.unwrap().member_id, m.amount.parse().unwrap()))
        .collect()
}

fn accrue(member: &str, op: &str, amount: i64, days: Option<i64>) -> Command {
    let expires_at = days.map(|d| t0() + Duration::days(d));
    cmd::accrue(member, op, &amount.to_string(), "test", expires_at, t0())
}

fn withdraw(member: &str, op: &str, amount: i64) -> Command {
    cmd::withdraw(member, op, &amount.to_string(), t0())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_buckets_expire_exactly_once_and_catch_up_after_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let now = TestClock::at(t0());
    let set = |t: DateTime<Utc>| now.set(t);
    let l = Ledger::open(dir.path(), &now);
    l.run(accrue("early", "a1", 30, Some(10))).await;
    l.run(accrue("early", "a2", 5, None)).await;
    l.run(accrue("late", "a1", 40, Some(20))).await;
    l.run(accrue("partly", "a1", 10, Some(5))).await;
    l.run(withdraw("partly", "w1", 4)).await;
    l.run(accrue("spent", "a1", 10, Some(5))).await;
    l.run(withdraw("spent", "w1", 10)).await;

    assert_eq!(l.expire().await, 0, "nothing due yet");
    set(t0() + Duration::days(10));
    // "partly" (6 left) and "early" (30) are due; "spent" has nothing left.
    assert_eq!(l.expire().await, 2);
    let mut expired = expired_of(&l);
    expired.sort();
    assert_eq!(
        expired,
        [
            ("early".to_owned(), Decimal::from(30)),
            ("partly".to_owned(), Decimal::from(6))
        ]
    );
    assert_eq!(l.expire().await, 0, "exactly once");
    assert_eq!(expired_of(&l).len(), 2);
    assert_eq!(
        l.repo
            .load("account/early/BONUS")
            .unwrap()
            .0
            .available(t0() + Duration::days(10)),
        Decimal::from(5)
    );

    // Down from day 10 to day 30: "late" fell due meanwhile.
    l.stop().await;
    set(t0() + Duration::days(30));
    let l = Ledger::open(dir.path(), &now);
    assert_eq!(l.expire().await, 1);
    assert_eq!(l.expire().await, 0);
    let expired = expired_of(&l);
    assert_eq!(expired.len(), 3);
    assert!(expired.contains(&("late".to_owned(), Decimal::from(40))));

    // A rebuild from the log equals the live schedule.
    let head = l.stop().await;
    let report = kit::projection::rebuild(&open_log(dir.path()), &ExpirySchedule).unwrap();
    assert_eq!(report.events, head);
    assert_eq!(report.differences, 0);
}
