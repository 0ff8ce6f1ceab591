//! The member history (seed `GET api/v1.1/History`): one row per purchase
//! (all its rewards and withdrawals), per reward without a purchase
//! (`RewardData`) and per withdrawal without a purchase (`WithdrawData`).
//! Holds appear once captured.
//!
//! Rows:
//! - `r<member>\0<time µs BE><row id>` → `HistoryRow` (protobuf);
//! - `p<member>\0<purchase id>` → the key of that purchase's row.

use kit::aggregate::DomainEvent;
use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};
use loyalty_proto::ledger::v1 as pb;
use prost::Message;

use crate::domain::account::{AccountKey, Event};
use crate::domain::catalog::Catalog;
use crate::domain::money;

/// Name of the projection (tree `proj/history`).
pub const NAME: &str = "history";

/// The history projection; amounts are rendered with their currency's
/// precision from `catalog`.
pub struct History {
    /// Currencies, for rendering amounts.
    pub catalog: std::sync::Arc<Catalog>,
}

/// Prefix of a member's rows.
pub fn member_prefix(member: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(member.len() + 2);
    k.push(b'r');
    k.extend_from_slice(member.as_bytes());
    k.push(0);
    k
}

/// Micros of a row key (after the member prefix).
pub fn row_time(key: &[u8], prefix_len: usize) -> Option<i64> {
    Some(i64::from_be_bytes(
        key.get(prefix_len..prefix_len + 8)?.try_into().ok()?,
    ))
}

fn purchase_key(member: &str, purchase: &str) -> Vec<u8> {
    let mut k = vec![b'p'];
    k.extend_from_slice(member.as_bytes());
    k.push(0);
    k.extend_from_slice(purchase.as_bytes());
    k
}

/// What one event adds to the history.
enum Entry {
    Reward(pb::HistoryReward),
    Withdraw(pb::HistoryWithdraw),
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

fn withdraw(
    key: &AccountKey,
    amount: String,
    t: pb::WithdrawType,
    op: &str,
    description: &str,
) -> Entry {
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
        if AccountKey::from_stream(&recorded.stream).is_none() {
            return Ok(()); // batch records and other non-account streams
        }
        let event = Event::decode(&recorded.event_type, &recorded.payload)?;
        let precision = |k: &AccountKey| {
            self.catalog
                .currency(&k.currency)
                .map_or(2, |c| c.precision)
        };
        let expired_context = pb::OperationContext {
            description: "Points expired".into(),
            reason: "expired".into(),
            ..Default::default()
        };
        let (key, entry, context, kind) = match &event {
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
                    money::render(*amount, precision(key)),
                    *reward_type,
                    operation_id,
                    &context.description,
                ),
                context,
                *kind,
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
                    money::render(*amount, precision(key)),
                    *withdraw_type,
                    operation_id,
                    &context.description,
                ),
                context,
                *kind,
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
                    money::render(*amount, precision(key)),
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
                        money::render(*amount, precision(key)),
                        pb::RewardType::Bonus,
                        operation_id,
                        &context.description,
                    )
                } else {
                    withdraw(
                        key,
                        money::render(*amount, precision(key)),
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
                    money::render(*amount, precision(key)),
                    pb::WithdrawType::Bonus,
                    "",
                    "Points expired",
                ),
                &expired_context,
                pb::OperationKind::Regular,
            ),
            // Openings move nothing: an opened account has no history rows.
            Event::Opened { .. } | Event::Held { .. } | Event::Released { .. } => return Ok(()),
        };
        let member = key.member_id.as_str();
        let purchase = context.purchase_id.as_str();
        // A purchase's later events join its row.
        let (row_key, mut row) = match (!purchase.is_empty())
            .then(|| rows.get(&purchase_key(member, purchase)))
            .transpose()?
            .flatten()
        {
            Some(existing_key) => {
                let bytes = rows.get(&existing_key)?.unwrap_or_default();
                (existing_key, pb::HistoryRow::decode(bytes.as_slice())?)
            }
            None => {
                let id = if purchase.is_empty() {
                    recorded.id.to_string()
                } else {
                    purchase.to_owned()
                };
                let mut k = member_prefix(member);
                k.extend_from_slice(&recorded.time.timestamp_micros().to_be_bytes());
                k.extend_from_slice(id.as_bytes());
                if !purchase.is_empty() {
                    rows.insert(purchase_key(member, purchase), k.clone());
                }
                let row_type = match (&entry, purchase.is_empty()) {
                    (_, false) => pb::HistoryRowType::Purchase,
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
                    context: Some(context.clone()),
                    kind: kind as i32,
                    rewards: Vec::new(),
                    withdraws: Vec::new(),
                };
                (k, row)
            }
        };
        match entry {
            Entry::Reward(r) => row.rewards.push(r),
            Entry::Withdraw(w) => row.withdraws.push(w),
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

/// Answers a history query from the projection's rows, newest first.
pub fn query(
    tree: &sled::Tree,
    member: &str,
    f: &Filter,
) -> anyhow::Result<(u64, Vec<pb::HistoryRow>)> {
    // Without `toDate` the seed answers nothing at all.
    let Some(to) = f.to else {
        return Ok((0, Vec::new()));
    };
    let prefix = member_prefix(member);
    let mut all = 0u64;
    let mut out = Vec::new();
    for entry in tree.scan_prefix(&prefix).rev() {
        let (k, v) = entry?;
        let Some(t) = row_time(&k, prefix.len()) else {
            continue;
        };
        if t > to {
            continue;
        }
        if f.from_date.is_some_and(|from| t < from) {
            // Keys are in time order: everything further is older still.
            break;
        }
        let row = pb::HistoryRow::decode(v.as_ref())?;
        if f.card_id.as_ref().is_some_and(|c| &row.card_id != c) {
            continue;
        }
        if let Some(count) = f.count
            && all >= u64::from(f.offset)
            && out.len() < count as usize
        {
            out.push(row);
        }
        all += 1;
    }
    Ok((all, out))
}
