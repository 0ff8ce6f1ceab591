//! Requests → domain values: every field checked with one [`Check`], no
//! prost type past this point.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use loyalty_proto::purchases::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;

use super::check::{Check, MAX_COUPONS, MAX_ID, MAX_LINES, MAX_PAYS, MAX_TEXT};
use crate::app::steps::{Step, Who};
use crate::domain::cheque::{Cheque, Line};
use crate::domain::giftcard::{CertificateKey, MAX_GIFT_CARDS, Tender};
use crate::domain::purchase::Device;
use crate::upstream::BankCard;

/// Payment types that are points (seed `pays[].type`), compared without case.
const POINT_PAY_TYPES: [&str; 3] = ["loymax", "bonus", "points"];

/// The payment type of a gift certificate (seed `pays[].type`, any case).
const GIFT_CARD_PAY_TYPE: &str = "giftcard";

/// Operation ids of the service's own timeouts (`timeout/<purchase>`):
/// refused from callers so none can take a timeout's key.
pub const TIMEOUT_PREFIX: &str = "timeout/";

/// SHA-256 of the method and the request's bytes: the same operation id
/// under another method or with another body is another request.
pub fn request_hash<M: Message>(method: &str, request: &M) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(method.len() + 1 + request.encoded_len());
    bytes.extend_from_slice(method.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&request.encode_to_vec());
    kit::log::request_hash(&bytes)
}

/// Whether the step must name the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identify {
    /// The step names the member (Calculate, Payment, Bonus).
    Required,
    /// The purchase's member (Confirm, Cancel, Refund).
    FromPurchase,
}

/// How far past the service's clock a till's `operationDate` may be (its
/// clock runs ahead, another time zone written as UTC).
pub const MAX_DATE_AHEAD: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// The earliest `operationDate` taken (an offline cheque may be old, not
/// from before the platform's time).
pub const MIN_DATE: &str = "2000-01-01T00:00:00Z";

/// The step part of a request; `now` bounds its `operationDate` (rules and
/// coupons are picked by it: a date in the future would pick rules not in
/// force yet).
pub fn step(
    c: &mut Check,
    s: Option<&pb::Step>,
    identify: Identify,
    hash: [u8; 32],
    now: DateTime<Utc>,
) -> Step {
    let default = pb::Step::default();
    let s = s.unwrap_or(&default);
    let purchase_id = c.id("step.purchase_id", &s.purchase_id);
    let operation_id = c.id("step.operation_id", &s.operation_id);
    if operation_id.starts_with(TIMEOUT_PREFIX) {
        c.fail(
            "step.operation_id",
            format!("must not start with {TIMEOUT_PREFIX} (the service's own)"),
        );
    }
    let operation_date = s
        .operation_date
        .and_then(|t| match DateTime::<Utc>::try_from(t) {
            Ok(t) if t > now + MAX_DATE_AHEAD => {
                c.fail(
                    "step.operation_date",
                    format!("{t} is more than a day ahead of the service's clock ({now})"),
                );
                None
            }
            Ok(t) if t < min_date() => {
                c.fail("step.operation_date", format!("{t} is before {MIN_DATE}"));
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                c.fail("step.operation_date", e.to_string());
                None
            }
        });
    let who = match (&s.identifier, identify) {
        (Some(i), _) if !i.value.is_empty() => {
            let value = c.id("step.identifier.value", &i.value);
            match pb::IdentifierType::try_from(i.r#type) {
                Ok(pb::IdentifierType::Unspecified | pb::IdentifierType::Card) => Who::Card(value),
                Ok(pb::IdentifierType::MemberId) => Who::Member(value),
                Err(_) => {
                    c.fail(
                        "step.identifier.type",
                        format!("{} is not an identifier type", i.r#type),
                    );
                    Who::Purchase
                }
            }
        }
        (_, Identify::Required) => {
            c.fail(
                "step.identifier.value",
                "is required: the card (or member) of the purchase",
            );
            Who::Purchase
        }
        (_, Identify::FromPurchase) => Who::Purchase,
    };
    let d = s.device.clone().unwrap_or_default();
    let device = Device {
        partner_id: c.text("step.device.partner_id", &d.partner_id, MAX_ID),
        location_id: c.text("step.device.location_id", &d.location_id, MAX_ID),
        device_id: c.text("step.device.device_id", &d.device_id, MAX_ID),
        cashier: c.text("step.device.cashier", &d.cashier, MAX_TEXT),
    };
    Step {
        purchase_id,
        operation_id,
        operation_date,
        who,
        device,
        request_hash: hash,
    }
}

fn min_date() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(MIN_DATE).map_or(DateTime::<Utc>::MIN_UTC, |t| t.to_utc())
}

