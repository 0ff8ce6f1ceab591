//! The card stock: how many cards of each kind are in stock, bound and
//! blocked.
//!
//! Rows:
//! - `s<card number>` → the card's kind and state (two bytes), to move it
//!   between counters;
//! - `n:<kind>:<state>` → count (i64 BE), kind `physical`/`virtual`, state
//!   `in_stock`/`bound`/`blocked`.

use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};
use loyalty_proto::identity::v1 as pb;

use super::{bump, decode};
use crate::domain::model::{CardKind, CardState};
use crate::events::Event;

/// Name of the projection (tree `proj/stock`).
pub const NAME: &str = "stock";

/// The card-stock projection.
pub struct Stock;

/// The counter key of a kind and state.
pub fn count_key(kind: CardKind, state: CardState) -> Vec<u8> {
    let kind = match kind {
        CardKind::Virtual => "virtual",
        CardKind::Physical => "physical",
    };
    let state = match state {
        CardState::Bound => "bound",
        CardState::Blocked => "blocked",
        CardState::InStock => "in_stock",
    };
    format!("n:{kind}:{state}").into_bytes()
}

fn card_key(number: &str) -> Vec<u8> {
    let mut k = vec![b's'];
    k.extend_from_slice(number.as_bytes());
    k
}

/// A card's kind as its row holds it (the number on the wire).
fn stored_kind(k: u8) -> CardKind {
    match pb::CardKind::try_from(i32::from(k)) {
        Ok(pb::CardKind::Virtual) => CardKind::Virtual,
        Ok(pb::CardKind::Physical | pb::CardKind::Unspecified) | Err(_) => CardKind::Physical,
    }
}

/// A card's state as its row holds it (the number on the wire).
fn stored_state(s: u8) -> CardState {
    match pb::CardState::try_from(i32::from(s)) {
        Ok(pb::CardState::Bound) => CardState::Bound,
        Ok(pb::CardState::Blocked) => CardState::Blocked,
        Ok(pb::CardState::InStock | pb::CardState::Unspecified) | Err(_) => CardState::InStock,
    }
}

/// Moves a card to `state` (from its recorded one, if any).
fn set_state(
    rows: &mut Rows<'_>,
    number: &str,
    kind: Option<CardKind>,
    state: CardState,
) -> anyhow::Result<()> {
    let key = card_key(number);
    let old = rows.get(&key)?;
    let (kind, old_state) = match old.as_deref() {
        Some([k, s]) => (stored_kind(*k), Some(stored_state(*s))),
        _ => (kind.unwrap_or(CardKind::Physical), None),
    };
    if old_state == Some(state) {
        return Ok(());
    }
    if let Some(old_state) = old_state {
        bump(rows, &count_key(kind, old_state), -1)?;
    }
    bump(rows, &count_key(kind, state), 1)?;
    let stored = [
        pb::CardKind::from(kind) as u8,
        pb::CardState::from(state) as u8,
    ];
    rows.insert(key, stored.to_vec());
    Ok(())
}

impl Projection for Stock {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, event: &RecordedEvent) -> anyhow::Result<()> {
        let Some(number) = event.stream.strip_prefix("card/") else {
            return Ok(());
        };
        match decode(event) {
            Some(Event::CardCreated(e)) => {
                set_state(rows, number, Some(e.kind), CardState::InStock)?;
            }
            Some(Event::CardAssigned(_)) => set_state(rows, number, None, CardState::Bound)?,
            Some(Event::CardLocked(_)) => set_state(rows, number, None, CardState::Blocked)?,
            _ => {}
        }
        Ok(())
    }
}
