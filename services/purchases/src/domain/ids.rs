//! Ids the purchases service derives for the ledger, and card masking.
//!
//! Every ledger call of a step has an id derived from the purchase and the
//! step's operation id, so a retried step repeats the same ledger call (the
//! ledger answers its first answer) and never makes a second one. Ids are
//! hashed to stay within the ledger's 128 characters whatever the callers'
//! ids are.

use sha2::{Digest, Sha256};

/// The first 24 hex digits of the SHA-256 of `s`.
fn h(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    hex::encode(&digest[..12])
}

/// Ledger ids of one purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerIds {
    purchase: String,
}

impl LedgerIds {
    /// The ids of `purchase_id`.
    pub fn of(purchase_id: &str) -> Self {
        Self {
            purchase: h(purchase_id),
        }
    }

    /// The purchase's hold (`what`: "payment"; one per purchase, so a
    /// Payment retried under another operation id after a lost record
    /// cannot hold twice).
    pub fn hold(&self, what: &str) -> String {
        format!("pur.{}.pay.{}", self.purchase, h(what))
    }

    /// The purchase's pending accrual of points (`what`: "bonus"; one per
    /// purchase, like the hold).
    pub fn accrual(&self, what: &str) -> String {
        format!("pur.{}.bonus.{}", self.purchase, h(what))
    }

    /// The purchase's pending cash load (`what`: "bonus").
    pub fn charge(&self, what: &str) -> String {
        format!("pur.{}.charge.{}", self.purchase, h(what))
    }

    /// The confirm of the purchase on the account in `currency`.
    pub fn confirm(&self, currency: &str) -> String {
        format!("pur.{}.confirm.{currency}", self.purchase)
    }

    /// The timeout (the service's cancel) of the purchase on the account in
    /// `currency`.
    pub fn timeout(&self, currency: &str) -> String {
        format!("pur.{}.timeout.{currency}", self.purchase)
    }

    /// The service's completion of a confirm the ledger did in part (a
    /// Confirm whose record was lost) on the account in `currency`.
    pub fn finish_confirm(&self, currency: &str) -> String {
        format!("pur.{}.finish.{currency}", self.purchase)
    }

    /// The cancel of the purchase on the account in `currency`.
    pub fn cancel(&self, currency: &str) -> String {
        format!("pur.{}.cancel.{currency}", self.purchase)
    }

    /// The hold on the purchase's `i`-th gift certificate (at the
    /// certificates service; one per purchase, like the ledger's hold, so a
    /// Bonus retried under another operation id after a lost record cannot
    /// hold twice).
    pub fn gift_card(&self, i: usize) -> String {
        format!("pur.{}.giftcard.{i}", self.purchase)
    }

    /// The refund onto the `i`-th gift certificate of the money from
    /// `before` (what refunds put back onto the purchase's certificates
    /// before it): the same slice of money always has the same key, so a
    /// refund retried under another operation id restores nothing twice.
    pub fn gift_card_refund(&self, i: usize, before: &str) -> String {
        format!("pur.{}.giftcard.{i}.refund.{}", self.purchase, h(before))
    }

    /// A message request of the purchase (identity's idempotency key).
    pub fn message(&self, what: &str) -> String {
        format!("pur.{}.message.{what}", self.purchase)
    }

    /// A refund's points given back (`give`) or taken back (`take`).
    pub fn refund(&self, operation_id: &str, part: &str) -> String {
        format!("pur.{}.refund.{}.{part}", self.purchase, h(operation_id))
    }
}

/// An identifier masked short for a history line: `…` and its last 4
/// characters.
pub fn mask_short(value: &str) -> String {
    let n = value.chars().count();
    let tail: String = value.chars().skip(n.saturating_sub(4)).collect();
    format!("…{tail}")
}

/// A card number masked for events and logs: the first 6 and last 4 digits
/// of a long number, only the last 4 of a shorter one.
pub fn mask_card(card: &str) -> String {
    let chars: Vec<char> = card.chars().collect();
    let n = chars.len();
    if n >= 13 {
        let head: String = chars[..6].iter().collect();
        let tail: String = chars[n - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(n - 10))
    } else if n > 4 {
        let tail: String = chars[n - 4..].iter().collect();
        format!("{}{tail}", "*".repeat(n - 4))
    } else {
        "*".repeat(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_bounded_and_distinct() {
        let ids = LedgerIds::of(&"p".repeat(128));
        let hold = ids.hold(&"o".repeat(128));
        assert!(hold.len() <= 128, "{hold}");
        assert_eq!(hold, LedgerIds::of(&"p".repeat(128)).hold(&"o".repeat(128)));
        assert_ne!(ids.accrual("a"), ids.charge("a"));
        assert_ne!(ids.confirm("BONUS"), ids.confirm("RUB"));
    }

    #[test]
    fn cards_are_masked() {
        assert_eq!(mask_card("9276004424644352"), "927600******4352");
        assert_eq!(mask_card("123456"), "**3456");
        assert_eq!(mask_card("12"), "**");
    }
}
