//! Service-to-service authentication on the real `identity` and `ledger`
//! binaries and a real nats-server: a service given `--caller-tokens-file`
//! (or `LOYALTY_CALLER_TOKENS_FILE`) serves only calls carrying a listed
//! token in `x-loyalty-service-token` (UNAUTHENTICATED otherwise, with no
//! effect), while gRPC health and reflection stay open; the tokens never
//! reach its logs. A service's own token comes from `--service-token-file`
//! (or `LOYALTY_SERVICE_TOKEN_FILE`): the ledger sends it when it resolves a
//! batch's `memberNo`s at identity, and the operator commands `identity
//! cards load` and `ledger batch apply` send it.

use std::path::Path;

use loyalty_proto::identity::v1 as pb;
use loyalty_proto::ledger::v1 as lpb;
use tests_e2e::harness::NatsServer;
use tests_e2e::identity::{DEADLINE, Identity, POLL, authed, random_card};
use tests_e2e::identity_ops::{random_block, run_identity};
use tests_e2e::ledger::{Ledger, accrual_batch, batch_line, run_ledger, write_batch_file};
use tests_e2e::service_auth::{
    HEADER, assert_no_token, assert_open_endpoints, assert_refused, maybe_token, random_token,
    with_token, write_callers_file, write_token_file,
};
use tonic::Code;

/// The identity services, each guarded.
const IDENTITY_SERVICES: &[&str] = &[
    "loyalty.identity.v1.RegistrationService",
    "loyalty.identity.v1.AuthService",
    "loyalty.identity.v1.CardService",
    "loyalty.identity.v1.MemberService",
    "loyalty.identity.v1.MessagingService",
];

/// The callers and their tokens of one test.
struct Callers {
    ledger: String,
    ops: String,
}

impl Callers {
    fn new() -> Self {
        Self {
            ledger: random_token("ledger"),
            ops: random_token("ops"),
        }
    }

    /// Writes the callers file listing both into `dir`: the ledger may only
    /// resolve members at identity and call the ledger; ops may call anything.
    fn file(&self, dir: &Path) -> String {
        let path = write_callers_file(
            dir,
            "callers.txt",
            &[
                (
                    "ledger",
                    &format!(
                        "{} loyalty.identity.v1.MemberService/ResolveMembers,loyalty.ledger.v1.LedgerService",
                        self.ledger
                    ),
                ),
                ("ops", &self.ops),
            ],
        );
        path.to_str().expect("utf-8 temp path").to_owned()
    }
}

/// `message` with a member's bearer token and a service token.
fn member_call<T>(member_token: &str, service_token: &str, message: T) -> tonic::Request<T> {
    let mut r = authed(member_token, message);
    r.metadata_mut().insert(
        HEADER,
        service_token.parse().expect("an ASCII service token"),
    );
    r
}

/// LookupCard's answer with the service token `token` (if any).
async fn lookup_card(
    id: &Identity,
    token: Option<&str>,
    card: &str,
) -> Result<tonic::Response<pb::LookupCardResponse>, tonic::Status> {
    let request = pb::LookupCardRequest {
        card_number: card.to_owned(),
    };
    id.cards().lookup_card(maybe_token(token, request)).await
}

/// The card's state, asked with `token`; `None` when the card is unknown.
async fn card_state(id: &Identity, token: &str, card: &str) -> Option<&'static str> {
    match lookup_card(id, Some(token), card).await {
        Ok(r) => Some(
            pb::CardState::try_from(r.into_inner().state)
                .map(|s| s.as_str_name())
                .unwrap_or("?"),
        ),
        Err(s) if s.code() == Code::NotFound => None,
        Err(s) => panic!("LookupCard({card}): {s:?}"),
    }
}

