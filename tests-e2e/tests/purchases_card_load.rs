//! Seed 002 through the purchases service: a cheque with the card-load
//! article (EAN 4260447149502) loads the card's cash on Confirm, the Bonus
//! answer carries the receipt lines, and the `communications` block makes
//! identity send the card-load e-mail (requested on
//! `loyalty.purchases.message_requested`) exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::ledger::v1 as lpb;
use loyalty_proto::purchases::v1 as pb;
use tests_e2e::identity_messaging::{
    CHARGE_TEMPLATE_ID, charge_template, define, register_with_email, wait_template_mails,
};
use tests_e2e::purchases::{pay, step, world};

fn line(position: u32, amount: &str, ean: &str, name: &str) -> pb::ChequeLine {
    pb::ChequeLine {
        position,
        amount: amount.into(),
        barcode: ean.into(),
        quantity: "1".into(),
        price: amount.into(),
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_load_tops_up_cash_prints_its_receipt_and_sends_the_e_mail_once() {
    let w = world(&[]).await;
    let m = register_with_email(&w.identity, "Max", "Mustermann", "max123@example.org").await;
    define(&w.identity, charge_template()).await;
    let mut p = w.purchases.client();
    let cheque = Some(pb::Cheque {
        number: "STX_W28QKGS8H2X07TF64EDJ8DZEJN9RA2".into(),
        date: None,
        lines: vec![
            line(1, "59", "30200", "Dining service Puslnitz, 26 pieces"),
            line(2, "20", "4260447149502", "Kartenaufladung 20 EUR"),
        ],
    });
    let bonus = p
        .bonus(pb::BonusRequest {
            step: step("load-1", "load-1-bonus", &m.card),
            cheque,
            coupons: vec![],
            pays: vec![pay("Card", "79")],
            communications: Some(pb::Communications {
                action_type: "charge".into(),
                template_id: CHARGE_TEMPLATE_ID.into(),
            }),
            language: "de".into(),
        })
        .await
        .unwrap()
        .into_inner();
    // 10 points per 100 of the 79 paid: the seed's "Bonus: 7,90".
    assert_eq!(
        (bonus.bonus_amount.as_str(), bonus.charged_amount.as_str()),
        ("7.90", "20.00")
    );
    let texts: Vec<String> = bonus
        .receipt
        .iter()
        .map(|l| format!("{}{}{}", l.caption, l.name, l.text))
        .collect();
    assert!(
        texts.contains(&"Kundenkarte Aufladung".to_owned()),
        "{texts:?}"
    );
    assert!(texts.contains(&"20,00 RUB".to_owned()), "{texts:?}");
    assert!(texts.contains(&"7,90".to_owned()), "{texts:?}");
    assert!(
        bonus.receipt.iter().all(|l| !l.value.contains(&m.card)),
        "the receipt shows the card masked"
    );

    p.confirm(pb::ConfirmRequest {
        step: step("load-1", "load-1-confirm", ""),
    })
    .await
    .unwrap();
    let cash = w
        .ledger
        .client()
        .get_balance(lpb::GetBalanceRequest {
            member_id: m.member_id.clone(),
            currency: "RUB".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .accounts
        .remove(0);
    assert_eq!(cash.available, "20.00");

    let mails = wait_template_mails(&w.identity, &m.email, 1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].body.contains("20,00"), "{}", mails[0].body);
    assert!(
        mails[0].body.contains("Kartenaufladung 20 EUR"),
        "{}",
        mails[0].body
    );
    // Confirming again answers the first answer and sends nothing more.
    p.confirm(pb::ConfirmRequest {
        step: step("load-1", "load-1-confirm", ""),
    })
    .await
    .unwrap();
    assert_eq!(
        tests_e2e::identity_messaging::template_mails(&w.identity, &m.email).len(),
        1
    );
}
