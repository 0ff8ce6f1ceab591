//! VK's error objects, end to end through the real service on port 0 and
//! the stand-in VK: a rate limit (6) is retried on the next poll without
//! disabling anything; an authorization error (5) disables the group with
//! VK's reason visible over gRPC, and nothing more is asked of VK until the
//! group is connected again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{TimeZone, Utc};
use kit::clock::ManualClock;
use loyalty_proto::social::v1 as pb;

use common::vk::FakeVk;

#[tokio::test]
async fn a_rate_limit_backs_off_and_an_auth_error_disables_the_group_with_its_reason() {
    let vk = FakeVk::start(common::TOKEN).await;
    // More members than the log takes in one append (10 000): a poll records
    // its diff in parts.
    vk.set(|g| g.members = (1..=12_000).collect());
    let (identity, _) = common::identity::start().await;
    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
    let service = common::start(data.path(), &vk.url, &identity, None, &clock).await;
    let mut c = common::client(&service);
    common::connect(&mut c, 10).await;

    // A 6 is retried within the poll (after 1 s, then 2 s): three in a row
    // end it.
    vk.set(|g| {
        for _ in 0..3 {
            g.errors
                .push_back((6, "Too many requests per second".into()));
        }
    });
    let limited = common::poll(&mut c).await;
    assert_eq!(limited.outcome(), pb::PollOutcome::RateLimited);
    assert_eq!(limited.error, "VK error 6: Too many requests per second");
    let g = common::group(&mut c).await;
    assert_eq!(g.state(), pb::GroupState::Active);
    assert_eq!(g.last_error, "VK error 6: Too many requests per second");
    assert_eq!(g.polls, 0);

    // A single 9 (flood control) is retried within the poll: it succeeds.
    vk.set(|g| g.errors.push_back((9, "Flood control".into())));
    let polled = common::poll(&mut c).await;
    assert_eq!(polled.outcome(), pb::PollOutcome::Polled, "{polled:?}");
    assert_eq!(polled.detected, 12_000);
    // 12 000 members in pages of at most 1000 (after the 3 rate-limited
    // calls and the one retried).
    assert_eq!(vk.calls("groups.getMembers"), 3 + 1 + 12);
    let g = common::group(&mut c).await;
    assert_eq!((g.polls, g.members, g.last_error.as_str()), (1, 12_000, ""));
    // A page from the middle of the group's activity.
    let page = c
        .list_activity(pb::ListActivityRequest {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
            after_sequence: 11_990,
            page_size: 5,
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = page
        .activity
        .iter()
        .map(|a| a.activity_id.as_str())
        .collect();
    assert_eq!(
        ids,
        (11_991..=11_995)
            .map(|n| format!("vk:g:42:{n}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(page.last_sequence, 11_995);

    vk.set(|g| {
        g.errors.push_back((
            5,
            "User authorization failed: access_token has expired.".into(),
        ))
    });
    let refused = common::poll(&mut c).await;
    assert_eq!(refused.outcome(), pb::PollOutcome::Disabled);
    let g = common::group(&mut c).await;
    assert_eq!(g.state(), pb::GroupState::Disabled);
    assert_eq!(
        g.disabled_reason,
        "VK error 5: User authorization failed: access_token has expired."
    );
    let calls = vk.group.lock().unwrap().calls.len();
    assert_eq!(
        common::poll(&mut c).await.outcome(),
        pb::PollOutcome::Disabled
    );
    assert_eq!(
        vk.group.lock().unwrap().calls.len(),
        calls,
        "a disabled group is not polled"
    );

    let again = common::connect(&mut c, 10).await;
    assert_eq!(again.state(), pb::GroupState::Active);
    assert_eq!(again.disabled_reason, "");
    assert_eq!(
        common::poll(&mut c).await.outcome(),
        pb::PollOutcome::Polled
    );
    service.stop().await.unwrap();
}

#[tokio::test]
async fn the_token_is_sent_only_in_the_form_and_a_wrong_token_disables_with_vks_reason() {
    let vk = FakeVk::start("another-token").await;
    let (identity, _) = common::identity::start().await;
    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
    let service = common::start(data.path(), &vk.url, &identity, None, &clock).await;
    let mut c = common::client(&service);
    common::connect(&mut c, 10).await;
    let refused = common::poll(&mut c).await;
    assert_eq!(refused.outcome(), pb::PollOutcome::Disabled);
    assert_eq!(
        refused.error,
        "VK error 5: User authorization failed: invalid access_token (4)."
    );
    let calls = vk.group.lock().unwrap().calls.clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "groups.getMembers");
    assert_eq!(
        calls[0].1.get("v").map(String::as_str),
        Some(social_poller::connector::vk::DEFAULT_VERSION)
    );
    assert_eq!(calls[0].1.get("count").map(String::as_str), Some("1000"));
    service.stop().await.unwrap();
    // Nothing the service stored holds the token.
    let log = kit::log::EventLog::open(data.path().join("eventlog")).unwrap();
    for e in log.read_all(1, 10_000).unwrap() {
        assert!(!String::from_utf8_lossy(&e.payload).contains("another-token"));
        assert!(!String::from_utf8_lossy(&e.payload).contains(common::TOKEN));
    }
}

#[tokio::test]
async fn a_post_vk_will_not_show_is_skipped_and_the_group_stays_enabled() {
    let vk = FakeVk::start(common::TOKEN).await;
    vk.set(|g| {
        g.members = vec![1, 2];
        g.posts = vec![common::vk::Post {
            id: 7,
            likes: vec![1, 2],
            ..Default::default()
        }];
    });
    let (identity, _) = common::identity::start().await;
    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
    let service = common::start(data.path(), &vk.url, &identity, None, &clock).await;
    let mut c = common::client(&service);
    common::connect(&mut c, 10).await;
    assert_eq!(common::poll(&mut c).await.detected, 4);

    // Post 7's comments are refused (15) and its likes are gone: the post is
    // skipped — no unlikes —, the new member is seen, the group stays
    // enabled.
    vk.set(|g| {
        g.members.push(3);
        g.posts[0].likes.clear();
        g.failing
            .insert("wall.getComments".into(), (15, "Access denied".into()));
    });
    let polled = common::poll(&mut c).await;
    assert_eq!(polled.outcome(), pb::PollOutcome::Polled, "{polled:?}");
    assert_eq!(polled.detected, 1);
    let g = common::group(&mut c).await;
    assert_eq!(g.state(), pb::GroupState::Active);

    // At group level the same code disables the group.
    vk.set(|g| {
        g.failing
            .insert("groups.getMembers".into(), (15, "Access denied".into()));
    });
    assert_eq!(
        common::poll(&mut c).await.outcome(),
        pb::PollOutcome::Disabled
    );
    service.stop().await.unwrap();
}
