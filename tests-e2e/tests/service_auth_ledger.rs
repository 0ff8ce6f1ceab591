//! Service-to-service authentication between the real `ledger` and
//! `identity` binaries: the ledger serves only listed callers, resolves a
//! batch's `memberNo`s at identity with its own token, and `ledger batch
//! apply` sends its token (see `service_auth.rs` for identity's side).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::ledger::v1 as lpb;
use tests_e2e::harness::{NatsServer, eventually};
use tests_e2e::identity::{DEADLINE, Identity, random_card};
use tests_e2e::ledger::{Ledger, accrual_batch, batch_line, run_ledger, write_batch_file};
use tests_e2e::service_auth::{
    Callers, HEADER, assert_no_token, assert_open_endpoints, assert_refused, maybe_token,
    random_token, register_by_card, with_token, write_callers_file, write_token_file,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_resolves_batch_members_at_identity_with_its_own_token() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let identity_dir = tempfile::tempdir().unwrap();
    let ledger_dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let callers = Callers::new();
    let callers_file = callers.file(work.path());
    let mut id = Identity::start(
        identity_dir.path(),
        &[
            "--nats-url",
            &nats.url(),
            "--caller-tokens-file",
            &callers_file,
        ],
        &[],
    )
    .await;
    let identity_url = format!("http://127.0.0.1:{}", id.grpc_port);
    let own_token = write_token_file(work.path(), "ledger.token", &callers.ledger);
    let own_token = own_token.to_str().unwrap();
    let ledger_flags = [
        "--nats-url",
        &nats.url(),
        "--member-directory",
        "identity",
        "--identity-url",
        &identity_url,
    ];
    let with_own_token: Vec<&str> = ledger_flags
        .iter()
        .copied()
        .chain(["--service-token-file", own_token])
        .collect();
    let mut ledger = Ledger::start(ledger_dir.path(), &with_own_token, &[]).await;

    // A member registered by card; the ledger opens the account.
    let card = random_card();
    let (member, _) = register_by_card(&id, &callers.ops, &card).await;
    ledger.wait_for_account(&member).await;

    // The batch names the member by card: identity resolves it for the ledger.
    let report = ledger
        .client()
        .apply_batch(futures::stream::iter(accrual_batch(
            "auth-1",
            vec![batch_line(&card, "10.50")],
        )))
        .await
        .expect("the batch is applied")
        .into_inner();
    assert_eq!(
        (report.code, report.accepted_count, report.error_count),
        (0, 1, 0),
        "{report:?}"
    );
    assert_eq!(report.accepted_sum, "10.50", "{report:?}");
    assert_eq!(ledger.bonus(&member, None).await.as_deref(), Some("10.50"));

    // The same ledger restarted without its token: identity refuses the
    // lookup, the batch fails as a dependency failure, nothing is applied.
    assert!(ledger.process.terminate().await.unwrap().success());
    assert_no_token(
        "the ledger log",
        &ledger.process.read_log(),
        &[&callers.ledger],
    );
    drop(ledger);
    let mut no_token = Ledger::start(ledger_dir.path(), &ledger_flags, &[]).await;
    let refusals_before = id.process.read_log().matches("call refused").count();
    let second = || futures::stream::iter(accrual_batch("auth-2", vec![batch_line(&card, "5")]));
    let e = no_token
        .client()
        .apply_batch(second())
        .await
        .expect_err("identity refuses a ledger without a token");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(
        e.message().contains("Unauthenticated") && e.message().contains("identity"),
        "the failure names identity's refusal: {e:?}"
    );
    assert_eq!(
        no_token.bonus(&member, None).await.as_deref(),
        Some("10.50"),
        "nothing applied"
    );
    eventually(
        DEADLINE,
        "identity logs its refusal of the ledger's call",
        || async {
            (id.process.read_log().matches("call refused").count() > refusals_before).then_some(())
        },
    )
    .await;
    assert!(no_token.process.terminate().await.unwrap().success());
    drop(no_token);

    // With its token again, the retry under the same requestId applies once.
    ledger = Ledger::start(ledger_dir.path(), &with_own_token, &[]).await;
    let report = ledger
        .client()
        .apply_batch(second())
        .await
        .expect("the retried batch is applied")
        .into_inner();
    assert_eq!(
        (report.code, report.accepted_count, report.error_count),
        (0, 1, 0),
        "{report:?}"
    );
    assert_eq!(ledger.bonus(&member, None).await.as_deref(), Some("15.50"));

    assert!(id.process.terminate().await.unwrap().success());
    assert_no_token(
        "the identity log",
        &id.process.read_log(),
        &[&callers.ledger, &callers.ops],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_serves_only_calls_with_a_listed_service_token() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let gateway = random_token("gateway");
    let ops = random_token("ops");
    let callers_file = write_callers_file(
        work.path(),
        "ledger-callers.txt",
        &[("gateway", &gateway), ("ops", &ops)],
    );
    let mut ledger = Ledger::start(
        data.path(),
        &["--nats-url", &nats.url(), "--member-directory", "member-id"],
        &[("LOYALTY_CALLER_TOKENS_FILE", callers_file.to_str().unwrap())],
    )
    .await;
    assert_open_endpoints(ledger.grpc_port, &["loyalty.ledger.v1.LedgerService"]).await;
    let member = format!("m-{}", uuid::Uuid::new_v4().simple());
    let wrong = random_token("gateway");
    let short = &gateway[..gateway.len() - 1];
    let bad: [Option<&str>; 3] = [None, Some(&wrong), Some(short)];
    let secrets = [gateway.as_str(), ops.as_str()];

    // GetBalance: refused without a listed token, served with one.
    let balance = || lpb::GetBalanceRequest {
        member_id: member.clone(),
        currency: String::new(),
    };
    for token in bad {
        assert_refused(
            ledger
                .client()
                .get_balance(maybe_token(token, balance()))
                .await,
            &secrets,
        );
    }
    assert_eq!(ledger.bonus(&member, Some(&gateway)).await, None);

    // ApplyBatch: a refused upload applies nothing.
    for token in bad {
        let upload = futures::stream::iter(accrual_batch("grpc-1", vec![batch_line(&member, "3")]));
        assert_refused(
            ledger
                .client()
                .apply_batch(maybe_token(token, upload))
                .await,
            &secrets,
        );
    }
    assert_eq!(ledger.bonus(&member, Some(&ops)).await, None);
    let upload = futures::stream::iter(accrual_batch("grpc-1", vec![batch_line(&member, "3")]));
    let report = ledger
        .client()
        .apply_batch(with_token(&gateway, upload))
        .await
        .expect("ApplyBatch with the gateway token")
        .into_inner();
    assert_eq!((report.code, report.accepted_count), (0, 1), "{report:?}");
    assert_eq!(
        ledger.bonus(&member, Some(&ops)).await.as_deref(),
        Some("3.00")
    );

    // `ledger batch apply FILE`: refused without the token, applied with it
    // (here from LOYALTY_SERVICE_TOKEN_FILE).
    let file = write_batch_file(work.path(), "file-1", &member, "7");
    let args = vec![
        "batch".to_owned(),
        "apply".to_owned(),
        file,
        "--ledger-url".to_owned(),
        ledger.url(),
    ];
    let ran = run_ledger(&args, &[], work.path()).await;
    assert_ne!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stderr.contains("Unauthenticated") || ran.stderr.contains(HEADER),
        "the error says why: {ran:?}"
    );
    assert_eq!(
        ledger.bonus(&member, Some(&ops)).await.as_deref(),
        Some("3.00")
    );
    let token_file = write_token_file(work.path(), "ops.token", &ops);
    let env = [(
        "LOYALTY_SERVICE_TOKEN_FILE".to_owned(),
        token_file.to_str().unwrap().to_owned(),
    )];
    let ran = run_ledger(&args, &env, work.path()).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).expect("a JSON report");
    // Defaults (code 0, no errors) are left out of the JSON.
    assert_eq!(
        (
            &report["acceptedCount"],
            &report["acceptedSum"],
            &report["code"]
        ),
        (&"1".into(), &"7.00".into(), &serde_json::Value::Null),
        "{report}"
    );
    assert_eq!(
        ledger.bonus(&member, Some(&ops)).await.as_deref(),
        Some("10.00")
    );
    assert_no_token("the command's output", &format!("{ran:?}"), &[&ops]);

    assert!(ledger.process.terminate().await.unwrap().success());
    let log = ledger.process.read_log();
    assert!(log.contains("call refused"), "refusals are logged");
    assert_no_token("the ledger log", &log, &[&gateway, &ops, &wrong]);
}
