//! Round trips of every purchases event through its message and JSON.

use super::*;
use crate::domain::calc::{Calculation, LineResult};
use crate::domain::cheque::{Cheque, Line};
use crate::domain::purchase::{Device, StepRef};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;

#[test]
fn every_event_round_trips_and_names_its_type() {
    let at = Utc.with_ymd_and_hms(2019, 4, 9, 7, 24, 26).unwrap();
    let step = StepRef {
        purchase_id: "P".into(),
        operation_id: "op".into(),
        member_id: "m".into(),
        card_masked: "123456******7890".into(),
        operation_date: Some(at),
        device: Device {
            partner_id: "pa".into(),
            location_id: "lo".into(),
            device_id: "de".into(),
            cashier: "ca".into(),
        },
    };
    let cheque = Cheque {
        number: "7".into(),
        date: Some(at),
        lines: vec![Line {
            position: 1,
            amount: Decimal::new(8500, 2),
            goods_id: "0036961".into(),
            barcode: "8765653477".into(),
            quantity: Decimal::ONE,
            discount: Decimal::new(15, 0),
            price: Some(Decimal::ONE_HUNDRED),
            name: "Товар100".into(),
            group: "g".into(),
        }],
    };
    let calc = Calculation {
        lines: vec![LineResult {
            position: 1,
            amount: Decimal::new(765, 1),
            discount: Decimal::new(235, 1),
            payable: Decimal::new(3825, 2),
            paid: Decimal::new(365, 1),
            earned: Decimal::new(400, 2),
            card_load: true,
            barcode: "8765653477".into(),
            goods_id: "0036961".into(),
            quantity: Decimal::ONE,
            name: "Товар100".into(),
        }],
        total_amount: Decimal::new(765, 1),
        total_discount: Decimal::new(235, 1),
        payable: Decimal::new(3825, 2),
        earned: Decimal::new(400, 2),
        charged: Decimal::new(20, 0),
    };
    let events = vec![
        Event::Calculated {
            step: step.clone(),
            cheque: cheque.clone(),
            calc: calc.clone(),
            available: Decimal::new(3825, 2),
            coupons: vec!["C".into()],
        },
        Event::Paid {
            step: step.clone(),
            payment: Payment {
                points: Decimal::new(365, 1),
                hold_id: "h".into(),
            },
            calc: calc.clone(),
        },
        Event::BonusCalculated {
            step: step.clone(),
            cheque,
            calc: calc.clone(),
            pending: Pending {
                points: Decimal::new(4, 0),
                charged: Decimal::new(20, 0),
                accrual_operation_id: "a".into(),
                charge_operation_id: "c".into(),
                template_id: "ETP_6RYLPEWO8O2UPZV83C095P7IQ4GAL1".into(),
                article_description: "Kartenaufladung 20 EUR".into(),
                language: "de".into(),
                gift_cards: vec![crate::domain::giftcard::GiftCardPay {
                    certificate_id: "number/7770002105606220001".into(),
                    masked: "777000*********0001".into(),
                    amount: Decimal::new(2050, 2),
                    hold_id: "pur.0123.giftcard.0".into(),
                    lapses_at: Some(at),
                }],
            },
        },
        Event::Confirmed {
            step: step.clone(),
            cheque_number: "7".into(),
            calc,
            withdrawn: Decimal::new(365, 1),
            accrued: Decimal::new(4, 0),
            charged: Decimal::new(20, 0),
            gift_cards: Decimal::new(2050, 2),
        },
        // The message carries the purchase and the member; the rest of its
        // step is the Confirm's, recorded just before it.
        Event::MessageRequested {
            step: StepRef {
                member_id: "m".into(),
                ..StepRef::default()
            },
            message: crate::domain::purchase::MessageRequest {
                request_id: "pur.0123.message.card-load".into(),
                template_id: "ETP_6RYLPEWO8O2UPZV83C095P7IQ4GAL1".into(),
                values: [("amount".to_owned(), "20,00".to_owned())].into(),
            },
        },
        Event::Cancelled {
            step: step.clone(),
            released: Decimal::ONE,
            dropped: Decimal::TWO,
            gift_cards: Decimal::new(2050, 2),
        },
        Event::TimedOut {
            step: step.clone(),
            deadline: at,
            gift_cards: Decimal::ONE,
        },
        Event::Refunded {
            step,
            lines: vec![RefundShare {
                position: 1,
                quantity: Decimal::ONE,
                money: Decimal::new(765, 1),
                returned_points: Decimal::new(365, 1),
                taken_back_points: Decimal::new(4, 0),
            }],
            totals: RefundTotals {
                returned_points: Decimal::new(365, 1),
                taken_back_points: Decimal::new(3, 0),
                uncollected_points: Decimal::ONE,
                debt_points: Decimal::TWO,
                money: Decimal::new(765, 1),
                gift_card_money: Decimal::new(2050, 2),
            },
        },
    ];
    let codec = json_codec();
    for e in events {
        let event_type = DomainEvent::event_type(&e);
        let payload = DomainEvent::encode(&e);
        let back = <Event as DomainEvent>::decode(event_type, &payload);
        assert_eq!(back.as_ref().ok(), Some(&e), "{event_type}");
        let json = kit::outbox::EventCodec::to_json(&codec, event_type, &payload);
        assert!(json.is_ok(), "{event_type}");
    }
    assert!(<Event as DomainEvent>::decode("loyalty.purchases.v1.Unknown", b"").is_err());
}