/// The cheque: 1 to 1000 lines with unique positive positions; amounts,
/// quantities and discounts bounded; with a price, the amount must be
/// price × quantity − discount.
pub fn cheque(c: &mut Check, cheque: Option<&pb::Cheque>) -> Cheque {
    let default = pb::Cheque::default();
    let ch = cheque.unwrap_or(&default);
    if ch.lines.is_empty() {
        c.fail("cheque.lines", "a cheque has at least one line");
    }
    if ch.lines.len() > MAX_LINES {
        c.fail("cheque.lines", format!("at most {MAX_LINES} lines"));
        return Cheque::default();
    }
    let date = ch.date.and_then(|t| match DateTime::<Utc>::try_from(t) {
        Ok(t) => Some(t),
        Err(e) => {
            c.fail("cheque.date", e.to_string());
            None
        }
    });
    let mut positions = BTreeSet::new();
    let mut lines = Vec::with_capacity(ch.lines.len());
    for (i, l) in ch.lines.iter().enumerate() {
        let f = |name: &str| format!("cheque.lines[{i}].{name}");
        if l.position == 0 {
            c.fail(f("position"), "must be 1 or more");
        } else if !positions.insert(l.position) {
            c.fail(f("position"), format!("{} appears twice", l.position));
        }
        let price = c.amount(&f("price"), &l.price, Some(Decimal::ZERO));
        let line = Line {
            position: l.position,
            amount: c.amount(&f("amount"), &l.amount, None),
            goods_id: c.text(&f("goods_id"), &l.goods_id, MAX_ID),
            barcode: c.text(&f("barcode"), &l.barcode, MAX_ID),
            quantity: c.quantity(&f("quantity"), &l.quantity),
            discount: c.amount(&f("discount"), &l.discount, Some(Decimal::ZERO)),
            price: (!price.is_zero()).then_some(price),
            name: c.text(&f("name"), &l.name, MAX_TEXT),
            group: c.text(&f("group"), &l.group, MAX_ID),
        };
        if let Some(expected) = line.inconsistency() {
            c.fail(
                f("amount"),
                format!(
                    "{} is not price × quantity − discount ({expected})",
                    line.amount
                ),
            );
        }
        lines.push(line);
    }
    Cheque {
        number: c.text("cheque.number", &ch.number, MAX_ID),
        date,
        lines,
    }
}

/// The coupons' numbers.
pub fn coupons(c: &mut Check, coupons: &[pb::Coupon]) -> Vec<String> {
    if coupons.len() > MAX_COUPONS {
        c.fail("coupons", format!("at most {MAX_COUPONS} coupons"));
        return Vec::new();
    }
    coupons
        .iter()
        .enumerate()
        .map(|(i, k)| c.id(&format!("coupons[{i}].number"), &k.number))
        .collect()
}

