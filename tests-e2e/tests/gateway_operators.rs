//! Operators over HTTP through the real gateway: the seed-001 batch of
//! balance changes applied through the real ledger (members resolved by
//! the real identity), answered with seed 004's report as JSON in the
//! envelope or as CSV; CSV bodies; a broken body applies nothing; only an
//! operator's key may.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use serde_json::json;
use tests_e2e::certificates::{FIRST, UPDATE};
use tests_e2e::gateway::{DEVICE_KEY, Gateway, OPERATOR_KEY};
use tests_e2e::purchases::{bonus_balance, member_with_points, world};

const BATCH: &str = "/api/v1/Batch/BalanceChanges";

fn seed_line(member_no: &str, points: &str) -> serde_json::Value {
    let points = tests_e2e::gateway::number(points);
    json!({
        "memberNo": member_no,
        "Description": "string",
        "operationDate": "2013-08-14 12:26:14",
        "merchantName": " merchantName",
        "transactionAmount": tests_e2e::gateway::number("152246.54"),
        "pointsAmount": points
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_batch_is_applied_and_reported_as_seed_004() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let (card, member) = member_with_points(&w, "10").await;
    let request_id = format!("batch-{}", uuid::Uuid::new_v4());
    // The seed's field order: the header before `accrue` (the body is
    // streamed to the ledger line by line).
    let body = format!(
        "{{\"requestId\": \"{request_id}\", \"type\": 2, \"accrueDescription\": \"string\", \"accrue\": [{}, {}]}}",
        seed_line(&card, "1522.46"),
        seed_line("0000000000000", "5")
    );
    let json_body = |path: &str, headers: &'static [(&'static str, &'static str)]| {
        let (g, body) = (&g, body.clone());
        let path = path.to_owned();
        async move { g.post_raw(&path, "application/json", &body, headers).await }
    };
    const OPERATOR: &[(&str, &str)] = &[("x-api-key", OPERATOR_KEY)];

    // JSON in, seed 004's JSON report in the envelope: one line applied,
    // the unknown member reported at its line.
    let report = json_body(BATCH, OPERATOR).await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.json["result"]["state"], "Success", "{}", report.text);
    let text = report.json["data"].to_string();
    assert!(text.contains(&request_id), "{text}");
    assert_eq!(bonus_balance(&w, &member).await.available, "1532.46");

    // The same batch again: the first report, nothing applied twice; as
    // seed 004's CSV this time.
    let csv = json_body(&format!("{BATCH}?format=csv"), OPERATOR).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("0;{request_id};")),
        "{}",
        csv.text
    );
    assert_eq!(lines[1], format!("errors;{request_id};1"), "{}", csv.text);
    assert!(lines[2].starts_with("errorAtLine;2;"), "{}", csv.text);
    assert_eq!(bonus_balance(&w, &member).await.available, "1532.46");

    // A CSV body, its header in the query, the CSV report by Accept.
    let csv_id = format!("csv-{}", uuid::Uuid::new_v4());
    let file = format!(
        "memberNo,Description,operationDate,merchantName,transactionAmount,pointsAmount\n{card},welcome,2013-08-14 12:26:14,shop,100,7.54\n"
    );
    let from_csv = g
        .post_raw(
            &format!("{BATCH}?requestId={csv_id}&type=4&accrueDescription=manual"),
            "text/csv",
            &file,
            &[("x-api-key", OPERATOR_KEY), ("accept", "text/csv")],
        )
        .await;
    assert_eq!(from_csv.status, 200, "{}", from_csv.text);
    assert_eq!(
        from_csv.text.lines().nth(1),
        Some(format!("errors;{csv_id};0").as_str()),
        "{}",
        from_csv.text
    );
    assert_eq!(bonus_balance(&w, &member).await.available, "1540.00");

    // A body that breaks off: nothing applied, the upload refused.
    let broken = g
        .post_raw(
            BATCH,
            "application/json",
            &format!(
                "{{\"requestId\": \"broken-1\", \"type\": 2, \"accrue\": [{}, {{\"memberNo\": ",
                seed_line(&card, "1")
            ),
            OPERATOR,
        )
        .await;
    assert_eq!(broken.status, 400, "{}", broken.text);
    assert_eq!(broken.json["result"]["state"], "ValidationError");
    assert_eq!(bonus_balance(&w, &member).await.available, "1540.00");

    // Only an operator's key.
    let device = json_body(BATCH, &[("x-api-key", DEVICE_KEY)]).await;
    assert_eq!(device.status, 403, "{}", device.text);
    assert_eq!(json_body(BATCH, &[]).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_certificate_files_are_imported_and_found_over_http() {
    let w = world(&[]).await;
    let data = tempfile::tempdir().unwrap();
    let (certificates, _) = tests_e2e::certificates::start(data.path()).await;
    let g = Gateway::start_with(
        &w,
        &format!("http://127.0.0.1:{}", certificates_port(&certificates)),
    )
    .await;
    let op = [("x-api-key", OPERATOR_KEY)];
    let ok = |a: &tests_e2e::gateway::Answer| {
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.json["result"]["state"], "Success", "{}", a.text);
    };
    ok(&g
        .post_with(
            "/api/v1/Certificates/Types",
            &json!({"typeId": "gift", "name": "Gift certificate", "oneTime": false, "currency": "RUB"}),
            &op,
        )
        .await);
    ok(&g
        .post_with(
            "/api/v1/Certificates/Templates",
            &json!({"templateId": "tpl-gift", "name": "Printed", "typeId": "gift"}),
            &op,
        )
        .await);
    ok(&g
        .post_with(
            "/api/v1/Certificates/Issues",
            &json!({"issueId": "issue-1", "typeId": "gift", "templateId": "tpl-gift"}),
            &op,
        )
        .await);

    // Seed 000's first file: four certificates, seed 004's report.
    let import = "/api/v1/Certificates/Import?issueId=issue-1";
    let first = g
        .post_raw(&format!("{import}&importId=job-1"), "text/csv", FIRST, &op)
        .await;
    ok(&first);
    assert_eq!(first.json["data"]["code"], 0, "{}", first.text);
    assert_eq!(first.json["data"]["import"]["created"], 4, "{}", first.text);
    // The job's report by its id, as seed 004's CSV.
    let again = g
        .get_with("/api/v1/Certificates/Imports/job-1?format=csv", &op)
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(again.text.starts_with("0;job-1;"), "{}", again.text);
    assert_eq!(again.text.lines().nth(1), Some("errors;job-1;0"));
    // The update file: …0002 redeemed.
    let update = g
        .post_raw(&format!("{import}&importId=job-2"), "text/csv", UPDATE, &op)
        .await;
    ok(&update);
    assert_eq!(
        update.json["data"]["import"]["updated"], 2,
        "{}",
        update.text
    );
    let found = g
        .post_with(
            "/api/v1/Certificates/Find",
            &json!({"type": "Number", "value": "7770002105606220002"}),
            &op,
        )
        .await;
    ok(&found);
    assert_eq!(found.json["data"]["status"], "Redeemed", "{}", found.text);
    let by_strip = g
        .post_with(
            "/api/v1/Certificates/Find",
            &json!({"type": "Strip2", "value": "7770002105606227847=26067229740000001"}),
            &op,
        )
        .await;
    assert_eq!(
        by_strip.json["data"]["amount"],
        json!(555),
        "{}",
        by_strip.text
    );
    assert_eq!(by_strip.json["data"]["status"], "Activated");
    let unknown = g
        .post_with(
            "/api/v1/Certificates/Find",
            &json!({"type": "Number", "value": "1"}),
            &op,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    // Only operators.
    let device = g
        .post_with(
            "/api/v1/Certificates/Find",
            &json!({"type": "Number", "value": "7770002105606220002"}),
            &[("x-api-key", DEVICE_KEY)],
        )
        .await;
    assert_eq!(device.status, 403);
}

/// The gRPC port `certificates` was started on (from its spec's args).
fn certificates_port(p: &tests_e2e::harness::ServiceProcess) -> u16 {
    let args = &p.spec().args;
    let i = args.iter().position(|a| a == "--grpc-addr").unwrap();
    args[i + 1].rsplit(':').next().unwrap().parse().unwrap()
}
