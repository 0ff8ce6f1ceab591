//! The gateway against its own OpenAPI description: schemathesis (PyPI,
//! pinned and installed by `scripts/lib.sh ensure_schemathesis`, found
//! through `SCHEMATHESIS_BIN`) reads `/openapi.json` from the real gateway in
//! front of the real identity, ledger and purchases binaries and sends
//! generated requests, valid and invalid, to every operation as the partner
//! device. No answer may be a 5xx (`not_a_server_error`), every answer's
//! status must be described (`status_code_conformance`; the envelope's
//! `default` answer covers the status table's errors) and every answer must
//! match the schema described for its status (`response_schema_conformance`).
//!
//! What is left out, and why:
//! - the `/publicapi/v1.2/…` copies of the `/api/v1/…` operations: the same
//!   handlers and the same schemas (the description is copied, see
//!   `openapi.rs`), fuzzing them twice doubles the time and finds nothing
//!   new; that the gateway serves every described path and method, copies
//!   included, is checked first, one request each;
//! - `/webservices/merchant/loyalty`: seed 003's SOAP service at the payment
//!   gateway's own path, the same handler as `Processing/getPossibleLoyalty`;
//! - SOAP's answer to a malformed envelope: a `soap:Client` Fault with HTTP
//!   500, as SOAP 1.1 requires; `tests-e2e/schemathesis/hooks.py` accepts
//!   exactly that answer to a `text/xml` request (any other 5xx still fails).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::time::{Duration, Instant};

use serde_json::json;
use tests_e2e::gateway::{DEVICE_KEY, Gateway};
use tests_e2e::purchases::world;

/// Generated cases per operation and phase (the coverage phase adds its
/// own boundary cases): enough to reach every field, and the whole run stays
/// well under two minutes.
const MAX_EXAMPLES: &str = "10";
/// A fixed seed: a failure is reproduced by running the test again.
const SEED: &str = "20240601";
/// The run is killed, and the test fails, after this long.
const DEADLINE: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_no_server_error_and_matches_the_openapi_description() {
    let bin = std::env::var_os("SCHEMATHESIS_BIN").unwrap_or_else(|| {
        panic!(
            "SCHEMATHESIS_BIN is not set: this test runs schemathesis against the gateway. \
             Run `scripts/lib.sh ensure_schemathesis` and export SCHEMATHESIS_BIN as the path \
             it prints (scripts/test.sh does both)"
        )
    });
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/schemathesis/hooks.py");
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    every_described_operation_is_served(&g).await;
    // Run in a directory of the test's own: no schemathesis.toml is picked
    // up from around it, and nothing is written into the repository.
    let cwd = tempfile::tempdir().unwrap();
    let args = [
        "--no-color".to_owned(),
        "run".to_owned(),
        format!("{}/openapi.json", g.base),
        "--checks".to_owned(),
        "not_a_server_error,status_code_conformance,response_schema_conformance".to_owned(),
        "--max-examples".to_owned(),
        MAX_EXAMPLES.to_owned(),
        "--seed".to_owned(),
        SEED.to_owned(),
        "--workers".to_owned(),
        "1".to_owned(),
        "--header".to_owned(),
        format!("X-Api-Key: {DEVICE_KEY}"),
        "--exclude-path-regex".to_owned(),
        "^/publicapi/".to_owned(),
        "--exclude-path".to_owned(),
        "/webservices/merchant/loyalty".to_owned(),
        "--generation-database".to_owned(),
        "none".to_owned(),
        "--request-timeout".to_owned(),
        "20".to_owned(),
    ];
    let started = Instant::now();
    let run = tokio::process::Command::new(&bin)
        .args(&args)
        .env("SCHEMATHESIS_HOOKS", hooks)
        .current_dir(cwd.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("schemathesis still running after {DEADLINE:?}: killed"))
        .unwrap_or_else(|e| panic!("cannot run SCHEMATHESIS_BIN={}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis {} failed ({}) after {:?}:\n{stdout}\n{stderr}",
        args.join(" "),
        out.status,
        started.elapsed()
    );
    println!("schemathesis passed in {:?}:\n{stdout}", started.elapsed());
}

/// One request to every path and method of `/openapi.json` (the
/// `/publicapi/v1.2/` copies too): none may reach the router's fallback
/// ("no such path") nor be refused as a method the path does not have.
async fn every_described_operation_is_served(g: &Gateway) {
    let doc = g.get("/openapi.json").await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let paths = doc.json["paths"].as_object().expect("paths");
    assert!(paths.len() > 50, "{} paths", paths.len());
    let key = [("x-api-key", DEVICE_KEY)];
    for (path, item) in paths {
        let url = path.replace("{purchaseId}", "schema-probe");
        for method in item.as_object().expect("path item").keys() {
            let a = match method.as_str() {
                "get" => g.get_with(&url, &key).await,
                "post" => g.post_with(&url, &json!({}), &key).await,
                "put" => g.put_with(&url, &key).await,
                other => panic!("{other} {path}: a method the probe does not send"),
            };
            let unrouted = a.json["result"]["messageCode"] == "NotFound"
                && a.text.contains("no such path")
                || a.status == 405;
            assert!(
                !unrouted,
                "{method} {path} is described but not served: {} {}",
                a.status, a.text
            );
        }
    }
}
