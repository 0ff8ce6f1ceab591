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
use loyalty_proto::identity::v1::{CardKind, CardState};

use super::{bump, decode};
use crate::events::Event;

/// Name of the projection (tree `proj/stock`).
pub const NAME: &str = "stock";

/// The card-stock projection.
pub struct Stock;

/// The counter key of a kind and state.
pub fn count_key(kind: CardKind, state: CardState) -> Vec<u8> {
    let kind = if kind == CardKind::Virtual {
        "virtual"
    } else {
        "physical"
    };
    let state = match state {
        CardState::Bound => "bound",
        CardState::Blocked => "blocked",
        _ => "in_stock",
    };
    format!("n:{kind}:{state}").into_bytes()
}

fn card_key(number: &str) -> Vec<u8> {
    let mut k = vec![b's'];
    k.extend_from_slice(number.as_bytes());
    k
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
        Some([k, s]) => (
            CardKind::try_from(i32::from(*k)).unwrap_or(CardKind::Physical),
            Some(CardState::try_from(i32::from(*s)).unwrap_or(CardState::InStock)),
        ),
        _ => (kind.unwrap_or(CardKind::Physical), None),
    };
    if old_state == Some(state) {
        return Ok(());
    }
    if let Some(old_state) = old_state {
        bump(rows, &count_key(kind, old_state), -1)?;
    }
    bump(rows, &count_key(kind, state), 1)?;
    rows.insert(key, vec![kind as u8, state as u8]);
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
                let kind = CardKind::try_from(e.kind).unwrap_or(CardKind::Physical);
                set_state(rows, number, Some(kind), CardState::InStock)?;
            }
            Some(Event::CardAssigned(_)) => set_state(rows, number, None, CardState::Bound)?,
            Some(Event::CardLocked(_)) => set_state(rows, number, None, CardState::Blocked)?,
            _ => {}
        }
        Ok(())
    }
}
