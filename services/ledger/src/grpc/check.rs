//! Validation of requests at the edge: a [`Check`] collects one violation
//! per bad field, and the whole request is refused with all of them.

use chrono::{DateTime, TimeDelta, Utc};
use kit::status::Violations;
use rust_decimal::Decimal;

use super::{MAX_SHORT_TEXT, MAX_TEXT, RESERVED_PREFIXES};
use crate::config::HoldTtl;
use crate::domain::account::{ChequeItem, Context, Kind, Tender};
use crate::domain::catalog::{Catalog, Currency};
use crate::domain::ids::{self, IdFault, StreamId};
use crate::domain::model::{RewardType, WithdrawType};
use crate::domain::money::{self, AmountError};
use crate::error::ApiError;
use crate::events::wire;
use loyalty_proto::ledger::v1 as pb;

/// Most items a purchase's confirm may name (the first ones of a longer
/// cheque: the history shows these).
pub const MAX_CHEQUE_ITEMS: usize = 100;

/// Longest item description, in bytes.
pub const MAX_ITEM_DESCRIPTION: usize = 128;

/// Most payments besides points one confirm names.
pub const MAX_TENDERS: usize = 5;

/// Most decimals of an item's count or amount.
const ITEM_DECIMALS: u32 = 6;

/// Collects field violations while validating a request, on the kit's
/// accumulator ([`kit::status::Violations`]).
#[derive(Default)]
pub(super) struct Check(Violations);

impl Check {
    pub(super) fn fail(&mut self, field: &str, description: impl Into<String>) {
        self.0.fail(field, description);
    }

    /// An id (the ledger's one rule, [`ids::check`]); a member id is also
    /// a [`StreamId`] (no `/`).
    pub(super) fn id(&mut self, field: &str, value: &str) -> String {
        let checked = if field == "member_id" {
            StreamId::parse(value).map(|_| ())
        } else {
            ids::check(value)
        };
        if let Err(fault) = checked {
            self.fail(field, fault.to_string());
        }
        value.to_owned()
    }

    /// An operation id: [`Check::id`], and not in the ledger's own
    /// namespaces (batch lines and consumed events are operations too).
    pub(super) fn operation_id(&mut self, field: &str, value: &str) -> String {
        let id = self.id(field, value);
        if RESERVED_PREFIXES.iter().any(|p| id.starts_with(p)) {
            self.fail(
                field,
                format!("must not start with {}", RESERVED_PREFIXES.join(" or ")),
            );
        }
        id
    }

    pub(super) fn currency(
        &mut self,
        catalog: &Catalog,
        field: &str,
        id: &str,
    ) -> Option<Currency> {
        let c = catalog.currency(id).cloned();
        if c.is_none() {
            self.fail(field, format!("unknown currency {}", money::quote(id)));
        }
        c
    }

    pub(super) fn amount(
        &mut self,
        field: &str,
        value: &str,
        currency: Option<&Currency>,
    ) -> Decimal {
        let Some(c) = currency else {
            return Decimal::ZERO;
        };
        match c.parse_amount(value) {
            Ok(v) => v,
            Err(e) => {
                self.fail(field, describe(&e));
                Decimal::ZERO
            }
        }
    }

    pub(super) fn optional_amount(
        &mut self,
        field: &str,
        value: &str,
        currency: Option<&Currency>,
    ) -> Option<Decimal> {
        (!value.trim().is_empty()).then(|| self.amount(field, value, currency))
    }

    /// An operation kind: unset is REGULAR; a value outside the enum or
    /// not in `allowed` is refused.
    pub(super) fn kind(&mut self, value: i32, allowed: &[Kind]) -> Kind {
        match wire::kind(value) {
            Some(k) if allowed.contains(&k) => k,
            _ => {
                let names: Vec<&str> = allowed
                    .iter()
                    .map(|k| pb::OperationKind::from(*k).as_str_name())
                    .collect();
                self.fail(
                    "kind",
                    format!("must be one of {} (got {value})", names.join(", ")),
                );
                Kind::Regular
            }
        }
    }

