//! Gift certificates paying part of a purchase, at the certificates
//! service: held at Bonus (for longer than the ledger keeps the purchase's
//! points, so a confirm the ledger took can always capture them), captured
//! at Confirm, released at Cancel or timeout, refunded onto — gift
//! certificates first — at Refund. Every call is keyed by ids derived from
//! the purchase and the step: a retried step repeats them, never doubles.

use rust_decimal::Decimal;

use super::{Step, Steps, outage};
use crate::domain::giftcard::{self, GiftCardPay, Tender};
use crate::domain::ids::{LedgerIds, mask_card};
use crate::domain::purchase::{Purchase, PurchaseError};
use crate::error::ApiError;
use crate::upstream::{CertificateRef, UpstreamError};

/// How much longer than the ledger's hold a gift certificate's hold lives.
const GIFT_CARD_TTL_MARGIN_SECS: u32 = 3600;

impl Steps {
    /// Holds each gift certificate the till named for the step; a refusal
    /// gives back the ones held before it and is the step's refusal. A
    /// certificate in another currency than the cheque's (`currency`)
    /// pays nothing.
    pub(super) async fn hold_gift_cards(
        &self,
        step: &Step,
        tenders: &[Tender],
        currency: &str,
    ) -> Result<Result<Vec<GiftCardPay>, PurchaseError>, ApiError> {
        let ids = LedgerIds::of(&step.purchase_id);
        let ttl = self
            .ledger_ttl_secs
            .saturating_add(GIFT_CARD_TTL_MARGIN_SECS);
        let mut held = Vec::with_capacity(tenders.len());
        for (i, t) in tenders.iter().enumerate() {
            let hold_id = ids.gift_card(i);
            let certificate = CertificateRef {
                key: t.key,
                value: t.value.clone(),
            };
            let masked = mask_card(&t.value);
            match self
                .upstream
                .hold_certificate(&certificate, &hold_id, &step.purchase_id, t.amount, ttl)
                .await
            {
                Ok(b) => {
                    let other_currency = !b.currency.is_empty() && b.currency != currency;
                    held.push(GiftCardPay {
                        certificate_id: b.certificate_id,
                        masked: masked.clone(),
                        amount: t.amount,
                        hold_id,
                        lapses_at: b.lapses_at,
                    });
                    if other_currency {
                        self.release_gift_cards(&held).await;
                        return Ok(Err(PurchaseError::GiftCardNotValid {
                            card: masked,
                            why: format!(
                                "it is in {}, the cheque in {currency}",
                                kit::status::quote(&b.currency)
                            ),
                        }));
                    }
                }
                Err(e) => {
                    // Anything but an outage gives back what was held.
                    let refusal = gift_card_refusal(e, masked, t.amount);
                    if !matches!(refusal, Err(ApiError::Unavailable(_))) {
                        self.release_gift_cards(&held).await;
                    }
                    return refusal.map(Err);
                }
            }
        }
        Ok(Ok(held))
    }

    /// Gives back the holds of a step that is refused after them; one that
    /// cannot be given back now lapses at its time.
    pub(super) async fn release_gift_cards(&self, cards: &[GiftCardPay]) {
        for c in cards {
            let certificate = CertificateRef::id(&c.certificate_id);
            if let Err(e) = self
                .upstream
                .settle_certificate(false, &certificate, &c.hold_id)
                .await
            {
                tracing::warn!(hold_id = %c.hold_id, error = %e, "a gift certificate's hold is left to lapse");
            }
        }
    }

    /// Captures (`capture`: the purchase is confirmed) or releases (it is
    /// cancelled or timed out) the purchase's gift certificates; the money
    /// moved. When `finishing` a confirm the ledger made already (the
    /// sweep), a certificate that refuses its capture is logged as an
    /// error for an operator and left out, so the purchase is recorded
    /// rather than retried for ever.
    pub(super) async fn settle_gift_cards(
        &self,
        state: &Purchase,
        capture: bool,
        finishing: bool,
    ) -> Result<Decimal, ApiError> {
        let mut moved = Decimal::ZERO;
        for c in state.gift_cards() {
            let certificate = CertificateRef::id(&c.certificate_id);
            match self
                .upstream
                .settle_certificate(capture, &certificate, &c.hold_id)
                .await
            {
                Ok(_) => moved += c.amount,
                Err(e @ UpstreamError::Refused { .. }) if finishing => {
                    tracing::error!(
                        purchase_id = %state.purchase_id,
                        hold_id = %c.hold_id,
                        amount = %c.amount,
                        error = %e,
                        "a gift certificate refused the capture of a purchase the ledger confirmed: its part is unpaid"
                    );
                }
                Err(e) => return Err(unexpected(e)),
            }
        }
        Ok(moved)
    }

