//! Holds expire: a hold neither captured nor released by its time-to-live is
//! released by the ledger (`HoldExpired`), exactly once, also across restarts
//! and after downtime; a capture or release after that is refused
//! (HOLD_EXPIRED); a capture before it wins for good. Time is the injected
//! clock, moved by the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::clocked::{Ledger, TestClock, open_log};
use common::commands as cmd;
use common::requests::{self, pair};
use kit::log::Metadata;
use ledger::config::HoldTtl;
use ledger::projections::expiry::ExpirySchedule;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_server::LedgerService;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

const HELD: &str = "loyalty.ledger.v1.PointsHeld";
const EXPIRED: &str = "loyalty.ledger.v1.HoldExpired";
const CAPTURED: &str = "loyalty.ledger.v1.HoldCaptured";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn secs(s: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(s)
}

async fn accrue(l: &Ledger, member: &str, amount: &str) {
    let r = requests::accrue(&format!("{member}-accrual"), member, amount);
    LedgerService::accrue(&l.api, Request::new(r))
        .await
        .unwrap();
}

async fn hold(l: &Ledger, member: &str, amount: &str, ttl_seconds: u32) -> Result<(), Status> {
    let mut r = requests::hold(&format!("{member}-hold"), member, amount);
    r.ttl_seconds = ttl_seconds;
    LedgerService::hold(&l.api, Request::new(r)).await.map(drop)
}

async fn capture(l: &Ledger, member: &str, op: &str, amount: &str) -> Result<(), Status> {
    let r = requests::capture(op, member, &format!("{member}-hold"), amount);
    LedgerService::capture_hold(&l.api, Request::new(r))
        .await
        .map(drop)
}

async fn release(l: &Ledger, member: &str, op: &str) -> Result<(), Status> {
    let r = requests::release(op, member, &format!("{member}-hold"));
    LedgerService::release_hold(&l.api, Request::new(r))
        .await
        .map(drop)
}

