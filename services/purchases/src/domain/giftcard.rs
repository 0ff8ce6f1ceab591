//! Gift certificates paying part of a purchase (`pays` of type "GiftCard"):
//! which certificate and how much, what the purchase records of it (the
//! certificate's id and masked number, never the number itself), and how a
//! refund's money goes back onto them.
//!
//! The certificates service holds the money at Bonus, spends it at Confirm
//! and gives it back at Cancel or timeout. A refund gives money back to the
//! gift certificates first, in the order they paid, up to what each paid:
//! the rest of a refund's money is the till's to return in cash or to the
//! bank card. Over the refunds of a whole purchase, each certificate gets
//! back exactly what it paid.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Most gift certificates one purchase may be paid with.
pub const MAX_GIFT_CARDS: usize = 5;

/// How the till names a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateKey {
    /// The number printed on it.
    Number,
    /// Its barcode.
    BarCode,
    /// Magnetic strip, track 1.
    Strip1,
    /// Magnetic strip, track 2.
    Strip2,
    /// Magnetic strip, track 3.
    Strip3,
    /// Its QR code.
    QrCode,
    /// The certificates service's own id for it.
    Id,
}

/// A gift certificate the till says pays part of the cheque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tender {
    /// How `value` names it.
    pub key: CertificateKey,
    /// The identifier (never recorded or logged whole).
    pub value: String,
    /// Money it pays.
    pub amount: Decimal,
}

/// A gift certificate paying part of the purchase, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GiftCardPay {
    /// The certificate's id at the certificates service.
    pub certificate_id: String,
    /// The identifier the till sent, masked.
    pub masked: String,
    /// Money it pays.
    pub amount: Decimal,
    /// The hold on it.
    pub hold_id: String,
    /// When the hold lapses at the certificates service (at the latest;
    /// `None`: recorded before holds lapsed). A Confirm after it is
    /// refused before anything is settled.
    pub lapses_at: Option<DateTime<Utc>>,
}

/// The sum of `cards`' amounts.
pub fn total(cards: &[GiftCardPay]) -> Decimal {
    cards
        .iter()
        .fold(Decimal::ZERO, |s, c| s.saturating_add(c.amount))
}

/// How `amount` more splits over consecutive `parts` when `before` was
/// covered already: part `i` covers from the sum of the parts before it up
/// to that plus its own. Returns (index, share) for each part with a
/// positive share; more than the parts hold is left over.
pub fn split(parts: &[Decimal], before: Decimal, amount: Decimal) -> Vec<(usize, Decimal)> {
    let (from, to) = (before, before.saturating_add(amount));
    let mut start = Decimal::ZERO;
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let end = start.saturating_add(*p);
        let share = to.min(end).saturating_sub(from.max(start));
        if share > Decimal::ZERO {
            out.push((i, share));
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn refunds_fill_the_cards_in_order_and_stop_at_what_they_paid() {
        let parts = [d("30"), d("20")];
        assert_eq!(split(&parts, d("0"), d("10")), vec![(0, d("10"))]);
        assert_eq!(
            split(&parts, d("10"), d("25")),
            vec![(0, d("20")), (1, d("5"))]
        );
        assert_eq!(split(&parts, d("35"), d("100")), vec![(1, d("15"))]);
        assert!(split(&parts, d("50"), d("1")).is_empty());
    }

    proptest::proptest! {
        /// However a refund is cut into steps, each part gets back exactly
        /// what it paid once the steps cover it, and never more.
        #[test]
        fn any_steps_give_each_part_back_exactly(
            parts in proptest::collection::vec(1u32..10_000, 1..5),
            steps in proptest::collection::vec(1u32..10_000, 1..10),
        ) {
            let parts: Vec<Decimal> = parts.into_iter().map(|c| Decimal::new(c.into(), 2)).collect();
            let mut got = vec![Decimal::ZERO; parts.len()];
            let mut before = Decimal::ZERO;
            for s in steps {
                let amount = Decimal::new(s.into(), 2);
                for (i, share) in split(&parts, before, amount) {
                    got[i] += share;
                }
                before += amount;
            }
            for (i, p) in parts.iter().enumerate() {
                proptest::prop_assert!(got[i] <= *p);
            }
            let total: Decimal = parts.iter().sum();
            if before >= total {
                proptest::prop_assert_eq!(&got, &parts);
            }
        }
    }
}
