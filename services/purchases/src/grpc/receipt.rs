//! Receipt lines of a Bonus answer, in the shape of seed 002's `receipt`:
//! a separator with a caption, name-value lines, text lines (the amounts
//! `important`), spaces; in the language asked for (ru, en, de; ru by
//! default). Cards are shown masked.

use loyalty_proto::purchases::v1 as pb;
use rust_decimal::Decimal;

use crate::domain::amount;

/// The words of a receipt in one language.
struct Words {
    card: &'static str,
    card_number: &'static str,
    points: &'static str,
    paid: &'static str,
    load: &'static str,
    loaded: &'static str,
    comma: bool,
}

fn words(language: &str) -> Words {
    match language {
        "en" => Words {
            card: "Loyalty card",
            card_number: "Card number:",
            points: "Points:",
            paid: "Paid with points:",
            load: "Card load",
            loaded: "Amount loaded:",
            comma: false,
        },
        "de" => Words {
            card: "Kundenkarte",
            card_number: "Kartennummer:",
            points: "Bonus:",
            paid: "Mit Bonus bezahlt:",
            load: "Kundenkarte Aufladung",
            loaded: "Folgender Betrag wurde aufgeladen:",
            comma: true,
        },
        _ => Words {
            card: "Карта лояльности",
            card_number: "Номер карты:",
            points: "Начислено баллов:",
            paid: "Оплачено баллами:",
            load: "Пополнение карты",
            loaded: "Зачислено:",
            comma: true,
        },
    }
}

/// An amount as a receipt prints it: "7,90" (ru, de) or "7.90" (en),
/// with the currency after it when given.
pub fn printed(value: Decimal, comma: bool, currency: &str) -> String {
    let mut s = amount::render(value);
    if comma {
        s = s.replace('.', ",");
    }
    if currency.is_empty() {
        s
    } else {
        format!("{s} {currency}")
    }
}

/// The line a till prints on the cheque after Bonus (`chequeMessage`):
/// the points paid and earned, in `language` ("" when both are zero).
pub fn cheque_message(language: &str, paid: Decimal, earned: Decimal) -> String {
    let w = words(language);
    let mut parts = Vec::new();
    if paid > Decimal::ZERO {
        parts.push(format!("{} {}", w.paid, printed(paid, w.comma, "")));
    }
    if earned > Decimal::ZERO {
        parts.push(format!("{} {}", w.points, printed(earned, w.comma, "")));
    }
    parts.join("; ")
}

fn separator(caption: &str) -> pb::ReceiptLine {
    pb::ReceiptLine {
        r#type: "separator".into(),
        caption: caption.into(),
        ..Default::default()
    }
}

fn name_value(name: &str, value: &str) -> pb::ReceiptLine {
    pb::ReceiptLine {
        r#type: "name-value".into(),
        name: name.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn text(text: &str, important: bool) -> pb::ReceiptLine {
    pb::ReceiptLine {
        r#type: "textline".into(),
        text: text.into(),
        decoration: if important {
            vec!["important".into()]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

fn space() -> pb::ReceiptLine {
    pb::ReceiptLine {
        r#type: "space".into(),
        ..Default::default()
    }
}

/// The receipt of a Bonus step: the points earned, and the card load when
/// the cheque loads the card.
pub fn receipt(
    language: &str,
    card_masked: &str,
    earned: Decimal,
    charged: Decimal,
    cash_currency: &str,
) -> Vec<pb::ReceiptLine> {
    let w = words(language);
    let mut lines = vec![
        separator(w.card),
        name_value(w.card_number, card_masked),
        space(),
        text(w.points, false),
        text(&printed(earned, w.comma, ""), true),
    ];
    if charged > Decimal::ZERO {
        lines.extend([
            separator(w.load),
            name_value(w.card_number, card_masked),
            space(),
            text(w.loaded, false),
            text(&printed(charged, w.comma, cash_currency), true),
        ]);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_as_the_seed_prints_them() {
        assert_eq!(printed(Decimal::new(2000, 2), true, "EUR"), "20,00 EUR");
        assert_eq!(printed(Decimal::new(79, 1), false, ""), "7.90");
    }

    #[test]
    fn a_card_load_adds_its_section() {
        let r = receipt(
            "de",
            "927600******4352",
            Decimal::new(790, 2),
            Decimal::new(20, 0),
            "EUR",
        );
        assert_eq!(r[0].caption, "Kundenkarte");
        assert_eq!(r[4].text, "7,90");
        assert_eq!(r[5].caption, "Kundenkarte Aufladung");
        assert_eq!(r[9].text, "20,00 EUR");
        assert_eq!(r[9].decoration, vec!["important".to_owned()]);
        assert_eq!(
            receipt("en", "x", Decimal::ONE, Decimal::ZERO, "EUR").len(),
            5
        );
    }
}