/// Stocks `card` and registers by it (the card is bound at once); returns
/// the member id and the member's token. Every call carries `token`.
async fn register_by_card(id: &Identity, token: &str, card: &str) -> (String, String) {
    let loaded = id
        .cards()
        .load_cards(with_token(
            token,
            pb::LoadCardsRequest {
                card_numbers: vec![card.to_owned()],
                ranges: Vec::new(),
            },
        ))
        .await
        .expect("LoadCards with a listed token")
        .into_inner();
    assert_eq!(loaded.loaded, 1, "{loaded:?}");
    let begun = id
        .registration()
        .begin_registration(with_token(
            token,
            pb::BeginRegistrationRequest {
                login: card.to_owned(),
                password: String::new(),
            },
        ))
        .await
        .expect("BeginRegistration with a listed token")
        .into_inner();
    assert_eq!(
        begun.state(),
        pb::BeginRegistrationState::Success,
        "{begun:?}"
    );
    assert!(!begun.member_id.is_empty() && !begun.auth_token.is_empty());
    (begun.member_id, begun.auth_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_serves_only_calls_with_a_listed_service_token() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let callers = Callers::new();
    let callers_file = callers.file(work.path());
    // At trace level: not even the HTTP/2 layer may print a token.
    let mut id = Identity::start(
        data.path(),
        &[
            "--nats-url",
            &nats.url(),
            "--caller-tokens-file",
            &callers_file,
        ],
        &[("RUST_LOG", "trace"), ("LOYALTY_LOG_FORMAT", "text")],
    )
    .await;
    let ops = callers.ops.as_str();
    let wrong = random_token("ops");
    let short = &ops[..ops.len() - 1];
    let longer = format!("{ops}x");
    let bad: [Option<&str>; 4] = [None, Some(&wrong), Some(short), Some(&longer)];
    let secrets = [ops, callers.ledger.as_str()];

    // Health and reflection stay open.
    assert_open_endpoints(id.grpc_port, IDENTITY_SERVICES).await;

    // CardService.LookupCard: refused without a listed token; served (an
    // unknown card is NOT_FOUND) with ops' token; the ledger's token is only
    // good for ResolveMembers.
    let card = random_card();
    for token in bad {
        assert_refused(lookup_card(&id, token, &card).await, &secrets);
    }
    let e = lookup_card(&id, Some(ops), &card).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = lookup_card(&id, Some(&callers.ledger), &card)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("ledger"), "{e:?}");

    // A refused LoadCards stocks nothing.
    for token in bad {
        let request = pb::LoadCardsRequest {
            card_numbers: vec![card.clone()],
            ranges: Vec::new(),
        };
        assert_refused(
            id.cards().load_cards(maybe_token(token, request)).await,
            &secrets,
        );
    }
    assert_eq!(card_state(&id, ops, &card).await, None, "nothing stocked");

    // RegistrationService.BeginRegistration: a refused call opens nobody
    // (the card stays in stock); with the ops token it works.
    let stocked = random_card();
    id.cards()
        .load_cards(with_token(
            ops,
            pb::LoadCardsRequest {
                card_numbers: vec![stocked.clone()],
                ranges: Vec::new(),
            },
        ))
        .await
        .expect("LoadCards with the ops token");
    for token in bad {
        let request = pb::BeginRegistrationRequest {
            login: stocked.clone(),
            password: String::new(),
        };
        assert_refused(
            id.registration()
                .begin_registration(maybe_token(token, request))
                .await,
            &secrets,
        );
    }
    assert_eq!(
        card_state(&id, ops, &stocked).await,
        Some("CARD_STATE_IN_STOCK")
    );
    let counts = id
        .members()
        .count_members(with_token(ops, pb::CountMembersRequest {}))
        .await
        .expect("CountMembers with the ops token")
        .into_inner();
    assert_eq!((counts.registering, counts.registered), (0, 0), "nobody");
    let begun = id
        .registration()
        .begin_registration(with_token(
            ops,
            pb::BeginRegistrationRequest {
                login: stocked.clone(),
                password: String::new(),
            },
        ))
        .await
        .expect("BeginRegistration with the ops token")
        .into_inner();
    assert_eq!(
        begun.state(),
        pb::BeginRegistrationState::Success,
        "{begun:?}"
    );
    let (member, member_token) = (begun.member_id, begun.auth_token);
    assert_eq!(
        card_state(&id, ops, &stocked).await,
        Some("CARD_STATE_BOUND")
    );

    // A member's own token comes on top of the service token, never instead.
    assert_refused(
        id.registration()
            .get_actions(authed(&member_token, pb::GetActionsRequest {}))
            .await,
        &secrets,
    );
    let steps = id
        .registration()
        .get_actions(member_call(&member_token, ops, pb::GetActionsRequest {}))
        .await
        .expect("GetActions with both tokens")
        .into_inner();
    assert!(!steps.actions.is_empty(), "{steps:?}");

    // AuthService.Authenticate of the member's token.
    for token in bad {
        let request = pb::AuthenticateRequest {
            token: member_token.clone(),
        };
        assert_refused(
            id.auth().authenticate(maybe_token(token, request)).await,
            &secrets,
        );
    }
    let session = id
        .auth()
        .authenticate(with_token(
            ops,
            pb::AuthenticateRequest {
                token: member_token.clone(),
            },
        ))
        .await
        .expect("Authenticate with the ops token")
        .into_inner();
    assert_eq!(session.member_id, member);

    // MemberService.ResolveMembers, as the ledger calls it.
    let resolve = || pb::ResolveMembersRequest {
        member_nos: vec![stocked.clone()],
    };
    for token in bad {
        assert_refused(
            id.members()
                .resolve_members(maybe_token(token, resolve()))
                .await,
            &secrets,
        );
    }
    let resolved = id
        .members()
        .resolve_members(with_token(&callers.ledger, resolve()))
        .await
        .expect("ResolveMembers with the ledger token")
        .into_inner();
    assert_eq!(resolved.members.len(), 1, "{resolved:?}");
    assert!(resolved.members[0].found, "{resolved:?}");
    assert_eq!(resolved.members[0].member_id, member);

    // MessagingService.GetTemplate.
    let template = || pb::GetTemplateRequest {
        template_id: "no-such-template".into(),
    };
    for token in bad {
        assert_refused(
            id.messaging()
                .get_template(maybe_token(token, template()))
                .await,
            &secrets,
        );
    }
    let e = id
        .messaging()
        .get_template(with_token(ops, template()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "served: {e:?}");

    // Still open after all that.
    assert_open_endpoints(id.grpc_port, IDENTITY_SERVICES).await;

    // The whole log (trace level): the refusals are there, no token is.
    assert!(id.process.terminate().await.unwrap().success());
    let log = id.process.read_log();
    assert!(
        log.contains("TRACE") && log.contains(&member),
        "the log is this run's, at trace level"
    );
    assert!(log.contains("call refused"), "refusals are logged");
    assert_no_token(
        "the identity log",
        &log,
        &[ops, &callers.ledger, &wrong, short, &longer],
    );
}

/// Physical cards in stock, asked with `token`.
async fn in_stock(id: &Identity, token: &str) -> u64 {
    id.cards()
        .get_card_stock(with_token(token, pb::GetCardStockRequest {}))
        .await
        .expect("GetCardStock with a listed token")
        .into_inner()
        .physical
        .expect("physical counts")
        .in_stock
}

/// `identity cards load FILE` against `id`, with the extra `flags`.
async fn load_stock(id: &Identity, file: &Path, flags: &[&str], dir: &Path) -> (i32, String) {
    let mut args = vec![
        "cards".to_owned(),
        "load".to_owned(),
        file.to_str().expect("utf-8 path").to_owned(),
        "--identity-url".to_owned(),
        format!("http://127.0.0.1:{}", id.grpc_port),
    ];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    let ran = run_identity(&args, &[], dir).await;
    (
        ran.code.expect("exited, not killed"),
        format!("stdout:\n{}\nstderr:\n{}", ran.stdout, ran.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_card_loads_send_the_service_token() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let callers = Callers::new();
    let callers_file = callers.file(work.path());
    let id = Identity::start(
        data.path(),
        &["--nats-url", &nats.url()],
        &[("LOYALTY_CALLER_TOKENS_FILE", &callers_file)],
    )
    .await;
    let ops = callers.ops.as_str();
    let (first, last, block) = random_block(5);
    let file = work.path().join("stock.txt");
    std::fs::write(&file, format!("# a box of five\n{first}-{last}\n")).unwrap();

    // Without a token, and with a token not listed: refused, nothing loaded.
    let wrong = write_token_file(work.path(), "wrong.token", &random_token("ops"));
    for flags in [
        vec![],
        vec!["--service-token-file", wrong.to_str().unwrap()],
    ] {
        let (code, out) = load_stock(&id, &file, &flags, work.path()).await;
        assert_ne!(code, 0, "{flags:?}: {out}");
        assert!(
            out.contains("Unauthenticated") || out.contains(HEADER),
            "{flags:?}: the error says why: {out}"
        );
        assert!(!out.contains("loaded "), "{flags:?}: {out}");
        assert_eq!(in_stock(&id, ops).await, 0, "{flags:?}: nothing loaded");
        for card in &block {
            assert_eq!(card_state(&id, ops, card).await, None, "{card}");
        }
    }

    // With the ops token: every card is loaded.
    let token_file = write_token_file(work.path(), "ops.token", ops);
    let (code, out) = load_stock(
        &id,
        &file,
        &["--service-token-file", token_file.to_str().unwrap()],
        work.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("loaded 5, already known 0, rejected 0"),
        "{out}"
    );
    assert_no_token("the command's output", &out, &[ops]);
    assert_eq!(in_stock(&id, ops).await, 5);
    for card in &block {
        assert_eq!(
            card_state(&id, ops, card).await,
            Some("CARD_STATE_IN_STOCK"),
            "{card}"
        );
    }
}

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
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while id.process.read_log().matches("call refused").count() <= refusals_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "identity logged no refusal of the ledger's call"
        );
        tokio::time::sleep(POLL).await;
    }
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
