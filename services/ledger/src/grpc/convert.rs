//! Requests → domain commands: every field checked with one [`Check`]
//! accumulator (all violations at once), typed values out, no prost type
//! past this point.

use chrono::{DateTime, Utc};
use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;

use super::check::Check;
use crate::app::keys::IdempotencyKey;
use crate::config::HoldTtl;
use crate::domain::account::{AccountKey, ChequeItem, Command, Context, Kind, Pending, Tender};
use crate::domain::catalog::{Catalog, Currency, Lifetime};
use crate::domain::model::Shortfall;
use crate::domain::money;
use crate::error::ApiError;

/// What the edge hands the use case: the command and its idempotency key.
pub(super) struct Converted {
    /// The key the command runs under.
    pub key: IdempotencyKey,
    /// The command.
    pub command: Command,
    /// The account's currency (its precision renders the answer).
    pub currency: Currency,
}

impl Converted {
    /// The operation `op` on the member's account in `currency`, under its
    /// operation id; `command` builds it from the account and the id.
    fn operation(
        op: String,
        member: String,
        currency: Currency,
        command: impl FnOnce(AccountKey, String) -> Command,
    ) -> Self {
        Self {
            key: IdempotencyKey::Operation(op.clone()),
            command: command(key(member, &currency), op),
            currency,
        }
    }
}

/// What a conversion needs besides the request.
pub(super) struct Edge<'a> {
    /// The catalog version in effect.
    pub catalog: &'a Catalog,
    /// The time the command is decided at.
    pub now: DateTime<Utc>,
    /// Hold time-to-live settings.
    pub hold_ttl: HoldTtl,
}

fn key(member_id: String, currency: &Currency) -> AccountKey {
    AccountKey {
        member_id,
        currency: currency.id.clone(),
    }
}

/// The checked currency and amount of a request's `amount` field.
fn money_of(
    c: &mut Check,
    catalog: &Catalog,
    money: Option<&Money>,
) -> (Option<Currency>, Decimal) {
    let money = money.cloned().unwrap_or_default();
    let currency = c.currency(catalog, "amount.currency", &money.currency);
    let amount = c.amount("amount.amount", &money.amount, currency.as_ref());
    (currency, amount)
}

/// The checked lifetime definition `id` names (empty: the default).
fn lifetime_of<'c>(c: &mut Check, catalog: &'c Catalog, id: &str) -> Option<(&'c str, Lifetime)> {
    let lifetime = catalog.lifetime(id);
    if lifetime.is_none() {
        c.fail(
            "lifetime",
            format!("unknown lifetime definition {}", money::quote(id)),
        );
    }
    lifetime
}

/// `Accrue`.
pub(super) fn accrue(r: &pb::AccrueRequest, e: &Edge<'_>) -> Result<Converted, ApiError> {
    let mut c = Check::default();
    let op = c.operation_id("operation_id", &r.operation_id);
    let member = c.id("member_id", &r.member_id);
    let (currency, amount) = money_of(&mut c, e.catalog, r.amount.as_ref());
    let lifetime = lifetime_of(&mut c, e.catalog, &r.lifetime);
    let kind = c.kind(
        r.kind,
        &[Kind::Regular, Kind::Manual, Kind::Social, Kind::Charging],
    );
    let reward_type = c.reward_type(r.reward_type);
    let context = c.context(r.context.as_ref());
    c.operator(kind, &context);
    let (currency, (lifetime_id, lifetime)) = c.done_with(currency.zip(lifetime))?;
    let accrual = |account, op| Command::Accrue {
        key: account,
        operation_id: op,
        amount,
        lifetime: lifetime_id.to_owned(),
        expires_at: lifetime.expires_at(e.now),
        kind,
        reward_type,
        context,
        now: e.now,
    };
    Ok(Converted::operation(op, member, currency, accrual))
}

/// `Withdraw`.
pub(super) fn withdraw(r: &pb::WithdrawRequest, e: &Edge<'_>) -> Result<Converted, ApiError> {
    let mut c = Check::default();
    let op = c.operation_id("operation_id", &r.operation_id);
    let member = c.id("member_id", &r.member_id);
    let (currency, amount) = money_of(&mut c, e.catalog, r.amount.as_ref());
    let kind = c.kind(r.kind, &[Kind::Regular, Kind::Manual, Kind::Social]);
    let withdraw_type = c.withdraw_type(r.withdraw_type);
    let context = c.context(r.context.as_ref());
    c.operator(kind, &context);
    let currency = c.done_with(currency)?;
    let withdrawal = |account, op| Command::Withdraw {
        key: account,
        operation_id: op,
        amount,
        kind,
        withdraw_type,
        context,
        now: e.now,
    };
    Ok(Converted::operation(op, member, currency, withdrawal))
}

