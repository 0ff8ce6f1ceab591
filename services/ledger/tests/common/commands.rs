//! Account commands for the tests that decide them without I/O: given past
//! events, when a command arrives, then these events (or this error).

use chrono::{DateTime, TimeZone, Utc};
use kit::aggregate::{given_when, replay};
use ledger::domain::account::{Account, AccountKey, Command, Context, Event};
use ledger::domain::model::{Kind, RewardType, Shortfall, WithdrawType};
use rust_decimal::Decimal;

/// Decimal from a literal string.
pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The member's BONUS account.
pub fn key(member: &str) -> AccountKey {
    AccountKey {
        member_id: member.into(),
        currency: "BONUS".into(),
    }
}

/// 2026-01-10 12:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()
}

/// A regular bonus accrual into a bucket of `lifetime`, expiring at
/// `expires_at` (never: `None`).
pub fn accrue(
    member: &str,
    op: &str,
    amount: &str,
    lifetime: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Command {
    Command::Accrue {
        key: key(member),
        operation_id: op.into(),
        amount: d(amount),
        lifetime: lifetime.into(),
        expires_at,
        kind: Kind::Regular,
        reward_type: RewardType::Bonus,
        context: Default::default(),
        now,
    }
}

/// A regular bonus withdrawal.
pub fn withdraw(member: &str, op: &str, amount: &str, now: DateTime<Utc>) -> Command {
    Command::Withdraw {
        key: key(member),
        operation_id: op.into(),
        amount: d(amount),
        kind: Kind::Regular,
        withdraw_type: WithdrawType::Bonus,
        context: Default::default(),
        now,
    }
}

/// A refund of `original`: `amount` of it (all of it: `None`).
pub fn refund(
    member: &str,
    op: &str,
    original: &str,
    amount: Option<&str>,
    shortfall: Shortfall,
    now: DateTime<Utc>,
) -> Command {
    Command::Refund {
        key: key(member),
        operation_id: op.into(),
        original_operation_id: original.into(),
        amount: amount.map(d),
        context: Default::default(),
        now,
        shortfall,
    }
}

/// A hold of `amount`, lapsing at `expires_at` (never: `None`).
pub fn hold(
    member: &str,
    hold_id: &str,
    amount: &str,
    context: Context,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Command {
    Command::Hold {
        key: key(member),
        hold_id: hold_id.into(),
        amount: d(amount),
        context,
        now,
        expires_at,
    }
}

/// A capture of `amount` of the hold (all of it: `None`).
pub fn capture(
    member: &str,
    op: &str,
    hold_id: &str,
    amount: Option<&str>,
    now: DateTime<Utc>,
) -> Command {
    Command::Capture {
        key: key(member),
        operation_id: op.into(),
        hold_id: hold_id.into(),
        amount: amount.map(d),
        context: Default::default(),
        now,
    }
}

/// A release of the hold.
pub fn release(member: &str, op: &str, hold_id: &str, now: DateTime<Utc>) -> Command {
    Command::Release {
        key: key(member),
        operation_id: op.into(),
        hold_id: hold_id.into(),
        context: Default::default(),
        now,
    }
}

/// An expiry run on the account at `now`.
pub fn expire(member: &str, now: DateTime<Utc>) -> Command {
    Command::Expire {
        key: key(member),
        now,
    }
}

/// Runs commands in order, each on the state left by the previous ones.
pub fn run(commands: &[Command]) -> (Account, Vec<Event>) {
    let mut history = Vec::new();
    for c in commands {
        let events = given_when::<Account>(&history, c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        history.extend(events);
    }
    (replay::<Account>(&history), history)
}

/// `history` followed by `events`.
pub fn then(history: &[Event], events: &[Event]) -> Vec<Event> {
    history.iter().chain(events).cloned().collect()
}
