//! The member history (seed `GET api/v1.1/History`): one row per purchase
//! (all its rewards and withdrawals), per reward without a purchase
//! (`RewardData`) and per withdrawal without a purchase (`WithdrawData`).
//! Holds appear once captured; a purchase's confirm adds its cheque's items
//! (`chequeItems`) to its row, or makes the row when the purchase moved no
//! points. Rewards are positive, withdrawals negative
//! (`"amount": -10` in the seed). A refund is a row of its own at its own
//! time (a `Purchase` row with `isRefund` when it belongs to a purchase), so
//! date filters find it.
//!
//! Rows:
//! - `r<member>\0<time µs BE><row id>` → `HistoryRow` (protobuf);
//! - `p<member>\0<purchase id>` → the key of that purchase's row;
//! - `c<member>\0<card>\0<time µs BE><row id>` → empty: the member's rows of
//!   one card, so a card filter counts and pages keys, not rows;
//! - `x<currency>` → the currency's precision (u32 BE) as of the events
//!   applied so far, from `CatalogChanged` (absent: 2, the built-in
//!   catalog's), so a rebuild renders every row as it was rendered live.
//!
//! A query counts keys and decodes only the rows of the page it returns.

use kit::aggregate::DomainEvent;
use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};
use loyalty_proto::ledger::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;

use super::row_key;
use crate::domain::account::{AccountKey, Context, Event};
use crate::domain::catalog::{CatalogChanged, STREAM as CATALOG_STREAM};
use crate::domain::money;
use crate::events::wire;

/// Name of the projection (tree `proj/history2`; the first version's rows
/// had unsigned withdrawals and refunds inside their purchase's row, so the
/// ledger rebuilds this one from the log when it first starts).
pub const NAME: &str = "history2";

/// Most rows one query returns (`filter.count` above it is capped).
pub const MAX_COUNT: u32 = 100;

/// The history projection; amounts are rendered with their currency's
/// precision in the catalog version in effect when they were recorded.
pub struct History;

/// Precision of currencies the log's catalog never named (the built-in
/// catalog's currencies all have 2 decimals).
const BUILTIN_PRECISION: u32 = 2;

fn precision_key(currency: &str) -> Vec<u8> {
    row_key(b'x', &[currency.as_bytes()])
}

/// The precision of `currency` as of the rows so far.
fn precision(rows: &Rows<'_>, currency: &str) -> anyhow::Result<u32> {
    Ok(match rows.get(&precision_key(currency))? {
        Some(b) => u32::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("malformed precision row of {currency:?}"))?,
        ),
        None => BUILTIN_PRECISION,
    })
}

/// Prefix of a member's rows.
pub fn member_prefix(member: &str) -> Vec<u8> {
    row_key(b'r', &[member.as_bytes(), b""])
}

/// Micros of a row key (after the member prefix).
pub fn row_time(key: &[u8], prefix_len: usize) -> Option<i64> {
    Some(i64::from_be_bytes(
        key.get(prefix_len..prefix_len + 8)?.try_into().ok()?,
    ))
}

/// Prefix of a member's rows of one card.
fn card_prefix(member: &str, card: &str) -> Vec<u8> {
    row_key(b'c', &[member.as_bytes(), card.as_bytes(), b""])
}

fn purchase_key(member: &str, purchase: &str) -> Vec<u8> {
    row_key(b'p', &[member.as_bytes(), purchase.as_bytes()])
}

/// What one event adds to the history.
enum Entry {
    Reward(pb::HistoryReward),
    Withdraw(pb::HistoryWithdraw),
    /// A confirm's cheque items and its payments besides points (they
    /// replace the row's: the bonus and the cash account's confirms name
    /// the same cheque).
    Receipt {
        items: Vec<pb::ChequeItem>,
        tenders: Vec<pb::HistoryWithdraw>,
    },
}

fn reward(
    key: &AccountKey,
    amount: String,
    t: pb::RewardType,
    op: &str,
    description: &str,
) -> Entry {
    Entry::Reward(pb::HistoryReward {
        amount,
        currency: key.currency.clone(),
        reward_type: t as i32,
        operation_id: op.to_owned(),
        description: description.to_owned(),
    })
}

/// A withdrawal: its amount is shown negative, as in the seed.
fn withdraw(
    key: &AccountKey,
    amount: String,
    t: pb::WithdrawType,
    op: &str,
    description: &str,
) -> Entry {
    let amount = match amount.strip_prefix('-') {
        Some(_) => amount,
        None if amount.chars().all(|c| c == '0' || c == '.') => amount,
        None => format!("-{amount}"),
    };
    Entry::Withdraw(pb::HistoryWithdraw {
        amount,
        currency: key.currency.clone(),
        withdraw_type: t as i32,
        operation_id: op.to_owned(),
        description: description.to_owned(),
    })
}