    /// A reward type: unset is BONUS; DISCOUNT (a direct discount, not
    /// points) and values outside the enum are refused.
    pub(super) fn reward_type(&mut self, value: i32) -> RewardType {
        match wire::reward_type(value) {
            Some(RewardType::Discount) => {
                self.fail(
                    "reward_type",
                    "REWARD_TYPE_DISCOUNT is a direct discount, not a points accrual",
                );
                RewardType::Bonus
            }
            Some(t) => t,
            None => {
                self.fail(
                    "reward_type",
                    format!("unknown reward type {value}: BONUS, GIFT or CHARGING"),
                );
                RewardType::Bonus
            }
        }
    }

    /// A withdraw type: unset is BONUS; values outside the enum are refused.
    pub(super) fn withdraw_type(&mut self, value: i32) -> WithdrawType {
        wire::withdraw_type(value).unwrap_or_else(|| {
            self.fail(
                "withdraw_type",
                format!("unknown withdraw type {value}: BONUS, GIFT_CARD or WITHDRAW"),
            );
            WithdrawType::Bonus
        })
    }

    /// A free-text field: at most `max` bytes.
    pub(super) fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.len() > max {
            self.fail(
                field,
                format!(
                    "is {} bytes long; at most {max} are accepted ({}…)",
                    value.len(),
                    money::quote(value)
                ),
            );
        }
    }

    /// An optional id-like field: empty, or the rule ([`ids::check`]).
    pub(super) fn short_id(&mut self, field: &str, value: &str) {
        if let Err(fault) = ids::check(value)
            && fault != IdFault::Missing
        {
            self.fail(field, fault.to_string());
        }
    }

    /// The operation's context, every field bounded so no event can exceed
    /// the log's size limit.
    pub(super) fn context(&mut self, context: Option<&pb::OperationContext>) -> Context {
        let Some(x) = context else {
            return Context::default();
        };
        self.text("context.description", &x.description, MAX_TEXT);
        self.text("context.reason", &x.reason, MAX_SHORT_TEXT);
        self.text("context.merchant_name", &x.merchant_name, MAX_SHORT_TEXT);
        self.text("context.transaction_amount", &x.transaction_amount, 40);
        for (field, value) in [
            ("context.card_id", &x.card_id),
            ("context.partner_id", &x.partner_id),
            ("context.brand_id", &x.brand_id),
            ("context.location_id", &x.location_id),
            ("context.purchase_id", &x.purchase_id),
            ("context.batch_id", &x.batch_id),
            ("context.cheque_number", &x.cheque_number),
            ("context.operator_id", &x.operator_id),
        ] {
            self.short_id(field, value);
        }
        if let Some(m) = &x.purchase_amount {
            self.text("context.purchase_amount.amount", &m.amount, 40);
            self.short_id("context.purchase_amount.currency", &m.currency);
        }
        match Context::try_from(x.clone()) {
            Ok(c) => c,
            Err((field, e)) => {
                self.fail(&format!("context.{field}"), e);
                Context::default()
            }
        }
    }

    /// Whether a list of `len` `what`s is within `max`; records the
    /// violation when not.
    fn at_most(&mut self, field: &str, len: usize, max: usize, what: &str) -> bool {
        if len > max {
            self.fail(field, format!("has {len} {what}; at most {max}"));
        }
        len <= max
    }

    /// A confirm's payments besides points: at most [`MAX_TENDERS`], each a
    /// gift card with a positive amount in a catalog currency, a
    /// description and a reference of at most [`MAX_ITEM_DESCRIPTION`]
    /// bytes.
    pub(super) fn tenders(&mut self, catalog: &Catalog, tenders: &[pb::Tender]) -> Vec<Tender> {
        if !self.at_most("tenders", tenders.len(), MAX_TENDERS, "payments") {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(tenders.len());
        for (i, t) in tenders.iter().enumerate() {
            let field = |name: &str| format!("tenders[{i}].{name}");
            let withdraw_type = wire::withdraw_type(t.withdraw_type);
            if withdraw_type != Some(WithdrawType::GiftCard) {
                self.fail(&field("withdraw_type"), "must be GIFT_CARD");
            }
            let currency = self.currency(catalog, &field("currency"), &t.currency);
            let amount = self.amount(&field("amount"), &t.amount, currency.as_ref());
            self.text(&field("description"), &t.description, MAX_ITEM_DESCRIPTION);
            self.text(&field("reference"), &t.reference, MAX_ITEM_DESCRIPTION);
            out.push(Tender {
                withdraw_type: WithdrawType::GiftCard,
                amount,
                currency: currency.map(|c| c.id).unwrap_or_default(),
                description: t.description.clone(),
                reference: t.reference.clone(),
            });
        }
        out
    }

    /// A confirm's cheque items: at most [`MAX_CHEQUE_ITEMS`], each with a
    /// description of at most [`MAX_ITEM_DESCRIPTION`] bytes and a count and
    /// amount that are plain decimals (the count positive, the amount not
    /// negative; at most 6 decimals and 10^12), so the
    /// `PurchaseConfirmed` event stays well within the log's size limit.
    pub(super) fn cheque_items(&mut self, items: &[pb::ChequeItem]) -> Vec<ChequeItem> {
        if !self.at_most("cheque_items", items.len(), MAX_CHEQUE_ITEMS, "items") {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = |name: &str| format!("cheque_items[{i}].{name}");
            self.text(
                &field("description"),
                &item.description,
                MAX_ITEM_DESCRIPTION,
            );
            let max = Decimal::from(1_000_000_000_000i64);
            let mut number =
                |name: &str, value: &str, zero_allowed: bool| match money::parse_bounded(
                    value,
                    ITEM_DECIMALS,
                    max,
                ) {
                    Ok(d) => d,
                    Err(AmountError::NotPositive)
                        if zero_allowed && value.trim().parse::<Decimal>() == Ok(Decimal::ZERO) =>
                    {
                        Decimal::ZERO
                    }
                    Err(e) => {
                        self.fail(&field(name), e.to_string());
                        Decimal::ZERO
                    }
                };
            let count = number("count", &item.count, false);
            let amount = number("amount", &item.amount, true);
            out.push(ChequeItem {
                description: item.description.clone(),
                count,
                amount,
            });
        }
        out
    }

    /// A manual operation names its operator (`context.operator_id`), for
    /// audit: it is stored in the event.
    pub(super) fn operator(&mut self, kind: Kind, context: &Context) {
        if kind == Kind::Manual && context.operator_id.trim().is_empty() {
            self.fail(
                "context.operator_id",
                "is required for a MANUAL operation (who made it)",
            );
        }
    }

    /// A hold's expiry: `now` plus the requested time-to-live in seconds (0:
    /// the default); a time-to-live above the maximum is refused.
    pub(super) fn hold_expiry(
        &mut self,
        field: &str,
        requested: u32,
        settings: HoldTtl,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let secs = if requested == 0 {
            settings.default_secs
        } else {
            requested
        };
        if secs > settings.max_secs {
            self.fail(
                field,
                format!(
                    "is {secs} seconds; at most {} are accepted (0: the default, {})",
                    settings.max_secs, settings.default_secs
                ),
            );
            return None;
        }
        let expiry = now.checked_add_signed(TimeDelta::seconds(i64::from(secs)));
        if expiry.is_none() {
            self.fail(field, "the hold would lapse beyond the representable time");
        }
        expiry
    }

    pub(super) fn done(self) -> Result<(), ApiError> {
        self.0.finish().map_err(ApiError::Invalid)
    }

    /// The checked values once every field passed: `value` is `Some` then
    /// (each part is `None` only after a violation was recorded).
    pub(super) fn done_with<T>(self, value: Option<T>) -> Result<T, ApiError> {
        self.0.finish_with(value).map_err(ApiError::Invalid)
    }
}

fn describe(e: &AmountError) -> String {
    format!("{e} ({})", e.reason())
}