/// `Hold`.
pub(super) fn hold(r: &pb::HoldRequest, e: &Edge<'_>) -> Result<Converted, ApiError> {
    let mut c = Check::default();
    let hold_id = c.id("hold_id", &r.hold_id);
    let member = c.id("member_id", &r.member_id);
    let (currency, amount) = money_of(&mut c, e.catalog, r.amount.as_ref());
    let context = c.context(r.context.as_ref());
    let expires_at = c.hold_expiry("ttl_seconds", r.ttl_seconds, e.hold_ttl, e.now);
    let currency = c.done_with(currency)?;
    Ok(Converted {
        key: IdempotencyKey::Hold(hold_id.clone()),
        command: Command::Hold {
            key: key(member, &currency),
            hold_id,
            amount,
            context,
            now: e.now,
            expires_at,
        },
        currency,
    })
}

/// What an operation on something earlier (a hold, an operation) names.
struct FollowUp<'r> {
    operation_id: &'r str,
    member_id: &'r str,
    /// Field and value of what it follows up (`hold_id`, `original_operation_id`).
    target: (&'static str, &'r str),
    currency: &'r str,
    /// The amount, when the request has one (empty: all of it).
    amount: Option<&'r str>,
    context: Option<&'r pb::OperationContext>,
    /// The cheque's items (a purchase's confirm; else empty).
    items: &'r [pb::ChequeItem],
    /// Its payments besides points (a purchase's confirm; else empty).
    tenders: &'r [pb::Tender],
}

impl<'r> FollowUp<'r> {
    /// An operation on `target` with no amount (all of it), items or
    /// payments.
    fn new(
        operation_id: &'r str,
        member_id: &'r str,
        target: (&'static str, &'r str),
        currency: &'r str,
        context: Option<&'r pb::OperationContext>,
    ) -> Self {
        Self {
            operation_id,
            member_id,
            target,
            currency,
            amount: None,
            context,
            items: &[],
            tenders: &[],
        }
    }
}

/// The [`FollowUp`] of a request `r` with the usual fields (operation and
/// member ids, currency, context) on its field `target`.
macro_rules! follow_up_of {
    ($r:expr, $target:ident) => {
        FollowUp::new(
            &$r.operation_id,
            &$r.member_id,
            (stringify!($target), &$r.$target),
            &$r.currency,
            $r.context.as_ref(),
        )
    };
}

/// The checked parts of a [`FollowUp`]: account, operation id, target,
/// amount, context, the receipt (cheque items and payments).
type FollowUpParts = (
    AccountKey,
    String,
    String,
    Option<rust_decimal::Decimal>,
    Context,
    Receipt,
);

/// A confirm's cheque items and payments besides points, for the history.
pub(super) struct Receipt {
    items: Vec<ChequeItem>,
    tenders: Vec<Tender>,
}

/// Checks a [`FollowUp`] and builds its command with `build`.
fn follow_up(
    f: FollowUp<'_>,
    e: &Edge<'_>,
    build: impl FnOnce(FollowUpParts) -> Command,
) -> Result<Converted, ApiError> {
    let mut c = Check::default();
    let op = c.operation_id("operation_id", f.operation_id);
    let member = c.id("member_id", f.member_id);
    let target = c.id(f.target.0, f.target.1);
    let currency = c.currency(e.catalog, "currency", f.currency);
    let amount = f
        .amount
        .and_then(|a| c.optional_amount("amount", a, currency.as_ref()));
    let context = c.context(f.context);
    let receipt = Receipt {
        items: c.cheque_items(f.items),
        tenders: c.tenders(e.catalog, f.tenders),
    };
    let currency = c.done_with(currency)?;
    Ok(Converted::operation(op, member, currency, |key, op| {
        build((key, op, target, amount, context, receipt))
    }))
}

/// `CaptureHold`.
pub(super) fn capture(r: &pb::CaptureHoldRequest, e: &Edge<'_>) -> Result<Converted, ApiError> {
    let f = FollowUp {
        amount: Some(&r.amount),
        ..follow_up_of!(r, hold_id)
    };
    follow_up(f, e, |(key, operation_id, hold_id, amount, context, _)| {
        Command::Capture {
            key,
            operation_id,
            hold_id,
            amount,
            context,
            now: e.now,
        }
    })
}