impl Projection for History {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, recorded: &RecordedEvent) -> anyhow::Result<()> {
        if recorded.stream == CATALOG_STREAM {
            let changed = CatalogChanged::decode(&recorded.event_type, &recorded.payload)?;
            for c in changed.catalog.currencies() {
                rows.insert(precision_key(&c.id), c.precision.to_be_bytes().to_vec());
            }
            return Ok(());
        }
        let Some(account) = AccountKey::from_stream(&recorded.stream) else {
            return Ok(()); // batch records and other non-account streams
        };
        let event = Event::decode(&recorded.event_type, &recorded.payload)?;
        let scale = precision(rows, &account.currency)?;
        let render = |amount: &Decimal| money::render(*amount, scale);
        let expired_context = Context {
            description: "Points expired".into(),
            reason: "expired".into(),
            ..Default::default()
        };
        let is_refund = matches!(event, Event::Refunded { .. });
        let confirm_context;
        let (key, entry, context, kind) = match &event {
            // The confirm of a purchase brings its cheque's items.
            Event::PurchaseConfirmed {
                key,
                purchase_id,
                items,
                tenders,
                context,
                ..
            } if !items.is_empty() || !tenders.is_empty() => {
                confirm_context = Context {
                    purchase_id: purchase_id.clone(),
                    ..context.clone()
                };
                let items = items
                    .iter()
                    .map(|i| pb::ChequeItem {
                        description: i.description.clone(),
                        count: i.count.normalize().to_string(),
                        amount: money::render(i.amount, scale),
                    })
                    .collect();
                let mut paid = Vec::with_capacity(tenders.len());
                for t in tenders {
                    let scale = self::precision(rows, &t.currency)?;
                    paid.push(pb::HistoryWithdraw {
                        amount: format!("-{}", money::render(t.amount, scale)),
                        currency: t.currency.clone(),
                        withdraw_type: pb::WithdrawType::from(t.withdraw_type) as i32,
                        operation_id: t.reference.clone(),
                        description: t.description.clone(),
                    });
                }
                (
                    key,
                    Entry::Receipt {
                        items,
                        tenders: paid,
                    },
                    &confirm_context,
                    pb::OperationKind::Regular,
                )
            }
            Event::Accrued {
                key,
                operation_id,
                amount,
                reward_type,
                context,
                kind,
                ..
            } => (
                key,
                reward(
                    key,
                    render(amount),
                    pb::RewardType::from(*reward_type),
                    operation_id,
                    &context.description,
                ),
                context,
                pb::OperationKind::from(*kind),
            ),
            Event::Withdrawn {
                key,
                operation_id,
                amount,
                withdraw_type,
                context,
                kind,
                ..
            } => (
                key,
                withdraw(
                    key,
                    render(amount),
                    pb::WithdrawType::from(*withdraw_type),
                    operation_id,
                    &context.description,
                ),
                context,
                pb::OperationKind::from(*kind),
            ),
            Event::Captured {
                key,
                operation_id,
                amount,
                context,
                ..
            } => (
                key,
                withdraw(
                    key,
                    render(amount),
                    pb::WithdrawType::Bonus,
                    operation_id,
                    &context.description,
                ),
                context,
                pb::OperationKind::Regular,
            ),
            Event::Refunded {
                key,
                operation_id,
                amount,
                credit,
                context,
                ..
            } => {
                let entry = if *credit {
                    reward(
                        key,
                        render(amount),
                        pb::RewardType::Bonus,
                        operation_id,
                        &context.description,
                    )
                } else {
                    withdraw(
                        key,
                        render(amount),
                        pb::WithdrawType::Withdraw,
                        operation_id,
                        &context.description,
                    )
                };
                (key, entry, context, pb::OperationKind::Regular)
            }
            Event::Expired { key, amount, .. } => (
                key,
                withdraw(
                    key,
                    render(amount),
                    pb::WithdrawType::Bonus,
                    "",
                    "Points expired",
                ),
                &expired_context,
                pb::OperationKind::Regular,
            ),
            // Openings move nothing: an opened account has no history rows.
            Event::Opened { .. }
            | Event::Held { .. }
            | Event::Released { .. }
            | Event::HoldExpired { .. }
            // Pending amounts are not history until confirmed (they come
            // back as accruals); the settlement markers move nothing.
            | Event::PendingAccrued { .. }
            | Event::PendingDropped { .. }
            | Event::PurchaseConfirmed { .. }
            | Event::PurchaseCancelled { .. } => return Ok(()),
        };
        let member = key.member_id.as_str();
        let purchase = context.purchase_id.as_str();
        // A purchase's later events join its row; a refund is a row of its own.
        let (row_key, mut row) = match (!purchase.is_empty() && !is_refund)
            .then(|| rows.get(&purchase_key(member, purchase)))
            .transpose()?
            .flatten()
        {
            Some(existing_key) => {
                let bytes = rows.get(&existing_key)?.unwrap_or_default();
                (existing_key, pb::HistoryRow::decode(bytes.as_slice())?)
            }
            None => {
                let id = if purchase.is_empty() || is_refund {
                    recorded.id.to_string()
                } else {
                    purchase.to_owned()
                };
                let mut suffix = recorded.time.timestamp_micros().to_be_bytes().to_vec();
                suffix.extend_from_slice(id.as_bytes());
                let mut k = member_prefix(member);
                k.extend_from_slice(&suffix);
                if !purchase.is_empty() && !is_refund {
                    rows.insert(purchase_key(member, purchase), k.clone());
                }
                if !context.card_id.is_empty() {
                    let mut c = card_prefix(member, &context.card_id);
                    c.extend_from_slice(&suffix);
                    rows.insert(c, Vec::new());
                }
                let row_type = match (&entry, purchase.is_empty()) {
                    (_, false) | (Entry::Receipt { .. }, true) => pb::HistoryRowType::Purchase,
                    (Entry::Reward(_), true) => pb::HistoryRowType::RewardData,
                    (Entry::Withdraw(_), true) => pb::HistoryRowType::WithdrawData,
                };
                let row = pb::HistoryRow {
                    id,
                    date_time: Some(recorded.time.into()),
                    r#type: row_type as i32,
                    description: context.description.clone(),
                    reason: context.reason.clone(),
                    card_id: context.card_id.clone(),
                    context: Some(context.into()),
                    kind: kind as i32,
                    rewards: Vec::new(),
                    withdraws: Vec::new(),
                    is_refund: is_refund && !purchase.is_empty(),
                    cheque_number: if purchase.is_empty() {
                        String::new()
                    } else {
                        context.cheque_number.clone()
                    },
                    amount: if purchase.is_empty() {
                        None
                    } else {
                        wire::money(context.purchase_amount.as_ref())
                    },
                    cheque_items: Vec::new(),
                };
                (k, row)
            }
        };
        // A purchase's details may come with a later event of it.
        if row.cheque_number.is_empty() && !purchase.is_empty() {
            row.cheque_number = context.cheque_number.clone();
        }
        if row.amount.is_none() && !purchase.is_empty() {
            row.amount = wire::money(context.purchase_amount.as_ref());
        }
        match entry {
            Entry::Reward(r) => row.rewards.push(r),
            Entry::Withdraw(w) => row.withdraws.push(w),
            Entry::Receipt { items, tenders } => {
                row.cheque_items = items;
                // The other account's confirm named the same payments:
                // they replace theirs, and nothing else.
                let gift_card = pb::WithdrawType::GiftCard as i32;
                row.withdraws.retain(|w| {
                    w.withdraw_type != gift_card
                        || !tenders.iter().any(|t| t.operation_id == w.operation_id)
                });
                row.withdraws.extend(tenders);
            }
        }
        rows.insert(row_key, row.encode_to_vec());
        Ok(())
    }
}

