//! A purchase paid partly with a gift certificate, the real binaries
//! (identity, ledger, certificates, purchases): Bonus holds the
//! certificate's part, Confirm spends it, refunds put the money back onto
//! the certificate first and never beyond what it paid, Cancel gives a hold
//! back, and a certificate with too little money refuses the step with
//! nothing held.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::certificates::v1 as cpb;
use loyalty_proto::certificates::v1::certificates_service_client::CertificatesServiceClient;
use loyalty_proto::ledger::v1 as lpb;
use loyalty_proto::purchases::v1 as pb;
use tests_e2e::certificates::{issue, issue_in, start, upload};
use tests_e2e::identity::assert_reason;
use tests_e2e::purchases::{World, cheque, line, member_with_points, pay, refund, step, world};
use tonic::Code;
use tonic::transport::Channel;

/// The certificate's (balance, available).
async fn money(c: &mut CertificatesServiceClient<Channel>) -> (String, String) {
    let got = c
        .get_certificate(cpb::GetCertificateRequest {
            identifier: Some(cpb::Identifier {
                kind: cpb::IdentifierKind::Number as i32,
                value: "N-1000".into(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    (got.amount, got.available)
}

fn gift(amount: &str) -> pb::Pay {
    pb::Pay {
        r#type: "GiftCard".into(),
        amount: amount.into(),
        details: "N-1000".into(),
        certificate: None,
    }
}

async fn setup() -> (
    World,
    CertificatesServiceClient<Channel>,
    tests_e2e::harness::ServiceProcess,
    tempfile::TempDir,
) {
    let data = tempfile::tempdir().unwrap();
    let (process, mut c) = start(data.path()).await;
    issue(&mut c, "gift", "issue-1").await;
    let file = "Number;Status;Amount;ExpirationDate\nN-1000;Activated;1000;2999-01-01\n";
    c.import_certificates(tokio_stream::iter(upload(
        "job-1",
        "issue-1",
        file,
        1 << 20,
    )))
    .await
    .unwrap();
    // A certificate in another currency than the program's cheques.
    issue_in(&mut c, "usd", "issue-usd", "USD").await;
    let file = "Number;Status;Amount;ExpirationDate\nN-USD;Activated;1000;2999-01-01\n";
    c.import_certificates(tokio_stream::iter(upload(
        "job-usd",
        "issue-usd",
        file,
        1 << 20,
    )))
    .await
    .unwrap();
    let port = process.spec().grpc_port.expect("started with a gRPC port");
    let url = format!("http://127.0.0.1:{port}");
    let w = world(&["--certificates-url", &url]).await;
    (w, c, process, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_paid_partly_with_a_certificate_then_refunded_leaves_its_balance_right() {
    let (w, mut c, _process, _data) = setup().await;
    let (card, member) = member_with_points(&w, "100").await;
    let mut p = w.purchases.client();
    // 3 × 20 and 1 × 40: 100, of which the certificate pays 70.
    let lines = vec![line(1, "60", "3", "20"), line(2, "40", "1", "40")];
    let bonus = p
        .bonus(pb::BonusRequest {
            step: step("gc-1", "gc-1-bonus", &card),
            cheque: cheque(lines.clone()),
            pays: vec![pay("Card", "30"), gift("70")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(bonus.answer.is_some());
    assert_eq!(money(&mut c).await, ("1000.00".into(), "930.00".into()));
    p.confirm(pb::ConfirmRequest {
        step: step("gc-1", "gc-1-confirm", ""),
    })
    .await
    .unwrap();
    assert_eq!(money(&mut c).await, ("930.00".into(), "930.00".into()));
    // The member's history shows the certificate's part on the purchase's
    // row: a GiftCard withdrawal, the number masked.
    let history = w.ledger.history(&member).await;
    let gift_cards: Vec<(&str, &str, &str)> = history
        .iter()
        .filter(|r| r.r#type == lpb::HistoryRowType::Purchase as i32)
        .flat_map(|r| &r.withdraws)
        .filter(|w| w.withdraw_type == lpb::WithdrawType::GiftCard as i32)
        .map(|w| {
            (
                w.amount.as_str(),
                w.currency.as_str(),
                w.description.as_str(),
            )
        })
        .collect();
    assert_eq!(gift_cards, [("-70.00", "RUB", "Gift certificate …1000")]);

    // Line 2 back: its 40 go onto the certificate.
    let r1 = p
        .refund(refund("gc-1", "gc-1-r1", &[(2, "1")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r1.money_amount.as_str(), r1.gift_card_amount.as_str()),
        ("40.00", "40.00")
    );
    assert_eq!(money(&mut c).await.0, "970.00");
    // The same refund again: the first answer, nothing more restored.
    let again = p
        .refund(refund("gc-1", "gc-1-r1", &[(2, "1")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, r1);
    assert_eq!(money(&mut c).await.0, "970.00");
    // The rest: 60 of money, of which 30 is what the certificate paid and
    // has not got back; the other 30 is the card's, for the till.
    let r2 = p
        .refund(refund("gc-1", "gc-1-r2", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r2.money_amount.as_str(), r2.gift_card_amount.as_str()),
        ("60.00", "30.00")
    );
    assert_eq!(money(&mut c).await, ("1000.00".into(), "1000.00".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_money_refuses_the_step_and_a_cancel_gives_the_hold_back() {
    let (w, mut c, _process, _data) = setup().await;
    let (card, _) = member_with_points(&w, "100").await;
    let mut p = w.purchases.client();
    let lines = vec![line(1, "2000", "1", "2000")];
    let refused = p
        .bonus(pb::BonusRequest {
            step: step("gc-2", "gc-2-bonus", &card),
            cheque: cheque(lines),
            pays: vec![gift("2000")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    let m = assert_reason(&refused, Code::FailedPrecondition, "NotEnoughMoney");
    assert_eq!(m.get("available").map(String::as_str), Some("1000.00"));
    assert!(
        !refused.message().contains("N-1000"),
        "{}",
        refused.message()
    );
    assert_eq!(money(&mut c).await, ("1000.00".into(), "1000.00".into()));

    // An unknown certificate: GiftCardNotValid, its number not quoted.
    let unknown = p
        .bonus(pb::BonusRequest {
            step: step("gc-4", "gc-4-bonus", &card),
            cheque: cheque(vec![line(1, "10", "1", "10")]),
            pays: vec![pb::Pay {
                details: "NO-SUCH-CERTIFICATE".into(),
                ..gift("10")
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_reason(&unknown, Code::FailedPrecondition, "GiftCardNotValid");
    assert!(!unknown.message().contains("NO-SUCH-CERTIFICATE"));

    // A USD certificate does not pay a RUB cheque; its hold goes back.
    let usd = p
        .bonus(pb::BonusRequest {
            step: step("gc-5", "gc-5-bonus", &card),
            cheque: cheque(vec![line(1, "10", "1", "10")]),
            pays: vec![pb::Pay {
                details: "N-USD".into(),
                ..gift("10")
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_reason(&usd, Code::FailedPrecondition, "GiftCardNotValid");
    assert!(usd.message().contains("USD"), "{}", usd.message());
    let got = c
        .get_certificate(cpb::GetCertificateRequest {
            identifier: Some(cpb::Identifier {
                kind: cpb::IdentifierKind::Number as i32,
                value: "N-USD".into(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.amount.as_str(), got.available.as_str()),
        ("1000.00", "1000.00")
    );

    let lines = vec![line(1, "50", "1", "50")];
    p.bonus(pb::BonusRequest {
        step: step("gc-3", "gc-3-bonus", &card),
        cheque: cheque(lines),
        pays: vec![gift("50")],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(money(&mut c).await, ("1000.00".into(), "950.00".into()));
    p.cancel(pb::CancelRequest {
        step: step("gc-3", "gc-3-cancel", ""),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(money(&mut c).await, ("1000.00".into(), "1000.00".into()));
}
