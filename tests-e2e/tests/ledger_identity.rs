//! The ledger and the identity service together, as real binaries on a real
//! nats-server: a card issued by identity opens the member's account in the
//! ledger (consumer of `loyalty.identity.card_issued`), and a batch's
//! `memberNo` (a card number or a member id) is resolved through identity's
//! gRPC lookup; an unknown `memberNo` is a line error, not a batch failure.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as ipb;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tests_e2e::harness::{
    NatsServer, ServiceProcess, ServiceSpec, binary_path, eventually, free_port,
};
use tests_e2e::identity::{DEADLINE, Identity, random_card};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_issued_by_identity_open_accounts_and_batches_resolve_member_numbers() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let identity_dir = tempfile::tempdir().unwrap();
    let identity = Identity::start(identity_dir.path(), &["--nats-url", &nats.url()], &[]).await;

    let ledger_dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let identity_url = format!("http://127.0.0.1:{}", identity.grpc_port);
    let spec = ServiceSpec::new("ledger", binary_path("ledger"))
        .args(["--data-dir", ledger_dir.path().to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &metrics_addr])
        .args(["--nats-url", &nats.url()])
        .args(["--identity-url", &identity_url])
        .grpc_port(grpc);
    let _ledger = ServiceProcess::start(spec).await.unwrap();
    let mut ledger = LedgerServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();

    // Registration by card binds the card at once: the member's first card.
    let card = random_card();
    identity.load_cards(&[card.as_str()]).await;
    let begun = identity
        .registration()
        .begin_registration(ipb::BeginRegistrationRequest {
            login: card.clone(),
            password: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let member = begun.member_id.clone();
    assert!(!member.is_empty());

    // The ledger opens the member's bonus account from the CardIssued event.
    let account = eventually(
        DEADLINE,
        "the ledger opens an account for the issued card",
        || {
            let mut ledger = ledger.clone();
            let member = member.clone();
            async move {
                let balance = ledger
                    .get_balance(pb::GetBalanceRequest {
                        member_id: member,
                        currency: String::new(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                balance.accounts.into_iter().next()
            }
        },
    )
    .await;
    assert_eq!(account.currency, "BONUS");
    assert_eq!(account.available, "0.00", "{account:?}");

    // A batch names the member by card number and by member id; one line
    // names nobody.
    let messages = tests_e2e::ledger::batch_upload(
        pb::BatchHeader {
            request_id: "partner-2026-11-20".into(),
            r#type: pb::BatchType::Accrue as i32,
            accrue_description: "partner".into(),
            ..Default::default()
        },
        vec![
            tests_e2e::ledger::batch_line(&card, "10.50"),
            tests_e2e::ledger::batch_line("1234567890123456", "7"),
            tests_e2e::ledger::batch_line(&member, "5"),
        ],
    );
    let report = ledger
        .apply_batch(futures::stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.code, 0, "{report:?}");
    assert_eq!(report.accepted_count, 2, "{report:?}");
    assert_eq!(report.accepted_sum, "15.50", "{report:?}");
    assert_eq!(report.error_count, 1, "{report:?}");
    assert_eq!(report.errors[0].line, 2, "{report:?}");

    let balance = ledger
        .get_balance(pb::GetBalanceRequest {
            member_id: member.clone(),
            currency: "BONUS".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(balance.accounts[0].available, "15.50");
}
