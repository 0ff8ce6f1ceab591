//! Cards of a member: binding a physical card, emitting a virtual one.

use kit::log::ExpectedVersion;

use super::*;
use crate::domain::card::CARD_STOCK_STREAM;
use crate::domain::values::mask_tail;

/// Cards per LoadCards request.
pub const MAX_CARDS_PER_LOAD: u64 = 1_000_000;

/// What `LoadCards` adds to the stock, as given (checked by
/// [`Identity::load_cards`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadCards {
    /// Single card numbers.
    pub card_numbers: Vec<String>,
    /// Ranges of card numbers.
    pub ranges: Vec<CardRange>,
}

/// A range of card numbers, both ends included, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRange {
    /// The first number.
    pub first: String,
    /// The last number (same length as `first`, not smaller).
    pub last: String,
}

/// What a `LoadCards` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedCards {
    /// Cards newly added to the stock.
    pub loaded: u64,
    /// Cards that were known already (left as they were).
    pub already_known: u64,
    /// Numbers refused.
    pub rejected: Vec<RejectedCard>,
}

/// A card number that was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedCard {
    /// The number, masked.
    pub card_number_masked: String,
    /// Why (e.g. `NOT_DIGITS`, `BAD_LENGTH`, `IN_VIRTUAL_RANGE`).
    pub reason: String,
}

impl Identity {
    /// Binds the card to the member on the card's stream, then on the member's.
    pub(super) async fn attach_card(
        &self,
        member_id: &str,
        number: &str,
        kind: CardKind,
    ) -> Result<(), ApiError> {
        let assign = CardCommand::Assign {
            member_id: member_id.to_owned(),
        };
        self.run(&self.cards, &card_stream(number), &assign).await?;
        self.add_member_card(member_id, number, kind).await
    }

    /// Lists a card bound to the member on the member's stream (a no-op
    /// when it is listed already).
    pub(crate) async fn add_member_card(
        &self,
        member_id: &str,
        number: &str,
        kind: CardKind,
    ) -> Result<(), ApiError> {
        let add = Command::AddCard {
            number: number.to_owned(),
            kind,
            now: self.now(),
        };
        self.run_member(member_id, &add).await?;
        Ok(())
    }

    /// `Cards/Set`: binds a physical card from the stock.
    pub async fn set_card(&self, s: &Session, raw: &str) -> Result<String, ApiError> {
        let card = CardNumber::parse(raw).map_err(|e| violation("card_number", e.description))?;
        // Checked before the card's stream is touched: a card must never
        // point at a member that refuses to list it.
        s.member.phone_proven()?;
        let (c, _) = self.cards.load(&card_stream(card.as_str()))?;
        if c.kind == CardKind::Virtual {
            return Err(violation(
                "card_number",
                "a virtual card cannot be bound by number",
            ));
        }
        self.attach_card(&s.member_id, card.as_str(), CardKind::Physical)
            .await?;
        Ok(card.masked())
    }

    /// Whether the member may get a virtual card now.
    pub fn may_emit_virtual(&self, member: &Member) -> bool {
        self.settings.policy.virtual_on_request() && member.virtual_cards() == 0
    }

    /// Emits a virtual card for the member and binds it.
    pub async fn emit_virtual(&self, member: &Member) -> Result<String, ApiError> {
        let _one_at_a_time = self.emit_lock.lock().await;
        let member = &self.member(&member.id)?;
        if !self.settings.policy.virtual_on_request() {
            return Err(ApiError::Disabled("virtual card emission is switched off"));
        }
        if member.virtual_cards() > 0 {
            return Err(ApiError::VirtualCardExists);
        }
        let (first, last, width) = self.settings.virtual_range;
        let alloc = Allocate {
            first,
            last,
            width,
            member_id: member.id.clone(),
        };
        let executed = self.run(&self.range, VIRTUAL_STREAM, &alloc).await?;
        let number = events_of(&executed)
            .into_iter()
            .find_map(|e| match e {
                Event::VirtualNumberAllocated(v) => Some(v.card_number),
                _ => None,
            })
            .ok_or_else(|| anyhow::anyhow!("no number allocated"))?;
        let create = CardCommand::CreateVirtual {
            number: number.clone(),
            member_id: member.id.clone(),
        };
        self.run(&self.cards, &card_stream(&number), &create)
            .await?;
        self.add_member_card(&member.id, &number, CardKind::Virtual)
            .await?;
        tracing::info!(member_id = %member.id, card = %crate::domain::values::mask_tail(&number), "virtual card emitted");
        Ok(number)
    }

    /// Appends a summary event to the card stock's stream (`card-stock`).
    async fn record_stock_event(&self, e: Event) -> Result<(), ApiError> {
        self.cards
            .log()
            .append(CARD_STOCK_STREAM, ExpectedVersion::Any, vec![new_event(&e)])
            .await
            .map_err(ApiError::Storage)?;
        Ok(())
    }