/// `ReleaseHold`.
pub(super) fn release(r: &pb::ReleaseHoldRequest, e: &Edge<'_>) -> Result<Converted, ApiError> {
    let f = follow_up_of!(r, hold_id);
    follow_up(f, e, |(key, operation_id, hold_id, _, context, _)| {
        Command::Release {
            key,
            operation_id,
            hold_id,
            context,
            now: e.now,
        }
    })
}

/// `Refund`.
pub(super) fn refund(r: &pb::RefundRequest, e: &Edge<'_>) -> Result<Converted, ApiError> {
    let shortfall = match pb::RefundShortfall::try_from(r.shortfall) {
        Ok(pb::RefundShortfall::Unspecified | pb::RefundShortfall::Uncollected) => {
            Shortfall::Uncollected
        }
        Ok(pb::RefundShortfall::Debt) => Shortfall::Debt,
        Ok(pb::RefundShortfall::Refuse) => Shortfall::Refuse,
        Err(_) => {
            return Err(ApiError::Invalid(vec![tonic_types::FieldViolation::new(
                "shortfall",
                format!("{} is not a RefundShortfall", r.shortfall),
            )]));
        }
    };
    let f = FollowUp {
        amount: Some(&r.amount),
        ..follow_up_of!(r, original_operation_id)
    };
    follow_up(
        f,
        e,
        |(key, operation_id, original_operation_id, amount, context, _)| Command::Refund {
            key,
            operation_id,
            original_operation_id,
            amount,
            context,
            now: e.now,
            shortfall,
        },
    )
}

/// `AccruePending`: an accrual of a purchase, credited on its confirm.
pub(super) fn accrue_pending(
    r: &pb::AccruePendingRequest,
    e: &Edge<'_>,
) -> Result<Converted, ApiError> {
    let mut c = Check::default();
    let op = c.operation_id("operation_id", &r.operation_id);
    let member = c.id("member_id", &r.member_id);
    let (currency, amount) = money_of(&mut c, e.catalog, r.amount.as_ref());
    let lifetime = lifetime_of(&mut c, e.catalog, &r.lifetime);
    let kind = c.kind(r.kind, &[Kind::Regular, Kind::Charging]);
    let reward_type = c.reward_type(r.reward_type);
    let context = c.context(r.context.as_ref());
    if context.purchase_id.is_empty() {
        c.fail("context.purchase_id", "names the purchase; required");
    }
    let lapses_at = c.hold_expiry("ttl_seconds", r.ttl_seconds, e.hold_ttl, e.now);
    let ((currency, (lifetime_id, lifetime)), lapses_at) =
        c.done_with(currency.zip(lifetime).zip(lapses_at))?;
    // The lifetime runs from when the purchase happened (an offline cheque
    // replayed later keeps its date), never from a time still to come.
    let from = context
        .operation_time
        .filter(|t| *t <= e.now)
        .unwrap_or(e.now);
    let pending = |account, op| Command::AccruePending {
        key: account,
        pending: Pending {
            operation_id: op,
            amount,
            expires_at: lifetime.expires_at(from),
            lifetime: lifetime_id.to_owned(),
            kind,
            reward_type,
            context,
            lapses_at,
        },
        now: e.now,
    };
    Ok(Converted::operation(op, member, currency, pending))
}

/// `ConfirmPurchase`.
pub(super) fn confirm_purchase(
    r: &pb::ConfirmPurchaseRequest,
    e: &Edge<'_>,
) -> Result<Converted, ApiError> {
    let f = FollowUp {
        items: &r.cheque_items,
        tenders: &r.tenders,
        ..follow_up_of!(r, purchase_id)
    };
    follow_up(
        f,
        e,
        |(key, operation_id, purchase_id, _, context, receipt)| Command::ConfirmPurchase {
            key,
            operation_id,
            purchase_id,
            context,
            items: receipt.items,
            tenders: receipt.tenders,
            now: e.now,
        },
    )
}

/// `CancelPurchase`.
pub(super) fn cancel_purchase(
    r: &pb::CancelPurchaseRequest,
    e: &Edge<'_>,
) -> Result<Converted, ApiError> {
    let f = follow_up_of!(r, purchase_id);
    follow_up(f, e, |(key, operation_id, purchase_id, _, context, _)| {
        Command::CancelPurchase {
            key,
            operation_id,
            purchase_id,
            context,
            now: e.now,
        }
    })
}
