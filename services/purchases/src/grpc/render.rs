//! Rendering a step's recorded event as the seed's answer. Amounts carry
//! two decimals ("76.50").

use loyalty_proto::purchases::v1 as pb;
use rust_decimal::Decimal;

use crate::app::steps::{Possible, PossibleCode};
use crate::domain::calc::Calculation;
use crate::domain::purchase::{Event, StepRef};
use crate::upstream::Balance;

use super::convert::Language;

/// An amount with two decimals.
pub fn money(d: Decimal) -> String {
    crate::domain::amount::render(d)
}

/// What a cheque's lines show at each step.
#[derive(Debug, Clone, Copy)]
pub struct Show {
    /// `payAmount` per line.
    pub paid: bool,
    /// `cashback` per line.
    pub earned: bool,
}

/// The answer's cheque.
pub fn cheque(c: &Calculation, show: Show) -> pb::AnswerCheque {
    pb::AnswerCheque {
        total_amount: money(c.total_amount),
        total_discount: money(c.total_discount),
        total_cashback: money(if show.earned { c.earned } else { Decimal::ZERO }),
        lines: c
            .lines
            .iter()
            .map(|l| pb::AnswerLine {
                position: l.position,
                amount: money(l.amount),
                pay_amount: if show.paid {
                    money(l.paid)
                } else {
                    String::new()
                },
                discount: money(l.discount),
                cashback: if show.earned {
                    money(l.earned)
                } else {
                    String::new()
                },
                barcode: l.barcode.clone(),
                goods_id: l.goods_id.clone(),
                quantity: l.quantity.normalize().to_string(),
                message: String::new(),
                payable: money(l.payable),
                card_load: l.card_load,
                name: l.name.clone(),
            })
            .collect(),
        payable: money(c.payable),
        charged: money(c.charged),
    }
}

/// The envelope of a step's answer: "Ok".
pub fn answer(step: &StepRef, cheque: Option<pb::AnswerCheque>) -> pb::Answer {
    pb::Answer {
        code: pb::ProcessingCode::Ok as i32,
        operation_id: step.operation_id.clone(),
        purchase_id: step.purchase_id.clone(),
        transaction_id: String::new(),
        error_message: String::new(),
        cashier_message: String::new(),
        cheque_message: String::new(),
        cheque,
    }
}

/// Calculate's answer.
pub fn calculated(events: &[Event]) -> pb::CalculateResponse {
    let mut out = pb::CalculateResponse::default();
    for e in events {
        if let Event::Calculated {
            step,
            calc,
            available,
            ..
        } = e
        {
            let show = Show {
                paid: false,
                earned: false,
            };
            out.answer = Some(answer(step, Some(cheque(calc, show))));
            out.available_amount = money(*available);
            out.available_bonus_amount = money(*available);
        }
    }
    out
}

/// Payment's answer.
pub fn paid(events: &[Event]) -> pb::PaymentResponse {
    let mut out = pb::PaymentResponse::default();
    for e in events {
        if let Event::Paid {
            step,
            payment,
            calc,
        } = e
        {
            let show = Show {
                paid: true,
                earned: false,
            };
            let mut a = answer(step, Some(cheque(calc, show)));
            a.transaction_id = payment.hold_id.clone();
            out.answer = Some(a);
            out.amount = money(payment.points);
            out.bonus_amount = money(payment.points);
        }
    }
    out
}

/// Bonus's answer, with the receipt (cash loads in `cash_currency`).
pub fn bonus(events: &[Event], cash_currency: &str) -> pb::BonusResponse {
    let mut out = pb::BonusResponse::default();
    for e in events {
        if let Event::BonusCalculated {
            step,
            calc,
            pending,
            ..
        } = e
        {
            let show = Show {
                paid: true,
                earned: true,
            };
            let mut a = answer(step, Some(cheque(calc, show)));
            a.transaction_id = pending.accrual_operation_id.clone();
            let paid = calc.lines.iter().map(|l| l.paid).sum();
            a.cheque_message =
                super::receipt::cheque_message(&pending.language, paid, pending.points);
            out.answer = Some(a);
            out.bonus_amount = money(pending.points);
            out.charged_amount = money(pending.charged);
            out.receipt = super::receipt::receipt(
                &pending.language,
                &step.card_masked,
                pending.points,
                pending.charged,
                cash_currency,
            );
        }
    }
    out
}

/// Confirm's answer.
pub fn confirmed(events: &[Event]) -> pb::ConfirmResponse {
    let mut out = pb::ConfirmResponse::default();
    for e in events {
        if let Event::Confirmed {
            step,
            withdrawn,
            accrued,
            charged,
            ..
        } = e
        {
            out.answer = Some(answer(step, None));
            out.paid_amount = money(*withdrawn);
            out.bonus_amount = money(*accrued);
            out.charged_amount = money(*charged);
        }
    }
    out
}

/// Cancel's answer.
pub fn cancelled(events: &[Event]) -> pb::CancelResponse {
    let mut out = pb::CancelResponse::default();
    for e in events {
        if let Event::Cancelled { step, .. } = e {
            out.answer = Some(answer(step, None));
        }
    }
    out
}

/// One account's balance.
pub fn balance(b: &Balance) -> pb::AccountBalance {
    pb::AccountBalance {
        currency: b.currency.clone(),
        available: money(b.available),
        held: money(b.held),
        pending: money(b.pending),
        next_expiring_amount: money(b.next_expiring),
        next_expiry: b.next_expiry.map(Into::into),
    }
}

/// Refund's answer.
pub fn refunded(events: &[Event]) -> pb::RefundResponse {
    let mut out = pb::RefundResponse::default();
    for e in events {
        if let Event::Refunded { step, totals, .. } = e {
            out.answer = Some(answer(step, None));
            out.returned_points = money(totals.returned_points);
            out.taken_back_points = money(totals.taken_back_points);
            out.uncollected_points = money(totals.uncollected_points);
            out.money_amount = money(totals.money);
            out.debt_points = money(totals.debt_points);
            out.gift_card_amount = money(totals.gift_card_money);
        }
    }
    out
}

/// Seed 003's answer, its message in `language`.
pub fn possible(p: &Possible, language: Language) -> pb::GetPossibleLoyaltyResponse {
    let (code, ru, en) = match p.code {
        PossibleCode::Ok => ("0", "", ""),
        PossibleCode::AccessDenied => ("5", "Доступ запрещён", "Access denied"),
        PossibleCode::OrderNotFound => ("6", "Заказ не найден", "Order not found"),
        PossibleCode::SystemError => ("7", "Системная ошибка", "System error"),
    };
    let ok = p.code == PossibleCode::Ok;
    pb::GetPossibleLoyaltyResponse {
        error_code: code.to_owned(),
        error_message: match language {
            Language::Ru => ru,
            Language::En => en,
        }
        .to_owned(),
        min_amount: if ok { money(p.min) } else { String::new() },
        max_amount: if ok { money(p.max) } else { String::new() },
        service_name: p.service_name.clone(),
    }
}
