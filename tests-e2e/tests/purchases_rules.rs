//! The program's rules as configuration, with the real binaries: a rules
//! file at the first start decides every cheque; `RulesService.UpdateRules`
//! records a new version that decides cheques from then on, while a cheque
//! dated before it (an offline till replaying) keeps the rules of its day;
//! a stale `expected_version` is refused; a bad file stops the start and
//! names its fields; a single-use coupon serves one purchase at a time, and
//! is freed by a cancel, a timeout, or a Calculate that never finished.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::purchases::v1 as pb;
use loyalty_proto::purchases::v1::rules_service_client::RulesServiceClient;
use tests_e2e::harness::{binary_path, eventually};
use tests_e2e::identity::{DEADLINE, assert_reason};
use tests_e2e::purchases::{member_with_points, seed_cheque, step, world};
use tonic::Code;

async fn payable(w: &tests_e2e::purchases::World, card: &str, op: &str, today: bool) -> String {
    let mut s = step(&format!("rules-{op}"), op, card);
    if today {
        s.as_mut().unwrap().operation_date = Some(chrono::Utc::now().into());
    }
    w.purchases
        .client()
        .calculate(pb::CalculateRequest {
            step: s,
            cheque: seed_cheque("85", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .available_bonus_amount
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_file_and_updates_decide_cheques_by_their_date() {
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("rules.toml");
    std::fs::write(
        &file,
        "# no program discount; a fifth of a line payable with points\n\
         discounts = []\n\
         payment_share_percent = \"20\"\n\
         accrual_percent = \"5\"\n",
    )
    .unwrap();
    let w = world(&["--rules-file", file.to_str().unwrap()]).await;
    let (card, _) = member_with_points(&w, "1000").await;
    // 20 % of 85 (no discount): the file decides even the seed's 2019 cheque.
    assert_eq!(payable(&w, &card, "c1", false).await, "17.00");

    let mut rules = RulesServiceClient::new(
        tonic::transport::Endpoint::from_shared(format!(
            "http://127.0.0.1:{}",
            w.purchases.grpc_port
        ))
        .unwrap()
        .connect_lazy(),
    );
    let got = rules
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.version, 1);
    let mut changed = got.rules.unwrap();
    changed.payment_share_percent = "40".into();
    let update = pb::UpdateRulesRequest {
        request_id: "raise-share".into(),
        operator_id: "marketing-1".into(),
        rules: Some(changed.clone()),
        expected_version: Some(1),
    };
    let v = rules
        .update_rules(update.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version, 2);
    // The same request again: the same answer, no third version.
    assert_eq!(
        rules
            .update_rules(update)
            .await
            .unwrap()
            .into_inner()
            .version,
        2
    );
    // Today's cheque: version 2; the 2019 cheque replayed now: version 1.
    assert_eq!(payable(&w, &card, "c2", true).await, "34.00");
    assert_eq!(payable(&w, &card, "c3", false).await, "17.00");

    changed.payment_share_percent = "60".into();
    let stale = rules
        .update_rules(pb::UpdateRulesRequest {
            request_id: "stale".into(),
            operator_id: "marketing-2".into(),
            rules: Some(changed),
            expected_version: Some(1),
        })
        .await
        .unwrap_err();
    assert_reason(&stale, Code::Aborted, "RULES_VERSION_MISMATCH");
}

#[test]
fn a_bad_rules_file_stops_the_start_and_names_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(
        &file,
        "payment_share_percent = \"150\"\n\
         [[coupons]]\nnumber = \"C\"\npercent = \"5\"\nfixed_amount = \"1\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(binary_path("purchases"))
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .args(["--rules-file", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("payment_share_percent"), "{stderr}");
    assert!(stderr.contains("coupons[0].percent"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_coupon_serves_one_purchase_until_that_one_is_cancelled() {
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("rules.toml");
    std::fs::write(
        &file,
        "discounts = []\n\
         [[coupons]]\nnumber = \"ONCE5\"\npercent = \"5\"\nmulti_use = false\n",
    )
    .unwrap();
    let w = world(&["--rules-file", file.to_str().unwrap()]).await;
    let (card, _) = member_with_points(&w, "10").await;
    let mut p = w.purchases.client();
    let calc = |purchase: &str, op: &str| pb::CalculateRequest {
        step: step(purchase, op, &card),
        cheque: seed_cheque("100", "0", "100"),
        coupons: vec![pb::Coupon {
            number: "ONCE5".into(),
        }],
    };
    let a = p
        .calculate(calc("coupon-a", "a-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.answer.unwrap().cheque.unwrap().total_amount, "95.00");
    // The same purchase may calculate again with it.
    p.calculate(calc("coupon-a", "a-2")).await.unwrap();
    let refused = p.calculate(calc("coupon-b", "b-1")).await.unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "CouponNotValid");
    // Once the first purchase is cancelled, the coupon serves another.
    p.cancel(pb::CancelRequest {
        step: step("coupon-a", "a-cancel", ""),
        ..Default::default()
    })
    .await
    .unwrap();
    let b = p
        .calculate(calc("coupon-b", "b-2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.answer.unwrap().cheque.unwrap().total_amount, "95.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coupon_taken_by_a_calculate_that_never_finished_is_free_after_the_timeout() {
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("rules.toml");
    std::fs::write(
        &file,
        "discounts = []\n\
         [[coupons]]\nnumber = \"ONCE7\"\npercent = \"7\"\nmulti_use = false\n",
    )
    .unwrap();
    let mut w = world(&[
        "--rules-file",
        file.to_str().unwrap(),
        "--confirm-timeout-secs",
        "1",
    ])
    .await;
    let (card, _) = member_with_points(&w, "10").await;
    let calc = |purchase: &str, op: &str| pb::CalculateRequest {
        step: step(purchase, op, &card),
        cheque: seed_cheque("100", "0", "100"),
        coupons: vec![pb::Coupon {
            number: "ONCE7".into(),
        }],
    };
    // The ledger is down: the Calculate takes the coupon, then fails asking
    // for the balance, and records nothing (its purchase never opens, so
    // no sweep will ever cancel it).
    w.ledger.process.kill9();
    let mut p = w.purchases.client();
    let failed = p.calculate(calc("lost-x", "x-1")).await.unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
    w.ledger.process.restart().await.unwrap();
    // The coupon is not free at once (the till may still retry) ...
    let refused = p.calculate(calc("lost-y", "y-0")).await.unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "CouponNotValid");
    // ... but once the confirm timeout has passed, another purchase takes it.
    let attempt = std::sync::atomic::AtomicU32::new(1);
    let y = eventually(DEADLINE, "the coupon is freed", || async {
        let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut p = w.purchases.client();
        match p.calculate(calc("lost-y", &format!("y-{n}"))).await {
            Ok(r) => Some(r.into_inner()),
            Err(e) => {
                assert_reason(&e, Code::FailedPrecondition, "CouponNotValid");
                None
            }
        }
    })
    .await;
    assert_eq!(y.answer.unwrap().cheque.unwrap().total_amount, "93.00");
}
