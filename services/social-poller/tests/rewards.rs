//! Activity to points, end to end: the real service on port 0 polls the
//! stand-in VK, matches users through the stand-in identity (real gRPC),
//! and publishes the ledger's `SocialRewardGranted` / `SocialPenaltyApplied`
//! on a real nats-server with the subjects and `ce-type` the ledger
//! consumes. Across a restart of the service nothing is counted twice; the
//! cap holds within November and a new month starts over; a user who links
//! the account later is credited what was held.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{TimeZone, Utc};
use kit::clock::ManualClock;
use loyalty_proto::social::v1 as pb;
use tests_e2e::harness::NatsServer;
use tests_e2e::harness::stream;

use common::points::{balances, expect, points};
use common::vk::{FakeVk, Post};

/// When the posts added after the first poll were published (2026-11-30
/// 12:00 UTC, after it): their activity is new.
const PUBLISHED: i64 = 1_796_040_000;

#[tokio::test]
async fn activity_becomes_points_for_the_ledger_once_across_restarts_and_months() {
    let nats = NatsServer::start().await.unwrap();
    let js = stream::jetstream(&nats.url()).await.unwrap();
    let vk = FakeVk::start(common::TOKEN).await;
    vk.set(|g| {
        g.members = (2000..3200).collect();
        g.posts = vec![Post {
            id: 1,
            likes: vec![2000, 2001],
            ..Default::default()
        }];
    });
    let (identity, links) = common::identity::start().await;
    links.link("1001", "m-a");
    links.link("1002", "m-b");
    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap());
    let service = common::start(data.path(), &vk.url, &identity, Some(&nats.url()), &clock).await;
    let mut c = common::client(&service);
    use pb::ActivityKind as K;
    common::configure(
        &mut c,
        common::accrue("likes", &[K::Like], &[(1, "5"), (2, "1")], "15"),
    )
    .await;
    common::configure(
        &mut c,
        common::accrue("join", &[K::GroupJoin], &[(1, "10")], ""),
    )
    .await;
    common::configure(
        &mut c,
        common::accrue("repost", &[K::Repost], &[(1, "3")], ""),
    )
    .await;
    common::configure(
        &mut c,
        pb::Promotion {
            promotion_id: "take-back".into(),
            title: "Left the group or deleted a repost".into(),
            condition: Some(pb::PromotionCondition {
                kinds: vec![K::GroupLeave as i32, K::RepostDelete as i32],
                ..Default::default()
            }),
            action: pb::ActionKind::Withdraw as i32,
            period: pb::Period::AllTime as i32,
            ..Default::default()
        },
    )
    .await;
    common::configure(
        &mut c,
        pb::Promotion {
            promotion_id: "link".into(),
            title: "Linked a VK account".into(),
            condition: Some(pb::PromotionCondition {
                network: pb::Network::Vk as i32,
                kinds: vec![K::AccountLink as i32],
                ..Default::default()
            }),
            action: pb::ActionKind::Accrue as i32,
            tiers: vec![pb::Tier {
                from_count: 1,
                amount: "20".into(),
            }],
            period: pb::Period::AllTime as i32,
            ..Default::default()
        },
    )
    .await;
    common::connect(&mut c, 5).await;

    // The first poll is the baseline: 1200 members and 2 likes, no points.
    assert_eq!(common::poll(&mut c).await.detected, 1202);

    // 1001 and 1002 join, like and repost; 77 (linked to nobody) likes.
    vk.set(|g| {
        g.members.extend([1001, 1002]);
        g.posts[0].likes.extend([1001, 1002, 77]);
        g.posts[0].reposts.push((1001, 501));
        g.posts.insert(
            0,
            Post {
                id: 2,
                date: PUBLISHED,
                likes: vec![1001],
                comments: vec![(9, 1001)],
                ..Default::default()
            },
        );
    });
    assert_eq!(common::poll(&mut c).await.detected, 8);
    let listed = c
        .list_activity(pb::ListActivityRequest {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
            after_sequence: 1202,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let found: Vec<(K, &str, &str)> = listed
        .activity
        .iter()
        .map(|a| (a.kind(), a.external_user_id.as_str(), a.post_id.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (K::GroupJoin, "1001", ""),
            (K::GroupJoin, "1002", ""),
            (K::Like, "1001", "1"),
            (K::Like, "1002", "1"),
            (K::Like, "77", "1"),
            (K::Repost, "1001", "1"),
            (K::Like, "1001", "2"),
            (K::Comment, "1001", "2"),
        ]
    );
    assert_eq!(listed.last_sequence, 1210);
    let seen = points(&js, 6, 0).await;
    assert_eq!(balances(&seen), expect(&[("m-a", "19"), ("m-b", "15")]));
    assert!(
        seen.iter()
            .any(|(m, _, id)| m == "m-a" && id.starts_with("likes:vk:g:42:"))
    );

    // A restart: the same group again detects nothing and pays nothing.
    service.stop().await.unwrap();
    let service = common::start(data.path(), &vk.url, &identity, Some(&nats.url()), &clock).await;
    let mut c = common::client(&service);
    assert_eq!(common::poll(&mut c).await.detected, 0);

    // 1002 leaves (the join's 10 back), 1001 deletes the repost (3 back)
    // and likes a third post: 1 more, the cap of 15 is not reached.
    vk.set(|g| {
        g.members.retain(|m| *m != 1002);
        g.posts[1].reposts.clear();
        g.posts.insert(
            0,
            Post {
                id: 3,
                date: PUBLISHED,
                likes: vec![1001],
                ..Default::default()
            },
        );
    });
    assert_eq!(common::poll(&mut c).await.detected, 3);
    let seen = points(&js, 7, 2).await;
    assert_eq!(balances(&seen), expect(&[("m-a", "17"), ("m-b", "5")]));

    // December: the first like of the month earns 5 again.
    clock.set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 1).unwrap());
    vk.set(|g| {
        g.posts.insert(
            0,
            Post {
                id: 4,
                date: PUBLISHED,
                likes: vec![1001],
                ..Default::default()
            },
        )
    });
    assert_eq!(common::poll(&mut c).await.detected, 1);
    let seen = points(&js, 8, 2).await;
    assert_eq!(balances(&seen), expect(&[("m-a", "22"), ("m-b", "5")]));
    let counters = c
        .get_counters(pb::GetCountersRequest {
            member_id: "m-a".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .counters;
    let likes: Vec<(String, u64, String)> = counters
        .iter()
        .filter(|k| k.promotion_id == "likes")
        .map(|k| (k.period.clone(), k.count, k.granted.clone().unwrap().amount))
        .collect();
    assert_eq!(
        likes,
        [
            ("2026-11".into(), 3, "7".into()),
            ("2026-12".into(), 1, "5".into())
        ]
    );

    // 77 links the account: the link earns 20 at once, and the held like of
    // November is credited.
    let linked = serde_json::json!({
        "memberId": "m-c", "network": "vk", "externalUserId": "77", "linkedAt": "2026-12-01T00:00:02Z"
    });
    links.link("77", "m-c"); // identity links, then publishes
    let payload = serde_json::to_vec(&linked).unwrap();
    let link = |id: &'static str| {
        stream::publish(
            &js,
            "loyalty.identity.social_account_linked",
            "loyalty.identity.v1.SocialAccountLinked",
            id,
            id,
            payload.clone(),
        )
    };
    link("link-77").await.unwrap();
    let seen = points(&js, 10, 2).await;
    assert_eq!(
        balances(&seen),
        expect(&[("m-a", "22"), ("m-b", "5"), ("m-c", "25")])
    );
    // The same link published again under another id: nothing more.
    let again = link("link-77-again").await.unwrap();
    stream::wait_handled(&js, "social-linked", again).await;
    let rewarder_done = c
        .get_counters(pb::GetCountersRequest {
            member_id: "m-c".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .counters;
    assert_eq!(rewarder_done.len(), 2, "{rewarder_done:?}");
    assert_eq!(points(&js, 10, 2).await.len(), 12);

    // Every message the service published: none carries the token.
    let all = stream::count_on(&js, "loyalty.social.>").await.unwrap() as usize;
    for m in stream::read_count(&js, "loyalty.social.>", all)
        .await
        .unwrap()
    {
        assert!(!String::from_utf8_lossy(&m.payload).contains(common::TOKEN));
    }
    service.stop().await.unwrap();
}

#[tokio::test]
async fn a_member_id_the_ledger_refuses_is_skipped_and_the_rest_still_earns() {
    let vk = FakeVk::start(common::TOKEN).await;
    let (identity, links) = common::identity::start().await;
    // Identity answers ids the ledger refuses for 1 and 11 (a control
    // character, a slash), handled before 2: they must not stop 2 from
    // earning.
    links.link("1", "bad\u{7}member");
    links.link("11", "a/b");
    links.link("2", "m-2");
    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap());
    let service = common::start(data.path(), &vk.url, &identity, None, &clock).await;
    let mut c = common::client(&service);
    use pb::ActivityKind as K;
    common::configure(
        &mut c,
        common::accrue("join", &[K::GroupJoin], &[(1, "10")], ""),
    )
    .await;
    common::connect(&mut c, 5).await;
    assert_eq!(common::poll(&mut c).await.detected, 0);
    vk.set(|g| g.members = vec![1, 11, 2]);
    assert_eq!(common::poll(&mut c).await.detected, 3);
    let counted = tests_e2e::harness::eventually(
        std::time::Duration::from_secs(20),
        "m-2's join counted",
        || {
            let mut c = c.clone();
            async move {
                let counters = c
                    .get_counters(pb::GetCountersRequest {
                        member_id: "m-2".into(),
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .counters;
                (!counters.is_empty()).then_some(counters)
            }
        },
    )
    .await;
    assert_eq!(counted[0].count, 1);
    assert_eq!(counted[0].granted.as_ref().unwrap().amount, "10");
    service.stop().await.unwrap();
    // Both refused ids were dead-lettered, with their reason.
    let log = kit::log::EventLog::open(data.path().join("eventlog")).unwrap();
    let dead = log
        .db()
        .open_tree(social_poller::app::rewarder::DEAD_LETTERS)
        .unwrap();
    assert_eq!(dead.len(), 2);
}
