//! `identity rebuild-projections` on the real binary: after members
//! registered (one with an e-mail, one still registering) and cards were
//! loaded, blocked and bound, the command refuses to run beside the live
//! service; once the service is stopped, the operator command
//! drops and replays both projections (member directory, card stock) and
//! reports them identical to those it replaced; restarted on the rebuilt
//! projections, the service gives the same members, cards, sessions,
//! lookups and counts as before, and keeps counting from there.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as pb;
use notify::Channel::Email;
use tests_e2e::identity::{
    Identity, Registered, authed, lookup, random_card, random_phone, register_by_phone,
};
use tests_e2e::identity_flows::{SEED_FLAGS, begin_and_confirm};
use tests_e2e::identity_ops::{random_block, run_identity};
use tonic::Code;

/// Everything the test reads before and after the rebuild.
#[derive(Debug, PartialEq)]
struct Answers {
    members: Vec<pb::GetMemberResponse>,
    sessions: Vec<pb::AuthenticateResponse>,
    cards: Vec<(&'static str, &'static str, String)>,
    unknown_card: Code,
    found: Vec<String>,
    counts: pb::CountMembersResponse,
    stock: pb::GetCardStockResponse,
}

async fn answers(
    id: &Identity,
    tokens: &[&str],
    cards: &[&str],
    contacts: &[pb::find_member_request::Key],
) -> Answers {
    let mut members = Vec::new();
    let mut sessions = Vec::new();
    for t in tokens {
        members.push(
            id.members()
                .get_member(authed(t, pb::GetMemberRequest::default()))
                .await
                .expect("GetMember")
                .into_inner(),
        );
        sessions.push(
            id.auth()
                .authenticate(pb::AuthenticateRequest {
                    token: (*t).to_owned(),
                })
                .await
                .expect("Authenticate")
                .into_inner(),
        );
    }
    let mut looked_up = Vec::new();
    for c in cards {
        looked_up.push(lookup(id, c).await);
    }
    let unknown_card = id
        .cards()
        .lookup_card(pb::LookupCardRequest {
            card_number: random_card(),
        })
        .await
        .unwrap_err()
        .code();
    let mut found = Vec::new();
    for key in contacts {
        found.push(
            id.members()
                .find_member(pb::FindMemberRequest {
                    key: Some(key.clone()),
                })
                .await
                .expect("FindMember")
                .into_inner()
                .member_id,
        );
    }
    Answers {
        members,
        sessions,
        cards: looked_up,
        unknown_card,
        found,
        counts: id
            .members()
            .count_members(pb::CountMembersRequest {})
            .await
            .expect("CountMembers")
            .into_inner(),
        stock: id
            .cards()
            .get_card_stock(pb::GetCardStockRequest {})
            .await
            .expect("GetCardStock")
            .into_inner(),
    }
}

