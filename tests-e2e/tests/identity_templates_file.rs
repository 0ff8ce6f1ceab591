//! Templates provisioned from a file at start-up (`--templates-file`, e.g. a
//! Kubernetes ConfigMap): defined once however often the service starts, and
//! a bad template stops the start with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as pb;
use tests_e2e::identity::Identity;
use tests_e2e::identity_messaging::{CHARGE_TEMPLATE_ID, charge_template};
use tests_e2e::identity_ops::run_identity;

/// The charge template as the service has it.
async fn template(id: &Identity) -> Option<pb::MessageTemplate> {
    id.messaging()
        .get_template(pb::GetTemplateRequest {
            template_id: CHARGE_TEMPLATE_ID.into(),
        })
        .await
        .expect("GetTemplate")
        .into_inner()
        .template
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_from_the_file_are_defined_at_start_up() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("templates.json");
    let templates = vec![charge_template()];
    std::fs::write(&file, serde_json::to_string(&templates).unwrap()).unwrap();
    let path = file.to_str().unwrap();
    let mut id = Identity::start(data.path(), &["--templates-file", path], &[]).await;
    assert_eq!(template(&id).await, Some(charge_template()));

    // A restart with the same file changes nothing.
    assert!(id.process.terminate().await.unwrap().success());
    id.process.restart().await.expect("identity restarts");
    assert_eq!(template(&id).await, Some(charge_template()));
    assert!(id.process.terminate().await.unwrap().success());

    // A template that does not parse stops the start, naming it.
    let mut bad = charge_template();
    bad.template_id = "ETP_BROKEN".into();
    bad.body = "{{ unclosed".into();
    std::fs::write(&file, serde_json::to_string(&vec![bad]).unwrap()).unwrap();
    let args: Vec<String> = [
        "--data-dir",
        data.path().to_str().unwrap(),
        "--grpc-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--templates-file",
        path,
    ]
    .map(String::from)
    .to_vec();
    let ran = run_identity(&args, &[], work.path()).await;
    assert_ne!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stderr.contains("ETP_BROKEN"), "{ran:?}");
}