/// Filters of a history query (the seed's `filter.*`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `filter.toDate` (µs), required for any count.
    pub to: Option<i64>,
    /// `filter.count`, required for rows.
    pub count: Option<u32>,
    /// `filter.fromDate` (µs).
    pub from_date: Option<i64>,
    /// `filter.cardId`.
    pub card_id: Option<String>,
    /// `filter.from`: offset of the first row.
    pub offset: u32,
}

/// Answers a history query from the projection's rows, newest first:
/// counts the matching keys (the card index when filtering by card) and
/// decodes only the rows of the requested page (at most [`MAX_COUNT`]).
pub fn query(
    tree: &sled::Tree,
    member: &str,
    f: &Filter,
) -> anyhow::Result<(u64, Vec<pb::HistoryRow>)> {
    // Without `toDate` the seed answers nothing at all.
    let Some(to) = f.to else {
        return Ok((0, Vec::new()));
    };
    if to < 0 {
        return Ok((0, Vec::new())); // before every row (rows are after 1970)
    }
    let rows_prefix = member_prefix(member);
    let prefix = match &f.card_id {
        Some(card) => card_prefix(member, card),
        None => rows_prefix.clone(),
    };
    let bound = |t: i64| {
        let mut k = prefix.clone();
        k.extend_from_slice(&t.to_be_bytes());
        k
    };
    let lower = bound(f.from_date.unwrap_or(0).max(0));
    let upper = bound(to.saturating_add(1));
    let count = f.count.map_or(0, |c| c.min(MAX_COUNT)) as usize;
    let mut all = 0u64;
    let mut page = Vec::with_capacity(count);
    for key in tree.range(lower..upper).keys().rev() {
        let key = key?;
        if all >= u64::from(f.offset) && page.len() < count {
            // The row's key: the member's prefix and the index key's suffix.
            let mut row_key = rows_prefix.clone();
            row_key.extend_from_slice(&key[prefix.len()..]);
            page.push(row_key);
        }
        all += 1;
    }
    let mut out = Vec::with_capacity(page.len());
    for k in page {
        if let Some(v) = tree.get(&k)? {
            out.push(pb::HistoryRow::decode(v.as_ref())?);
        }
    }
    Ok((all, out))
}