    /// `LoadCards`: adds single numbers and ranges to the stock; numbers in
    /// the virtual range and malformed ones are rejected, known ones left
    /// as they are (so a repeated load is harmless).
    pub async fn load_cards(&self, r: &LoadCards) -> Result<LoadedCards, ApiError> {
        let (vfirst, vlast, vwidth) = self.settings.virtual_range;
        let mut rejected = Vec::new();
        let mut numbers = Vec::new();
        let mut reject = |raw: &str, reason: &str| {
            rejected.push(RejectedCard {
                card_number_masked: mask_tail(raw.trim()),
                reason: reason.to_owned(),
            })
        };
        let in_virtual =
            |c: &CardNumber| c.as_str().len() == vwidth && (vfirst..=vlast).contains(&c.value());
        for raw in &r.card_numbers {
            match CardNumber::parse(raw) {
                Ok(c) if in_virtual(&c) => reject(raw, "IN_VIRTUAL_RANGE"),
                Ok(c) => numbers.push(c),
                Err(e) => reject(raw, e.reason),
            }
        }
        let mut considered = r.card_numbers.len() as u64;
        if considered > MAX_CARDS_PER_LOAD {
            return Err(violation(
                "card_numbers",
                format!("at most {MAX_CARDS_PER_LOAD} cards per request"),
            ));
        }
        for (i, range) in r.ranges.iter().enumerate() {
            let field = format!("ranges[{i}]");
            let (first, last) = match (
                CardNumber::parse(&range.first),
                CardNumber::parse(&range.last),
            ) {
                (Ok(f), Ok(l)) if f.as_str().len() == l.as_str().len() && f <= l => (f, l),
                _ => {
                    return Err(violation(
                        &field,
                        "first and last must be card numbers of one length, first <= last",
                    ));
                }
            };
            // Every number counts, the rejected ones too.
            considered += last.value() - first.value() + 1;
            if considered > MAX_CARDS_PER_LOAD {
                return Err(violation(
                    &field,
                    format!("at most {MAX_CARDS_PER_LOAD} cards per request"),
                ));
            }
            let width = first.as_str().len();
            for v in first.value()..=last.value() {
                let c = CardNumber::from_value(v, width)
                    .map_err(|e| violation(&field, e.description))?;
                if in_virtual(&c) {
                    reject(c.as_str(), "IN_VIRTUAL_RANGE");
                } else {
                    numbers.push(c);
                }
            }
        }
        let total = numbers.len() as u64;
        let loaded = self.stock(numbers).await?;
        if loaded > 0 {
            self.record_stock_event(Event::CardsLoaded(ev::CardsLoaded {
                loaded,
                loaded_at: self.now(),
            }))
            .await?;
        }
        tracing::info!(
            loaded,
            already_known = total - loaded,
            rejected = rejected.len(),
            "cards loaded"
        );
        Ok(LoadedCards {
            loaded,
            already_known: total - loaded,
            rejected,
        })
    }

    /// Creates the cards not yet known. Each card is its own stream, created
    /// only if it does not exist (expected version 0): the appends are
    /// submitted without waiting, in windows, so the log commits thousands
    /// per cycle; a conflict means the card was known already.
    async fn stock(&self, numbers: Vec<CardNumber>) -> Result<u64, ApiError> {
        /// Appends in flight at once.
        const WINDOW: usize = 8_192;
        let log = self.cards.log();
        let mut loaded = 0;
        for window in numbers.chunks(WINDOW) {
            let mut pending = Vec::with_capacity(window.len());
            for n in window {
                let e = Event::CardCreated(ev::CardCreated {
                    card_number: n.as_str().to_owned(),
                    kind: CardKind::Physical,
                });
                let stream = card_stream(n.as_str());
                pending.push(log.submit(
                    &stream,
                    ExpectedVersion::Exact(0),
                    vec![new_event(&e)],
                    None,
                ));
            }
            for p in pending {
                match p.map_err(ApiError::Storage)?.outcome().await {
                    Ok(_) => loaded += 1,
                    Err(kit::log::LogError::Conflict { .. }) => {}
                    Err(e) => return Err(ApiError::Storage(e)),
                }
            }
        }
        Ok(loaded)
    }

    /// `BlockCard`: the card can no longer be bound or used (idempotent).
    pub async fn block_card(&self, raw: &str, reason: &str) -> Result<(), ApiError> {
        let card = CardNumber::parse(raw).map_err(|e| violation("card_number", e.description))?;
        let block = CardCommand::Block {
            reason: reason.to_owned(),
            masked: card.masked(),
            now: self.now(),
        };
        self.run(&self.cards, &card_stream(card.as_str()), &block)
            .await?;
        Ok(())
    }

    /// `LookupCard`: the card's state (NOT_FOUND for an unknown card).
    pub fn lookup_card(&self, raw: &str) -> Result<Card, ApiError> {
        let card = CardNumber::parse(raw).map_err(|e| violation("card_number", e.description))?;
        let (c, _) = self.cards.load(&card_stream(card.as_str()))?;
        if c.number.is_empty() {
            return Err(ApiError::NotFound("card"));
        }
        Ok(c)
    }

    /// Resolves a `memberNo` (a bound card's number or a member id) to
    /// `(member id, by card)`; `None` when it names nobody.
    pub fn resolve(&self, member_no: &str) -> Result<Option<(String, bool)>, ApiError> {
        let no = member_no.trim();
        if no.is_empty() {
            return Ok(None);
        }
        if let Ok(card) = CardNumber::parse(no) {
            let (c, _) = self.cards.load(&card_stream(card.as_str()))?;
            if let Some(m) = c.member_id {
                return Ok(Some((m, true)));
            }
        }
        if uuid::Uuid::parse_str(no).is_ok() && self.member(no).is_ok() {
            return Ok(Some((no.to_owned(), false)));
        }
        Ok(None)
    }
}