/// What `pays` says: the points paid (seed `Loymax` payments) and the gift
/// certificates paying ("GiftCard"), checking that all payments together
/// are the cheque's total.
pub fn pays(c: &mut Check, pays: &[pb::Pay], cheque: &Cheque) -> (Decimal, Vec<Tender>) {
    if pays.len() > MAX_PAYS {
        c.fail("pays", format!("at most {MAX_PAYS} payments"));
        return (Decimal::ZERO, Vec::new());
    }
    let mut total = Decimal::ZERO;
    let mut points = Decimal::ZERO;
    let mut gift_cards = Vec::new();
    for (i, p) in pays.iter().enumerate() {
        let kind = c
            .id(&format!("pays[{i}].type"), &p.r#type)
            .to_ascii_lowercase();
        let amount = c.amount(&format!("pays[{i}].amount"), &p.amount, None);
        c.text(&format!("pays[{i}].details"), &p.details, MAX_TEXT);
        total += amount;
        if POINT_PAY_TYPES.contains(&kind.as_str()) {
            points += amount;
        } else if kind == GIFT_CARD_PAY_TYPE {
            if let Some(t) = gift_card(c, i, p, amount) {
                gift_cards.push(t);
            }
        } else if p.certificate.is_some() {
            c.fail(
                format!("pays[{i}].certificate"),
                "only a \"GiftCard\" payment names a certificate",
            );
        }
    }
    if gift_cards.len() > MAX_GIFT_CARDS {
        c.fail(
            "pays",
            format!("at most {MAX_GIFT_CARDS} gift certificates"),
        );
    }
    if let Some(cheque_total) = cheque.total()
        && !pays.is_empty()
        && total != cheque_total
    {
        c.fail(
            "pays",
            format!("the payments come to {total}, the cheque to {cheque_total}"),
        );
    }
    (points, gift_cards)
}

/// A "GiftCard" payment: a positive amount and its certificate (by
/// `certificate`, else the number in `details`).
fn gift_card(c: &mut Check, i: usize, p: &pb::Pay, amount: Decimal) -> Option<Tender> {
    use loyalty_proto::certificates::v1::IdentifierKind as K;
    if amount <= Decimal::ZERO {
        c.fail(format!("pays[{i}].amount"), "must be more than 0");
    }
    let (kind, value, field) = match &p.certificate {
        Some(id) => (id.kind, id.value.as_str(), format!("pays[{i}].certificate")),
        None => (
            K::Number as i32,
            p.details.as_str(),
            format!("pays[{i}].details"),
        ),
    };
    let key = match K::try_from(kind) {
        Ok(K::Number) => CertificateKey::Number,
        Ok(K::BarCode) => CertificateKey::BarCode,
        Ok(K::Strip1) => CertificateKey::Strip1,
        Ok(K::Strip2) => CertificateKey::Strip2,
        Ok(K::Strip3) => CertificateKey::Strip3,
        Ok(K::QrCode) => CertificateKey::QrCode,
        Ok(K::CertificateId) => CertificateKey::Id,
        Ok(K::Unspecified) | Err(_) => {
            c.fail(
                format!("{field}.kind"),
                format!("{kind} is not an identifier kind"),
            );
            return None;
        }
    };
    let value = c.id(&field, value);
    Some(Tender { key, value, amount })
}

/// Seed 002's `communications`: the e-mail template to send when the
/// cheque loads the card (`action_type` must be "charge").
pub fn communications(c: &mut Check, m: Option<&pb::Communications>) -> String {
    let Some(m) = m else {
        return String::new();
    };
    if m.action_type != "charge" {
        c.fail("communications.action_type", "must be \"charge\"");
    }
    c.id("communications.template_id", &m.template_id)
}

/// The receipt's language: "", ru, en or de.
pub fn receipt_language(c: &mut Check, language: &str) -> String {
    let l = language.trim().to_ascii_lowercase();
    if !["", "ru", "en", "de"].contains(&l.as_str()) {
        c.fail("language", "ru, en or de");
    }
    l
}

/// Refund lines: positions and positive quantities (none: everything).
pub fn refund_lines(c: &mut Check, lines: &[pb::RefundLine]) -> Vec<(u32, Decimal)> {
    if lines.len() > MAX_LINES {
        c.fail("lines", format!("at most {MAX_LINES} lines"));
        return Vec::new();
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if l.position == 0 {
                c.fail(format!("lines[{i}].position"), "must be 1 or more");
            }
            (
                l.position,
                c.quantity(&format!("lines[{i}].quantity"), &l.quantity),
            )
        })
        .collect()
}

/// The language of PossibleLoyalty's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Russian (the default).
    Ru,
    /// English.
    En,
}

/// Seed 003's request: the order (a purchase id), the card (a PAN of 12-19 digits,
/// or a binding id of at most 255 characters), the language.
pub fn possible_loyalty(
    c: &mut Check,
    r: &pb::GetPossibleLoyaltyRequest,
) -> (String, BankCard, Language) {
    // Seed 003's orderId is ANS36; the gateway checks that for its clients
    // and sends the order as the partner's purchase id (`partner:order`),
    // so here the id rule of every purchase id applies.
    let order = c.id("order_id", &r.order_id);
    let pan = r.pan.trim();
    let binding = r.binding_id.trim();
    let card = if !pan.is_empty() {
        if !(12..=19).contains(&pan.len()) || !pan.chars().all(|ch| ch.is_ascii_digit()) {
            // Never echo a PAN, not even a prefix.
            c.fail("pan", "must be 12 to 19 digits");
        }
        BankCard::Pan(pan.to_owned())
    } else if !binding.is_empty() {
        c.text("binding_id", binding, 255);
        BankCard::Binding(binding.to_owned())
    } else {
        c.fail("pan", "a PAN or a binding_id is required");
        BankCard::Binding(String::new())
    };
    let language = match r.language.trim().to_ascii_lowercase().as_str() {
        "" | "ru" => Language::Ru,
        "en" => Language::En,
        _ => {
            c.fail("language", "ru or en");
            Language::Ru
        }
    };
    (order, card, language)
}