/// (available, held) of the member's BONUS account.
async fn balance(l: &Ledger, member: &str) -> (String, String) {
    let r = LedgerService::get_balance(
        &l.api,
        Request::new(pb::GetBalanceRequest {
            member_id: member.into(),
            currency: "BONUS".into(),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    let a = &r.accounts[0];
    (a.available.clone(), a.held.clone())
}

/// The `expires_at` recorded in the member's `PointsHeld`.
fn recorded_expiry(l: &Ledger, member: &str) -> Option<DateTime<Utc>> {
    let held: Vec<pb::PointsHeld> = l.events(HELD);
    let h = held
        .into_iter()
        .find(|h| h.account.as_ref().unwrap().member_id == member)
        .unwrap();
    h.expires_at.map(|t| t.try_into().unwrap())
}

fn assert_hold_expired(status: Status, member: &str) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "HOLD_EXPIRED");
    assert_eq!(info.metadata["hold_id"], format!("{member}-hold"));
}

/// A ledger on a fresh data dir, its clock at [`t0`], with hold TTL
/// `settings`.
fn fresh(settings: HoldTtl) -> (tempfile::TempDir, TestClock, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(t0());
    let l = Ledger::open_with(dir.path(), &clock, settings);
    (dir, clock, l)
}

/// [`fresh`] with the default TTLs, where each (member, balance, held,
/// TTL in seconds) has the balance accrued and `held` of it on hold.
async fn holding(holds: &[(&str, &str, &str, u32)]) -> (tempfile::TempDir, TestClock, Ledger) {
    let (dir, clock, l) = fresh(HoldTtl::default());
    for (member, balance, held, ttl) in holds {
        accrue(&l, member, balance).await;
        hold(&l, member, held, *ttl).await.unwrap();
    }
    (dir, clock, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_left_alone_is_released_at_its_ttl() {
    let (_dir, clock, l) = holding(&[("ann", "100", "30", 0)]).await;
    assert_eq!(balance(&l, "ann").await, pair("70.00", "30.00"));
    // No TTL in the request: the default, 30 minutes, recorded in the event.
    assert_eq!(recorded_expiry(&l, "ann"), Some(secs(1800)));

    clock.set(secs(1799));
    assert_eq!(l.expire().await, 0, "not due yet");
    assert_eq!(balance(&l, "ann").await, pair("70.00", "30.00"));

    clock.set(secs(1800));
    // Available again from the moment it lapses, before the run records it.
    assert_eq!(balance(&l, "ann").await, pair("100.00", "0.00"));
    assert_eq!(l.expire().await, 1);
    let expired: Vec<pb::HoldExpired> = l.events(EXPIRED);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].hold_id, "ann-hold");
    assert_eq!(expired[0].amount, "30");
    assert_eq!(expired[0].expired_at, Some(secs(1800).into()));
    let after = expired[0].balance_after.clone().unwrap();
    assert_eq!(
        (after.available.as_str(), after.held.as_str()),
        ("100", "0")
    );
    assert_eq!(balance(&l, "ann").await, pair("100.00", "0.00"));

    clock.set(secs(7200));
    assert_eq!(l.expire().await, 0, "exactly once");
    assert_eq!(l.events::<pb::HoldExpired>(EXPIRED).len(), 1);
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_the_ttl_releases_the_hold_once() {
    let (dir, clock, l) = holding(&[("bob", "50", "20", 60), ("cat", "50", "20", 3600)]).await;
    // Down from second 10 to one hour: bob's hold lapsed meanwhile.
    clock.set(secs(10));
    assert_eq!(l.expire().await, 0);
    l.stop().await;
    clock.set(secs(3599));
    let l = Ledger::open(dir.path(), &clock);
    assert_eq!(l.expire().await, 1, "caught up on start");
    assert_eq!(l.expire().await, 0);
    l.stop().await;
    // Restarted again: nothing is released twice.
    let l = Ledger::open(dir.path(), &clock);
    assert_eq!(l.expire().await, 0);
    let expired: Vec<pb::HoldExpired> = l.events(EXPIRED);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].hold_id, "bob-hold");
    assert_eq!(balance(&l, "bob").await, pair("50.00", "0.00"));
    assert_eq!(balance(&l, "cat").await, pair("30.00", "20.00"));

    // A rebuild of the schedule from the log equals the live one.
    let head = l.stop().await;
    let report = kit::projection::rebuild(&open_log(dir.path()), &ExpirySchedule).unwrap();
    assert_eq!(report.events, head);
    assert_eq!(report.differences, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_or_release_after_expiry_is_refused_with_hold_expired() {
    let (_dir, clock, l) = holding(&[("dan", "100", "40", 60)]).await;
    clock.set(secs(60));
    // Lapsed, not yet released by the scheduler: refused all the same.
    assert_hold_expired(capture(&l, "dan", "c1", "").await.unwrap_err(), "dan");
    assert_hold_expired(release(&l, "dan", "r1").await.unwrap_err(), "dan");
    // Released by the scheduler: still refused, for the same reason.
    assert_eq!(l.expire().await, 1);
    assert_hold_expired(capture(&l, "dan", "c2", "10").await.unwrap_err(), "dan");
    assert_hold_expired(release(&l, "dan", "r2").await.unwrap_err(), "dan");
    assert!(l.events::<pb::HoldCaptured>(CAPTURED).is_empty());
    assert_eq!(l.events::<pb::HoldExpired>(EXPIRED).len(), 1);
    assert_eq!(balance(&l, "dan").await, pair("100.00", "0.00"));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_before_expiry_works_and_the_hold_then_never_expires() {
    let (_dir, clock, l) = holding(&[("eve", "100", "30", 60)]).await;
    assert_eq!(recorded_expiry(&l, "eve"), Some(secs(60)));
    clock.set(secs(59));
    capture(&l, "eve", "c1", "20").await.unwrap();
    assert_eq!(balance(&l, "eve").await, pair("80.00", "0.00"));
    clock.set(secs(86_400));
    assert_eq!(l.expire().await, 0);
    assert!(l.events::<pb::HoldExpired>(EXPIRED).is_empty());
    assert_eq!(balance(&l, "eve").await, pair("80.00", "0.00"));
    // Closed by its capture, not expired.
    let status = release(&l, "eve", "r1").await.unwrap_err();
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "HOLD_CLOSED"
    );
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_above_the_maximum_is_invalid_argument() {
    let settings = HoldTtl {
        default_secs: 600,
        max_secs: 3600,
    };
    let (_dir, _clock, l) = fresh(settings);
    accrue(&l, "fay", "100").await;
    let status = hold(&l, "fay", "10", 3601).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "ttl_seconds");
    assert!(l.events::<pb::PointsHeld>(HELD).is_empty());
    assert_eq!(balance(&l, "fay").await, pair("100.00", "0.00"));
    // The maximum itself is accepted.
    hold(&l, "fay", "10", 3600).await.unwrap();
    assert_eq!(recorded_expiry(&l, "fay"), Some(secs(3600)));
    l.stop().await;
}

/// A capture and the expiry of the same hold, run concurrently on many
/// accounts: on each, exactly one of them takes effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_racing_expiry_never_both_take_effect() {
    let members: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let holds: Vec<_> = members
        .iter()
        .map(|m| (m.as_str(), "10", "10", 60))
        .collect();
    let (_dir, clock, l) = holding(&holds).await;
    let l = std::sync::Arc::new(l);
    clock.set(secs(60));
    let mut tasks = Vec::new();
    for m in &members {
        let (l, m) = (std::sync::Arc::clone(&l), m.clone());
        // The capture read the clock just before the hold lapsed.
        tasks.push(tokio::spawn(async move {
            let command = cmd::capture(
                &m,
                &format!("{m}-capture"),
                &format!("{m}-hold"),
                None,
                secs(59),
            );
            let _ = l
                .repo
                .execute(
                    &cmd::key(&m).stream(),
                    &command,
                    None,
                    Metadata::default(),
                    |_, _| Vec::new(),
                )
                .await;
        }));
    }
    l.expire().await;
    for t in tasks {
        t.await.unwrap();
    }
    l.expire().await;
    let captured: Vec<pb::HoldCaptured> = l.events(CAPTURED);
    let expired: Vec<pb::HoldExpired> = l.events(EXPIRED);
    for m in &members {
        let hold = format!("{m}-hold");
        let c = captured.iter().filter(|e| e.hold_id == hold).count();
        let x = expired.iter().filter(|e| e.hold_id == hold).count();
        assert_eq!((c + x, c * x), (1, 0), "{m}: {c} captures, {x} expiries");
        let (available, held) = balance(&l, m).await;
        assert_eq!(held, "0.00");
        let want = if c == 1 { "0.00" } else { "10.00" };
        assert_eq!(available, want, "{m}");
    }
    let total = captured.len() + expired.len();
    assert_eq!(total, members.len());
    match std::sync::Arc::try_unwrap(l) {
        Ok(l) => {
            l.stop().await;
        }
        Err(_) => panic!("the ledger is still shared"),
    }
}
