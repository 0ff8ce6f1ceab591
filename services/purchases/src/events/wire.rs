//! Domain values ⇄ their `loyalty.purchases.v1` messages: the cheque, the
//! calculated cheque, the step reference. Decoding is strict about numbers
//! (a stored amount that is not a decimal is a decode error, never zero).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use kit::aggregate::DecodeError;
use loyalty_proto::purchases::v1 as pb;
use rust_decimal::Decimal;

use crate::domain::calc::{Calculation, LineResult};
use crate::domain::cheque::{Cheque, Line};
use crate::domain::purchase::{Device, StepRef};

/// Decodes the fields of one stored event, naming it in errors.
pub struct Decoder<'a> {
    /// The event's type.
    pub event_type: &'a str,
}

impl Decoder<'_> {
    /// An error about this event.
    pub fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            event_type: self.event_type.to_owned(),
            reason: reason.into(),
        }
    }

    /// A decimal field; empty is zero.
    pub fn decimal(&self, field: &str, s: &str) -> Result<Decimal, DecodeError> {
        if s.is_empty() {
            return Ok(Decimal::ZERO);
        }
        Decimal::from_str(s).map_err(|_| self.err(format!("{field}: not a decimal")))
    }

    /// A time field.
    pub fn time(
        &self,
        field: &str,
        t: Option<loyalty_proto::wkt::Timestamp>,
    ) -> Result<Option<DateTime<Utc>>, DecodeError> {
        t.map(DateTime::<Utc>::try_from)
            .transpose()
            .map_err(|e| self.err(format!("{field}: {e}")))
    }

    /// A cheque.
    pub fn cheque(&self, c: Option<pb::Cheque>) -> Result<Cheque, DecodeError> {
        let c = c.unwrap_or_default();
        let lines = c
            .lines
            .into_iter()
            .map(|l| {
                let price = self.decimal("price", &l.price)?;
                Ok(Line {
                    position: l.position,
                    amount: self.decimal("amount", &l.amount)?,
                    goods_id: l.goods_id,
                    barcode: l.barcode,
                    quantity: self.decimal("quantity", &l.quantity)?,
                    discount: self.decimal("discount", &l.discount)?,
                    price: (!price.is_zero()).then_some(price),
                    name: l.name,
                    group: l.group,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(Cheque {
            number: c.number,
            date: self.time("cheque.date", c.date)?,
            lines,
        })
    }

    /// A calculated cheque.
    pub fn calc(&self, c: Option<pb::AnswerCheque>) -> Result<Calculation, DecodeError> {
        let c = c.unwrap_or_default();
        let lines = c
            .lines
            .into_iter()
            .map(|l| {
                Ok(LineResult {
                    position: l.position,
                    amount: self.decimal("amount", &l.amount)?,
                    discount: self.decimal("discount", &l.discount)?,
                    payable: self.decimal("payable", &l.payable)?,
                    paid: self.decimal("pay_amount", &l.pay_amount)?,
                    earned: self.decimal("cashback", &l.cashback)?,
                    card_load: l.card_load,
                    name: l.name,
                    barcode: l.barcode,
                    goods_id: l.goods_id,
                    quantity: self.decimal("quantity", &l.quantity)?,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(Calculation {
            lines,
            total_amount: self.decimal("total_amount", &c.total_amount)?,
            total_discount: self.decimal("total_discount", &c.total_discount)?,
            payable: self.decimal("payable", &c.payable)?,
            earned: self.decimal("total_cashback", &c.total_cashback)?,
            charged: self.decimal("charged", &c.charged)?,
        })
    }

    /// A step reference.
    pub fn step(&self, r: Option<pb::PurchaseRef>) -> Result<StepRef, DecodeError> {
        let r = r.ok_or_else(|| self.err("ref is missing"))?;
        let d = r.device.unwrap_or_default();
        Ok(StepRef {
            purchase_id: r.purchase_id,
            operation_id: r.operation_id,
            member_id: r.member_id,
            card_masked: r.card_masked,
            operation_date: self.time("operation_date", r.operation_date)?,
            device: Device {
                partner_id: d.partner_id,
                location_id: d.location_id,
                device_id: d.device_id,
                cashier: d.cashier,
            },
        })
    }
}

/// A decimal as the wire writes it, scale kept ("4.00" stays "4.00").
pub fn dec(d: Decimal) -> String {
    d.to_string()
}

/// The cheque's message.
pub fn cheque(c: &Cheque) -> pb::Cheque {
    pb::Cheque {
        number: c.number.clone(),
        date: c.date.map(Into::into),
        lines: c
            .lines
            .iter()
            .map(|l| pb::ChequeLine {
                position: l.position,
                amount: dec(l.amount),
                goods_id: l.goods_id.clone(),
                barcode: l.barcode.clone(),
                quantity: dec(l.quantity),
                cashback: String::new(),
                discount: dec(l.discount),
                name: l.name.clone(),
                price: l.price.map(dec).unwrap_or_default(),
                correction: String::new(),
                group: l.group.clone(),
            })
            .collect(),
    }
}

/// The calculated cheque's message: the answer's `cheque`, with what a
/// replay needs (`payable`, `card_load`).
pub fn calc(c: &Calculation) -> pb::AnswerCheque {
    pb::AnswerCheque {
        total_amount: dec(c.total_amount),
        total_discount: dec(c.total_discount),
        total_cashback: dec(c.earned),
        lines: c
            .lines
            .iter()
            .map(|l| pb::AnswerLine {
                position: l.position,
                amount: dec(l.amount),
                pay_amount: dec(l.paid),
                discount: dec(l.discount),
                cashback: dec(l.earned),
                barcode: l.barcode.clone(),
                goods_id: l.goods_id.clone(),
                quantity: dec(l.quantity),
                message: String::new(),
                payable: dec(l.payable),
                card_load: l.card_load,
                name: l.name.clone(),
            })
            .collect(),
        payable: dec(c.payable),
        charged: dec(c.charged),
    }
}

/// The step reference's message.
pub fn step(s: &StepRef) -> pb::PurchaseRef {
    pb::PurchaseRef {
        purchase_id: s.purchase_id.clone(),
        operation_id: s.operation_id.clone(),
        member_id: s.member_id.clone(),
        card_masked: s.card_masked.clone(),
        operation_date: s.operation_date.map(Into::into),
        device: Some(pb::Device {
            partner_id: s.device.partner_id.clone(),
            location_id: s.device.location_id.clone(),
            device_id: s.device.device_id.clone(),
            cashier: s.device.cashier.clone(),
        }),
    }
}
