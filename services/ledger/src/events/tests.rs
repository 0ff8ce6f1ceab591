//! Round trips of every ledger event through its message and JSON.

use super::*;
use chrono::TimeZone;

#[test]
fn every_event_round_trips_and_names_its_type() {
    let key = AccountKey {
        member_id: "m".into(),
        currency: "BONUS".into(),
    };
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let draw = Draw {
        bucket_id: 1,
        amount: Decimal::new(1050, 2),
        expires_at: Some(at),
    };
    let after = Balances {
        available: Decimal::new(5, 0),
        held: Decimal::new(1, 0),
    };
    // Every field set: the conversion to and from the message keeps all.
    let context = Context {
        description: "d".into(),
        reason: "r".into(),
        card_id: "c".into(),
        partner_id: "p".into(),
        brand_id: "b".into(),
        location_id: "l".into(),
        merchant_name: "m".into(),
        purchase_id: "pu".into(),
        batch_id: "ba".into(),
        operation_time: Some(at),
        transaction_amount: "1.5".into(),
        cheque_number: "42".into(),
        purchase_amount: Some(crate::domain::model::GivenMoney {
            amount: "9".into(),
            currency: "RUB".into(),
        }),
        operator_id: "op".into(),
    };
    let events = vec![
        Event::Opened {
            key: key.clone(),
            card_id: "***1234".into(),
            opened_at: at,
            source_event_id: "ev-1".into(),
        },
        Event::Accrued {
            key: key.clone(),
            operation_id: "a".into(),
            amount: Decimal::new(1050, 2),
            // 1.50 of it paid debt: the bucket holds the rest.
            bucket: Bucket {
                id: 1,
                amount: Decimal::new(900, 2),
                expires_at: Some(at),
                lifetime: "365d".into(),
            },
            kind: crate::domain::model::Kind::Manual,
            reward_type: crate::domain::model::RewardType::Gift,
            context: context.clone(),
            after,
            debt_repaid: Decimal::new(150, 2),
        },
        Event::Withdrawn {
            key: key.clone(),
            operation_id: "w".into(),
            amount: Decimal::new(3, 0),
            draws: vec![draw.clone()],
            kind: crate::domain::model::Kind::Regular,
            withdraw_type: crate::domain::model::WithdrawType::GiftCard,
            context: context.clone(),
            after,
        },
        Event::Held {
            key: key.clone(),
            hold_id: "h".into(),
            amount: Decimal::new(1, 0),
            draws: vec![draw.clone()],
            context: context.clone(),
            after,
            expires_at: Some(at),
        },
        Event::Captured {
            key: key.clone(),
            hold_id: "h".into(),
            operation_id: "c".into(),
            amount: Decimal::new(1, 0),
            captured: vec![draw.clone()],
            returned: vec![],
            context: context.clone(),
            after,
        },
        Event::Released {
            key: key.clone(),
            hold_id: "h2".into(),
            operation_id: "rel".into(),
            amount: Decimal::new(1, 0),
            returned: vec![draw.clone()],
            context: context.clone(),
            after,
        },
        Event::HoldExpired {
            key: key.clone(),
            hold_id: "h3".into(),
            amount: Decimal::new(1, 0),
            returned: vec![draw.clone()],
            expired_at: at,
            after,
        },
        Event::Refunded {
            key: key.clone(),
            operation_id: "r".into(),
            original_operation_id: "w".into(),
            amount: Decimal::new(2, 0),
            uncollected: Decimal::new(1, 0),
            draws: vec![draw],
            credit: true,
            context: context.clone(),
            after,
            debt: Decimal::new(3, 0),
        },
        Event::PendingAccrued {
            key: key.clone(),
            pending: crate::domain::model::Pending {
                operation_id: "pa".into(),
                amount: Decimal::new(250, 2),
                expires_at: Some(at),
                lifetime: "365d".into(),
                kind: crate::domain::model::Kind::Charging,
                reward_type: crate::domain::model::RewardType::Charging,
                context: context.clone(),
                lapses_at: at,
            },
            after,
        },
        Event::PendingDropped {
            key: key.clone(),
            operation_id: "pa".into(),
            purchase_id: "pu".into(),
            amount: Decimal::new(250, 2),
            after,
        },
        Event::PurchaseConfirmed {
            key: key.clone(),
            operation_id: "co".into(),
            purchase_id: "pu".into(),
            captured: Decimal::new(365, 1),
            accrued: Decimal::new(2, 0),
            context: context.clone(),
            items: vec![crate::domain::account::ChequeItem {
                description: "Товар100".into(),
                count: Decimal::new(15, 1),
                amount: Decimal::new(7650, 2),
            }],
            tenders: vec![crate::domain::account::Tender {
                withdraw_type: crate::domain::model::WithdrawType::GiftCard,
                amount: Decimal::new(7000, 2),
                currency: "RUB".into(),
                description: "Gift certificate **1000".into(),
                reference: "pur.1.giftcard.2.0".into(),
            }],
            after,
        },
        Event::PurchaseCancelled {
            key: key.clone(),
            operation_id: "ca".into(),
            purchase_id: "pu".into(),
            released: Decimal::new(4, 0),
            dropped: Decimal::new(1, 0),
            context,
            after,
        },
        Event::Expired {
            key,
            bucket_id: 1,
            amount: Decimal::new(1, 0),
            expired_at: at,
            after,
        },
    ];
    let codec = json_codec();
    for e in events {
        let (event_type, payload) = encode(&e);
        assert_eq!(DomainEvent::event_type(&e), event_type);
        assert_eq!(decode(event_type, &payload).unwrap(), e);
        let json: serde_json::Value = serde_json::from_slice(
            &kit::outbox::EventCodec::to_json(&codec, event_type, &payload).unwrap(),
        )
        .unwrap();
        assert_eq!(json["account"]["memberId"], "m", "{event_type}");
    }
    assert!(decode("loyalty.ledger.v1.Unknown", b"").is_err());
    assert!(decode(types::ACCRUED, b"\xff\xff").is_err());
}