/// One line of the command's report: (projection, events, rows), asserting
/// it says the rebuilt projection is identical to the one it replaced.
fn report_line(stdout: &str, projection: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{projection}: ")))
        .unwrap_or_else(|| panic!("no report for {projection} in {stdout:?}"));
    assert!(
        line.ends_with("; identical to the projection it replaced"),
        "{line}"
    );
    let words: Vec<&str> = line.split_whitespace().collect();
    let events = words[1].parse().unwrap_or_else(|_| panic!("{line}"));
    assert_eq!(words[2], "events", "{line}");
    let rows_at = words
        .iter()
        .position(|w| w.starts_with("rows"))
        .unwrap_or_else(|| panic!("{line}"));
    let rows = words[rows_at - 1]
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    (events, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_a_rebuilt_projection_gives_the_same_members_cards_and_sessions() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut id = Identity::start(data.path(), SEED_FLAGS, &[]).await;

    // Members: two registered by phone (the first with an e-mail), one
    // still registering.
    let a: Registered = register_by_phone(&id, &random_phone(), "rebuild-a-pw").await;
    let email = "vera.rebuild@example.org";
    let mut reg = id.registration();
    reg.set_email(authed(
        &a.token,
        pb::SetEmailRequest {
            email: email.into(),
        },
    ))
    .await
    .expect("SetEmail");
    let code = id.code_after(Email, email, 0).await;
    reg.confirm_email(authed(
        &a.token,
        pb::ConfirmEmailRequest { confirm_code: code },
    ))
    .await
    .expect("ConfirmEmail");
    let b = register_by_phone(&id, &random_phone(), "rebuild-b-pw").await;
    let c_phone = random_phone();
    let (c_member, c_token) = begin_and_confirm(&id, &c_phone).await;

    // Cards: a range loaded, one of it blocked, one bound with Cards/Set.
    let (first, last, block) = random_block(20);
    let loaded = id
        .cards()
        .load_cards(pb::LoadCardsRequest {
            card_numbers: Vec::new(),
            ranges: vec![pb::CardRange { first, last }],
        })
        .await
        .expect("LoadCards")
        .into_inner();
    assert_eq!((loaded.loaded, loaded.already_known), (20, 0), "{loaded:?}");
    id.cards()
        .block_card(pb::BlockCardRequest {
            card_number: block[3].clone(),
            reason: "lost".into(),
        })
        .await
        .expect("BlockCard");
    reg.set_card(authed(
        &c_token,
        pb::SetCardRequest {
            card_number: block[7].clone(),
        },
    ))
    .await
    .expect("SetCard");

    let tokens = [a.token.as_str(), b.token.as_str(), c_token.as_str()];
    let cards = [
        block[0].as_str(),
        block[3].as_str(),
        block[7].as_str(),
        block[19].as_str(),
        a.physical_card.as_str(),
        a.virtual_card.as_str(),
        b.physical_card.as_str(),
    ];
    use pb::find_member_request::Key;
    let contacts = [
        Key::Phone(a.phone.clone()),
        Key::Phone(b.phone.clone()),
        Key::Phone(c_phone.clone()),
        Key::Email(email.into()),
    ];
    let before = answers(&id, &tokens, &cards, &contacts).await;
    // What the projections answer is what happened.
    assert_eq!(
        before.found,
        [a.member_id.as_str(), &b.member_id, &c_member, &a.member_id]
    );
    assert_eq!(
        (before.counts.registering, before.counts.registered),
        (1, 2)
    );
    let physical = before.stock.physical.unwrap();
    assert_eq!(
        (physical.in_stock, physical.bound, physical.blocked),
        (18, 3, 1)
    );
    let virtual_ = before.stock.r#virtual.unwrap();
    assert_eq!(
        (virtual_.in_stock, virtual_.bound, virtual_.blocked),
        (0, 2, 0)
    );
    assert_eq!(before.cards[1].0, "CARD_STATE_BLOCKED");
    assert_eq!(
        before.cards[2],
        ("CARD_STATE_BOUND", "CARD_KIND_PHYSICAL", c_member.clone())
    );
    assert_eq!(before.unknown_card, Code::NotFound);
    assert_eq!(before.members[0].email_masked, "v***@example.org");

    // The command refuses to run beside the service (the log is locked).
    let spec = id.process.spec().clone();
    let mut args = spec.args.clone();
    args.push("rebuild-projections".into());
    let refused = run_identity(&args, &spec.env, data.path()).await;
    assert!(refused.code.is_some_and(|c| c != 0), "{refused:?}");
    assert!(refused.stderr.contains("lock"), "{refused:?}");
    assert!(!refused.stdout.contains("identical"), "{refused:?}");

    // Stopped, rebuilt with the operator command on the same data and flags.
    assert!(
        id.process.terminate().await.unwrap().success(),
        "a clean SIGTERM exit"
    );
    let ran = run_identity(&args, &spec.env, data.path()).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let reports: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(reports.len(), 2, "one line per projection: {ran:?}");
    let (directory_events, directory_rows) = report_line(&ran.stdout, "directory");
    let (stock_events, stock_rows) = report_line(&ran.stdout, "stock");
    assert!(
        directory_events > 0 && directory_events == stock_events,
        "{ran:?}"
    );
    assert!(directory_rows > 0 && stock_rows > 0, "{ran:?}");

    // Restarted: every answer as before, every token still valid.
    id.process
        .restart()
        .await
        .expect("identity restarts on the rebuilt projections");
    let after = answers(&id, &tokens, &cards, &contacts).await;
    assert_eq!(after, before);

    // The rebuilt projections keep counting from where they are.
    let more = random_card();
    id.load_cards(&[&more]).await;
    let (_, token) = begin_and_confirm(&id, &random_phone()).await;
    assert!(!token.is_empty());
    let later = answers(&id, &tokens, &cards, &contacts).await;
    assert_eq!(later.counts.registering, before.counts.registering + 1);
    assert_eq!(later.counts.registered, before.counts.registered);
    let physical_later = later.stock.physical.unwrap();
    assert_eq!(physical_later.in_stock, physical.in_stock + 1);
    assert_eq!(
        (physical_later.bound, physical_later.blocked),
        (physical.bound, physical.blocked)
    );
    assert!(id.process.terminate().await.unwrap().success());
}
