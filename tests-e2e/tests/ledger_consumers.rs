//! The ledger's consumers against a real nats-server: identity's
//! `CardIssued` opens accounts exactly once; social rewards accrue once
//! however often they are delivered; penalties never take a balance below
//! zero; malformed messages go to the dead-letter subject with their reason,
//! at once. Every wait polls an observable outcome with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::Arc;

use clap::Parser;
use kit::service::InProcess;
use loyalty_proto::common::v1::Money;
use loyalty_proto::identity::v1 as identity;
use loyalty_proto::ledger::v1 as pb;
use tests_e2e::harness::{NatsServer, stream};
use tonic::transport::Channel;

use ledger::consumers::{
    CARD_ISSUED_CONSUMER, CARD_ISSUED_SUBJECT, SOCIAL_CONSUMER, SOCIAL_PENALTY_SUBJECT,
    SOCIAL_REWARD_SUBJECT,
};

type Client = pb::ledger_service_client::LedgerServiceClient<Channel>;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ledger::config::LedgerArgs,
}

/// The ledger in this process on a fresh data dir, consuming from NATS.
struct Ledger {
    client: Client,
    service: InProcess,
    _dir: tempfile::TempDir,
}

impl Ledger {
    /// Stops it; fails the test if the ledger failed.
    async fn stop(self) {
        self.service.stop().await.unwrap();
    }
}

