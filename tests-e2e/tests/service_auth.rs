//! Service-to-service authentication on the real `identity` and `ledger`
//! binaries and a real nats-server: a service given `--caller-tokens-file`
//! (or `LOYALTY_CALLER_TOKENS_FILE`) serves only calls carrying a listed
//! token in `x-loyalty-service-token` (UNAUTHENTICATED otherwise, with no
//! effect), while gRPC health and reflection stay open; the tokens never
//! reach its logs. A service's own token comes from `--service-token-file`
//! (or `LOYALTY_SERVICE_TOKEN_FILE`): the ledger sends it when it resolves a
//! batch's `memberNo`s at identity, and the operator commands `identity
//! cards load` and `ledger batch apply` send it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

use loyalty_proto::identity::v1 as pb;
use tests_e2e::harness::NatsServer;
use tests_e2e::identity::{Identity, authed, random_card};
use tests_e2e::identity_ops::{random_block, run_identity};
use tests_e2e::service_auth::{
    Callers, HEADER, assert_no_token, assert_open_endpoints, assert_refused, maybe_token,
    random_token, with_token, write_token_file,
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
