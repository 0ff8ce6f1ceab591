//! The VK Callback API end to end: the confirmation handshake answers the
//! group's string, a wrong secret is refused, pushed events become the same
//! activity — and the same points on NATS — as polling would find, a
//! redelivered event (same `event_id`) and a later poll that sees the same
//! change count nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use chrono::{TimeZone, Utc};
use kit::clock::ManualClock;
use loyalty_proto::social::v1 as pb;
use serde_json::{Value, json};
use tests_e2e::harness::{NatsServer, free_port, stream};

use common::points::{balances, expect, points};
use common::vk::{FakeVk, Post};

struct Receiver {
    url: String,
    http: reqwest::Client,
}

impl Receiver {
    async fn send(&self, body: Value) -> (u16, String) {
        let r = self.http.post(&self.url).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// An event of `kind` with `object`, signed with the group's secret.
    async fn push(&self, event_id: &str, kind: &str, object: Value) -> (u16, String) {
        self.send(json!({
            "type": kind, "event_id": event_id, "v": "5.199", "object": object,
            "group_id": 42, "secret": common::CALLBACK_SECRET
        }))
        .await
    }
}

#[tokio::test]
async fn pushed_events_earn_what_polling_would_and_once() {
    let nats = NatsServer::start().await.unwrap();
    let js = stream::jetstream(&nats.url()).await.unwrap();
    let vk = FakeVk::start(common::TOKEN).await;
    vk.set(|g| {
        g.members = (2000..2100).collect();
        g.posts = vec![Post {
            id: 1,
            ..Default::default()
        }];
    });
    let (identity, links) = common::identity::start().await;
    links.link("1001", "m-a");
    links.link("1002", "m-b");
    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let service = common::start_with(
        data.path(),
        &vk.url,
        &identity,
        Some(&nats.url()),
        &clock,
        &["--callback-addr", &addr],
    )
    .await;
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
    c.connect_group(pb::ConnectGroupRequest {
        settings: Some(pb::GroupSettings {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
            credentials_ref: "vk-main".into(),
            recent_posts: 5,
            callback_secret_ref: "vk-callback".into(),
            callback_confirmation: "a1b2c3d4".into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    assert_eq!(common::poll(&mut c).await.detected, 100);
    let vk_push = Receiver {
        url: format!("http://{addr}/vk/callback"),
        http: reqwest::Client::new(),
    };

    assert_eq!(
        vk_push
            .send(json!({"type": "confirmation", "group_id": 42}))
            .await,
        (200, "a1b2c3d4".into())
    );
    let forged = json!({"type": "group_join", "event_id": "e0", "object": {"user_id": 1001}, "group_id": 42, "secret": "guess"});
    assert_eq!(vk_push.send(forged).await.0, 403);
    assert_eq!(
        vk_push
            .send(json!({"type": "confirmation", "group_id": 7}))
            .await
            .0,
        404
    );

    let like = |user: i64| json!({"liker_id": user, "object_type": "post", "object_owner_id": -42, "object_id": 1});
    for (id, kind, object) in [
        (
            "e1",
            "group_join",
            json!({"user_id": 1001, "join_type": "join"}),
        ),
        (
            "e2",
            "group_join",
            json!({"user_id": 1002, "join_type": "join"}),
        ),
        ("e3", "like_add", like(1001)),
        ("e4", "like_add", like(1002)),
        (
            "e5",
            "wall_reply_new",
            json!({"id": 9, "from_id": 1001, "post_id": 1, "owner_id": -42, "text": "hi"}),
        ),
        ("e6", "message_new", json!({"message": {}})),
    ] {
        assert_eq!(
            vk_push.push(id, kind, object).await,
            (200, "ok".into()),
            "{id}"
        );
    }
    // VK delivers e3 again; then a poll sees what was pushed.
    assert_eq!(
        vk_push.push("e3", "like_add", like(1001)).await,
        (200, "ok".into())
    );
    vk.set(|g| {
        g.members.extend([1001, 1002]);
        g.posts[0].likes = vec![1001, 1002];
        g.posts[0].comments = vec![(9, 1001)];
    });
    assert_eq!(common::poll(&mut c).await.detected, 0);
    let seen = points(&js, 4, 0).await;
    assert_eq!(balances(&seen), expect(&[("m-a", "15"), ("m-b", "15")]));

    // A like pushed after a like taken back: the second like of the month.
    assert_eq!(
        vk_push.push("e7", "like_remove", like(1002)).await,
        (200, "ok".into())
    );
    assert_eq!(
        vk_push.push("e8", "like_add", like(1002)).await,
        (200, "ok".into())
    );
    let seen = points(&js, 5, 0).await;
    assert_eq!(balances(&seen), expect(&[("m-a", "15"), ("m-b", "16")]));
    let listed = c
        .list_activity(pb::ListActivityRequest {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
            after_sequence: 100,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<K> = listed.activity.iter().map(|a| a.kind()).collect();
    assert_eq!(
        kinds,
        [
            K::GroupJoin,
            K::GroupJoin,
            K::Like,
            K::Like,
            K::Comment,
            K::Unlike,
            K::Like
        ]
    );
    service.stop().await.unwrap();
}

/// The receiver alone on port 0, over a log where group 42 was never
/// connected: only the settings lookup knows it.
async fn receiver_alone(
    dir: &std::path::Path,
    concurrent: usize,
) -> (Receiver, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use social_poller::domain::activity::GroupKey;
    use social_poller::domain::group::Settings;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    std::fs::write(
        dir.join("secrets"),
        format!("vk-callback {}\n", common::CALLBACK_SECRET),
    )
    .unwrap();
    let log = kit::log::EventLog::open(dir.join("eventlog")).unwrap();
    let vk = social_poller::connector::vk::Vk::new(
        "http://127.0.0.1:1/method/",
        "5.199",
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let groups = Arc::new(social_poller::app::groups::Groups::new(
        log,
        Arc::new(vk),
        social_poller::secrets::Secrets::new(Some(dir.join("secrets"))),
        ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()).clock(),
    ));
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&lookups);
    let settings_of: social_poller::callback::SettingsOf = Arc::new(move |key: GroupKey| {
        counted.fetch_add(1, Ordering::Relaxed);
        let known = key.group_id == "42";
        Box::pin(async move {
            known.then(|| Settings {
                callback_secret_ref: Some("vk-callback".into()),
                callback_confirmation: "abc123".into(),
                ..common::group_42()
            })
        })
    });
    let app = social_poller::callback::router_with(groups, settings_of, concurrent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        social_poller::callback::PATH
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        Receiver {
            url,
            http: reqwest::Client::new(),
        },
        lookups,
    )
}

#[tokio::test]
async fn the_secret_is_checked_from_the_settings_alone() {
    let data = tempfile::tempdir().unwrap();
    let (r, lookups) = receiver_alone(data.path(), 8).await;
    assert_eq!(
        r.send(json!({"type": "confirmation", "group_id": 42}))
            .await,
        (200, "abc123".into())
    );
    let forged = json!({
        "type": "group_join", "event_id": "e1", "object": {"user_id": 7},
        "group_id": 42, "secret": "guess"
    });
    assert_eq!(r.send(forged).await.0, 403);
    assert_eq!(
        r.send(json!({"type": "group_join", "group_id": 43}))
            .await
            .0,
        404
    );
    assert_eq!(lookups.load(std::sync::atomic::Ordering::Relaxed), 3);
    // Authenticated, the change reaches the group (never connected in this
    // log: not applied, and VK is asked to deliver again).
    let (code, _) = r.push("e2", "group_join", json!({"user_id": 7})).await;
    assert_eq!(code, 503);
}

#[tokio::test]
async fn requests_beyond_the_limit_are_answered_busy() {
    let data = tempfile::tempdir().unwrap();
    let (r, lookups) = receiver_alone(data.path(), 0).await;
    assert_eq!(
        r.send(json!({"type": "confirmation", "group_id": 42}))
            .await,
        (503, "busy".into())
    );
    assert_eq!(lookups.load(std::sync::atomic::Ordering::Relaxed), 0);
}