async fn start() -> (NatsServer, Ledger, async_nats::jetstream::Context) {
    let nats = NatsServer::start().await.unwrap();
    let js = stream::jetstream(&nats.url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = nats.url();
    let args = Cli::parse_from([
        "ledger",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--member-directory",
        "member-id",
        "--nats-url",
        &url,
    ])
    .args;
    let service = InProcess::start(&ledger::SPEC, |grpc, metrics, shutdown| {
        ledger::run(args, grpc, metrics, shutdown, Arc::new(chrono::Utc::now))
    })
    .await
    .unwrap();
    let ledger = Ledger {
        client: Client::new(service.channel.clone()),
        service,
        _dir: dir,
    };
    (nats, ledger, js)
}

fn json<M: serde::Serialize>(m: &M) -> Vec<u8> {
    serde_json::to_vec(m).unwrap()
}

fn card_issued(member: &str, card: &str) -> Vec<u8> {
    json(&identity::CardIssued {
        member_id: member.into(),
        card_masked: card.into(),
        kind: identity::CardKind::Physical as i32,
        issued_at: Some(
            chrono::DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
                .unwrap()
                .to_utc()
                .into(),
        ),
    })
}

fn reward(id: &str, member: &str, amount: &str, currency: &str) -> Vec<u8> {
    json(&pb::SocialRewardGranted {
        reward_id: id.into(),
        member_id: member.into(),
        amount: Some(Money {
            amount: amount.into(),
            currency: currency.into(),
        }),
        lifetime: "365d".into(),
        network: "vk".into(),
        activity: "group_join".into(),
        reason: "Joined the brand's group".into(),
        occurred_at: Some(chrono::Utc::now().into()),
    })
}

fn penalty(id: &str, member: &str, amount: &str) -> Vec<u8> {
    json(&pb::SocialPenaltyApplied {
        penalty_id: id.into(),
        member_id: member.into(),
        amount: Some(Money {
            amount: amount.into(),
            currency: "BONUS".into(),
        }),
        network: "vk".into(),
        activity: "group_leave".into(),
        reason: "Left the brand's group".into(),
        occurred_at: None,
        reverses_activity_id: String::new(),
    })
}

const REWARD_TYPE: &str = "loyalty.ledger.v1.SocialRewardGranted";
const PENALTY_TYPE: &str = "loyalty.ledger.v1.SocialPenaltyApplied";

async fn balances(c: &mut Client, member: &str) -> Vec<(String, String, String)> {
    c.get_balance(pb::GetBalanceRequest {
        member_id: member.into(),
        currency: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
    .accounts
    .into_iter()
    .map(|a| (a.currency, a.available, a.held))
    .collect()
}

async fn available(c: &mut Client, member: &str) -> String {
    balances(c, member)
        .await
        .into_iter()
        .find(|(currency, ..)| currency == "BONUS")
        .map(|(_, available, _)| available)
        .unwrap_or_default()
}

async fn history(c: &mut Client, member: &str) -> pb::GetHistoryResponse {
    c.get_history(pb::GetHistoryRequest {
        member_id: member.into(),
        to_date: Some(chrono::Utc::now().into()),
        count: 50,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

fn tuple(c: &str, a: &str, h: &str) -> (String, String, String) {
    (c.into(), a.into(), h.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_issued_twice_with_the_same_id_opens_the_account_exactly_once() {
    let (_nats, mut l, js) = start().await;
    let t = "loyalty.identity.v1.CardIssued";
    let body = card_issued("alice", "***1234");
    // The same event published twice (new Nats-Msg-Id: JetStream keeps both).
    stream::publish(&js, CARD_ISSUED_SUBJECT, t, "ev-card-1", "m1", body.clone())
        .await
        .unwrap();
    stream::publish(&js, CARD_ISSUED_SUBJECT, t, "ev-card-1", "m2", body)
        .await
        .unwrap();
    // A second card of alice: her account exists already, nothing to open.
    let second = card_issued("alice", "***9876");
    stream::publish(&js, CARD_ISSUED_SUBJECT, t, "ev-card-2", "m3", second)
        .await
        .unwrap();
    let last = stream::publish(
        &js,
        CARD_ISSUED_SUBJECT,
        t,
        "ev-card-3",
        "m4",
        card_issued("bob", "***5555"),
    )
    .await
    .unwrap();
    stream::wait_handled(&js, CARD_ISSUED_CONSUMER, last).await;

    // GetBalance lists the opened, empty account; history has nothing.
    let c = &mut l.client;
    assert_eq!(balances(c, "alice").await, [tuple("BONUS", "0.00", "0.00")]);
    assert_eq!(balances(c, "bob").await, [tuple("BONUS", "0.00", "0.00")]);
    assert_eq!(history(c, "alice").await.all_count, 0);
    assert!(balances(c, "carol").await.is_empty(), "no card, no account");

    // The outbox publishes in log order: once an accrual made after the
    // consumer finished is on NATS, every AccountOpened before it is too.
    c.accrue(pb::AccrueRequest {
        operation_id: "sentinel".into(),
        member_id: "sentinel".into(),
        amount: Some(Money {
            amount: "1".into(),
            currency: "BONUS".into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let published = stream::read_until(&js, "loyalty.ledger.>", |m| {
        m.subject.as_str() == "loyalty.ledger.points_accrued"
    })
    .await
    .unwrap();
    let opened: Vec<serde_json::Value> = published
        .iter()
        .filter(|m| m.subject.as_str() == "loyalty.ledger.account_opened")
        .map(|m| {
            assert_eq!(
                stream::header(m, "ce-type"),
                "loyalty.ledger.v1.AccountOpened"
            );
            serde_json::from_slice(&m.payload).unwrap()
        })
        .collect();
    let of = |member: &str| {
        opened
            .iter()
            .filter(|e| e["account"]["memberId"] == member)
            .collect::<Vec<_>>()
    };
    let alice = of("alice");
    assert_eq!(
        alice.len(),
        1,
        "exactly one AccountOpened for alice: {opened:?}"
    );
    assert_eq!(alice[0]["account"]["currency"], "BONUS");
    assert_eq!(alice[0]["sourceEventId"], "ev-card-1");
    assert_eq!(alice[0]["cardId"], "***1234");
    assert_eq!(alice[0]["openedAt"], "2026-05-01T10:00:00Z");
    assert_eq!(of("bob").len(), 1);
    assert_eq!(stream::count_on(&js, "loyalty.dlq.>").await.unwrap(), 0);

    // An account opened is an account like any other.
    c.accrue(pb::AccrueRequest {
        operation_id: "op-1".into(),
        member_id: "alice".into(),
        amount: Some(Money {
            amount: "2.50".into(),
            currency: "BONUS".into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(available(c, "alice").await, "2.50");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_social_reward_accrues_once_however_often_it_arrives() {
    let (_nats, mut l, js) = start().await;
    let body = reward("rw-1", "carol", "10.50", "BONUS");
    let s = SOCIAL_REWARD_SUBJECT;
    stream::publish(&js, s, REWARD_TYPE, "ev-rw-1", "m1", body.clone())
        .await
        .unwrap();
    stream::publish(&js, s, REWARD_TYPE, "ev-rw-1", "m2", body.clone())
        .await
        .unwrap();
    // The same reward re-published under a new event id: applied once too.
    stream::publish(&js, s, REWARD_TYPE, "ev-rw-1-again", "m3", body)
        .await
        .unwrap();
    // Other social-poller subjects are not for the ledger: acknowledged, ignored.
    let last = stream::publish(
        &js,
        "loyalty.social.group_snapshot_taken",
        "loyalty.social.v1.GroupSnapshotTaken",
        "ev-other",
        "m4",
        b"{}".to_vec(),
    )
    .await
    .unwrap();
    stream::wait_handled(&js, SOCIAL_CONSUMER, last).await;

    let c = &mut l.client;
    assert_eq!(available(c, "carol").await, "10.50");
    let h = history(c, "carol").await;
    assert_eq!(h.all_count, 1);
    let row = &h.rows[0];
    assert_eq!(row.kind, pb::OperationKind::Social as i32);
    assert_eq!(row.description, "Joined the brand's group");
    assert_eq!(row.rewards.len(), 1);
    assert_eq!(row.rewards[0].amount, "10.50");
    assert_eq!(row.rewards[0].reward_type, pb::RewardType::Bonus as i32);
    assert_eq!(row.rewards[0].operation_id, "social/reward/rw-1");
    assert_eq!(stream::count_on(&js, "loyalty.dlq.>").await.unwrap(), 0);
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_larger_than_the_balance_leaves_zero_never_negative() {
    let (_nats, mut l, js) = start().await;
    let (s, p) = (SOCIAL_REWARD_SUBJECT, SOCIAL_PENALTY_SUBJECT);
    stream::publish(
        &js,
        s,
        REWARD_TYPE,
        "ev-rw",
        "m1",
        reward("rw", "dave", "10", ""),
    )
    .await
    .unwrap();
    let body = penalty("pn-1", "dave", "25");
    stream::publish(&js, p, PENALTY_TYPE, "ev-pn-1", "m2", body.clone())
        .await
        .unwrap();
    stream::publish(&js, p, PENALTY_TYPE, "ev-pn-1", "m3", body)
        .await
        .unwrap();
    // Against an empty balance: nothing to take, no error, no dead letter.
    let empty = penalty("pn-2", "dave", "5");
    let last = stream::publish(&js, p, PENALTY_TYPE, "ev-pn-2", "m4", empty)
        .await
        .unwrap();
    stream::wait_handled(&js, SOCIAL_CONSUMER, last).await;

    let c = &mut l.client;
    assert_eq!(available(c, "dave").await, "0.00");
    let h = history(c, "dave").await;
    assert_eq!(h.all_count, 2, "the reward and one withdrawal");
    let withdrawal = h.rows.iter().find(|r| !r.withdraws.is_empty()).unwrap();
    assert_eq!(
        withdrawal.withdraws[0].amount, "-10.00",
        "took what was there"
    );
    assert_eq!(withdrawal.kind, pb::OperationKind::Social as i32);
    assert_eq!(withdrawal.description, "Left the brand's group");
    assert_eq!(stream::count_on(&js, "loyalty.dlq.>").await.unwrap(), 0);

    // A later reward is not eaten by the rest of the earlier penalty.
    let last = stream::publish(
        &js,
        s,
        REWARD_TYPE,
        "ev-rw-2",
        "m5",
        reward("rw-2", "dave", "3", ""),
    )
    .await
    .unwrap();
    stream::wait_handled(&js, SOCIAL_CONSUMER, last).await;
    assert_eq!(available(c, "dave").await, "3.00");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_social_messages_are_dead_lettered_at_once_with_their_reason() {
    let (_nats, mut l, js) = start().await;
    let s = SOCIAL_REWARD_SUBJECT;
    let cases = [
        (
            "ev-bad-amount",
            reward("rw-a", "erin", "12.345", "BONUS"),
            "amount",
        ),
        (
            "ev-bad-currency",
            reward("rw-c", "erin", "5", "XYZ"),
            "unknown currency \"XYZ\"",
        ),
        ("ev-not-json", b"{not json".to_vec(), "not JSON"),
        ("ev-no-member", reward("rw-m", "", "5", "BONUS"), "memberId"),
    ];
    for (i, (event_id, body, _)) in cases.iter().enumerate() {
        stream::publish(
            &js,
            s,
            REWARD_TYPE,
            event_id,
            &format!("m{i}"),
            body.clone(),
        )
        .await
        .unwrap();
    }
    // The consumer is not stuck behind them.
    let good = reward("rw-ok", "erin", "4", "BONUS");
    let last = stream::publish(&js, s, REWARD_TYPE, "ev-good", "m-good", good)
        .await
        .unwrap();

    let dlq = stream::read_count(&js, "loyalty.dlq.ledger-social", cases.len())
        .await
        .unwrap();
    for ((event_id, _, reason), letter) in cases.iter().zip(&dlq) {
        assert_eq!(stream::header(letter, "loyalty-dlq-event-id"), *event_id);
        assert_eq!(stream::header(letter, "loyalty-dlq-subject"), s);
        assert_eq!(
            stream::header(letter, "loyalty-dlq-deliveries"),
            "1",
            "not retried"
        );
        let why = stream::header(letter, "loyalty-dlq-reason");
        assert!(
            why.contains(reason),
            "{event_id}: {why:?} should mention {reason:?}"
        );
        assert!(why.starts_with("rejected"), "{why}");
    }
    stream::wait_handled(&js, SOCIAL_CONSUMER, last).await;
    assert_eq!(available(&mut l.client, "erin").await, "4.00");
    assert_eq!(
        stream::count_on(&js, "loyalty.dlq.ledger-social")
            .await
            .unwrap(),
        cases.len() as u64
    );
    l.stop().await;
}