    /// The first gift certificate whose hold lapses by `now` (with a
    /// minute's margin for the two services' clocks), refusing a Confirm
    /// before anything is settled.
    pub(super) fn lapsed_gift_card(
        &self,
        state: &Purchase,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<PurchaseError> {
        let margin = chrono::Duration::seconds(60);
        state
            .gift_cards()
            .iter()
            .find(|c| c.lapses_at.is_some_and(|t| t <= now + margin))
            .map(|c| PurchaseError::GiftCardNotValid {
                card: c.masked.clone(),
                why: "its hold lapsed: cancel the purchase".into(),
            })
    }

    /// Puts `money` of a refund back onto the purchase's gift certificates,
    /// in the order they paid, up to what each paid (less what earlier
    /// refunds put back); the money put back.
    pub(super) async fn restore_gift_cards(
        &self,
        state: &Purchase,
        money: Decimal,
    ) -> Result<Decimal, ApiError> {
        let cards = state.gift_cards();
        let parts: Vec<Decimal> = cards.iter().map(|c| c.amount).collect();
        let ids = LedgerIds::of(&state.purchase_id);
        let before = state.gift_card_returned.normalize().to_string();
        let mut restored = Decimal::ZERO;
        for (i, share) in giftcard::split(&parts, state.gift_card_returned, money) {
            let c = &cards[i];
            let refund_id = ids.gift_card_refund(i, &before);
            self.upstream
                .restore_certificate(
                    &CertificateRef::id(&c.certificate_id),
                    &refund_id,
                    &c.hold_id,
                    share,
                )
                .await
                .map_err(unexpected)?;
            restored += share;
        }
        Ok(restored)
    }
}

/// A certificates service refusal of a hold as the step's refusal; an
/// outage as an error (nothing recorded, retry).
fn gift_card_refusal(
    e: UpstreamError,
    card: String,
    requested: Decimal,
) -> Result<PurchaseError, ApiError> {
    let invalid = |why: &str| PurchaseError::GiftCardNotValid {
        card: card.clone(),
        why: why.to_owned(),
    };
    Ok(match e.reason() {
        Some("NOT_ENOUGH_MONEY") => PurchaseError::GiftCardNotEnough {
            available: e.decimal("available").unwrap_or_default(),
            requested: e.decimal("requested").unwrap_or(requested),
            card,
        },
        Some("CERTIFICATE_NOT_FOUND") => invalid("no such certificate"),
        Some("CERTIFICATE_NOT_ACTIVE") => invalid("not active, or past its date"),
        Some("ONE_TIME_WHOLE") => invalid("a one-time certificate pays its whole balance"),
        Some("InvalidArgument" | "INVALID") => invalid("not a certificate identifier"),
        Some("HOLD_LAPSED") => invalid("held for this purchase too long ago: start it again"),
        // The hold's id (the purchase and the step) was used with another
        // amount or certificate.
        Some("HOLD_CONFLICT") => PurchaseError::DifferentCheque(format!(
            "gift certificate {card} was held for this step differently"
        )),
        Some(_) => return Err(unexpected(e)),
        None => return Err(outage(e)),
    })
}

/// A certificates answer the purchase cannot turn into a refusal: an outage
/// is retried; anything else is unexpected (logged, the step not recorded).
fn unexpected(e: UpstreamError) -> ApiError {
    match e {
        UpstreamError::Unavailable(_) => outage(e),
        UpstreamError::Refused { .. } => {
            ApiError::Unexpected(anyhow::anyhow!("the certificates service refused: {e}"))
        }
    }
}
