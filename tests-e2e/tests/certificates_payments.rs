//! Paying with a certificate over gRPC, the real binary: a purchase holds
//! part of its balance, the confirm captures it, a refund restores part of
//! it, each step repeated changes nothing, another purchase's hold that is
//! cancelled gives its money back, and more than available is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::certificates::v1 as pb;
use tests_e2e::certificates::{issue, start, upload};
use tests_e2e::identity::assert_reason;
use tonic::Code;

fn barcode() -> Option<pb::Identifier> {
    Some(pb::Identifier {
        kind: pb::IdentifierKind::BarCode as i32,
        value: "B-500".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_pays_part_with_a_certificate_and_a_refund_puts_it_back() {
    let data = tempfile::tempdir().unwrap();
    let (_process, mut c) = start(data.path()).await;
    issue(&mut c, "gift", "issue-1").await;
    let file =
        "Number;BarCode;Status;Amount;ExpirationDate\nN-500;B-500;Activated;500;2999-01-01\n";
    c.import_certificates(tokio_stream::iter(upload(
        "job-1",
        "issue-1",
        file,
        1 << 20,
    )))
    .await
    .unwrap();

    let hold = |id: &str, amount: &str| pb::HoldCertificateRequest {
        identifier: barcode(),
        hold_id: id.into(),
        purchase_id: format!("purchase-{id}"),
        amount: amount.into(),
        ttl_secs: 0,
    };
    let held = c
        .hold_certificate(hold("h1", "200"))
        .await
        .unwrap()
        .into_inner();
    let b = held.balance.unwrap();
    assert_eq!(
        (b.amount.as_str(), b.available.as_str()),
        ("500.00", "300.00")
    );
    // Repeated: nothing more held.
    let again = c
        .hold_certificate(hold("h1", "200"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.balance.unwrap().available, "300.00");
    // More than available.
    let refused = c.hold_certificate(hold("h2", "300.01")).await.unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "NOT_ENOUGH_MONEY");

    let capture = pb::CaptureCertificateHoldRequest {
        identifier: barcode(),
        hold_id: "h1".into(),
    };
    let b = c
        .capture_certificate_hold(capture.clone())
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap();
    assert_eq!(
        (b.amount.as_str(), b.available.as_str()),
        ("300.00", "300.00")
    );
    let b = c
        .capture_certificate_hold(capture)
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap();
    assert_eq!(b.amount, "300.00", "captured once");

    // A refund of 50 of the 200 spent, twice: once.
    let restore = pb::RestoreCertificateRequest {
        identifier: barcode(),
        refund_id: "r1".into(),
        hold_id: "h1".into(),
        amount: "50".into(),
    };
    c.restore_certificate(restore.clone()).await.unwrap();
    let b = c
        .restore_certificate(restore)
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap();
    assert_eq!(b.amount, "350.00");

    // Another purchase holds and is cancelled: the money comes back.
    c.hold_certificate(hold("h3", "100")).await.unwrap();
    let b = c
        .release_certificate_hold(pb::ReleaseCertificateHoldRequest {
            identifier: barcode(),
            hold_id: "h3".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap();
    assert_eq!(
        (b.amount.as_str(), b.available.as_str()),
        ("350.00", "350.00")
    );

    // A bad amount names its field; so does a hold longer than 30 days.
    let bad = c.hold_certificate(hold("h4", "-1")).await.unwrap_err();
    tests_e2e::identity::assert_names_field(&bad, "amount");
    let too_long = pb::HoldCertificateRequest {
        ttl_secs: 30 * 24 * 3600 + 1,
        ..hold("h5", "1")
    };
    let bad = c.hold_certificate(too_long).await.unwrap_err();
    tests_e2e::identity::assert_names_field(&bad, "ttl_secs");

    // The certificate's own id (what a purchase keeps) finds it too.
    let by_id = pb::Identifier {
        kind: pb::IdentifierKind::CertificateId as i32,
        value: b.certificate_id.clone(),
    };
    let found = c
        .get_certificate(pb::GetCertificateRequest {
            identifier: Some(by_id.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (found.amount.as_str(), found.available.as_str()),
        ("350.00", "350.00")
    );
    let unknown = c
        .get_certificate(pb::GetCertificateRequest {
            identifier: Some(pb::Identifier {
                value: "number/none".into(),
                ..by_id
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}
