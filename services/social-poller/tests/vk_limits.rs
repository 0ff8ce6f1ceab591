//! What VK (or whatever answers in its place) cannot make the connector
//! do: page forever, read an endless body, or follow a redirect with the
//! token. The connector against stand-ins on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use social_poller::connector::vk::{MAX_ANSWER, Vk};
use social_poller::connector::{Connector, ConnectorError};
use social_poller::domain::group::Settings;
use social_poller::secrets::Secret;

use common::vk::FakeVk;

fn settings() -> Settings {
    Settings {
        poll_interval_secs: 60,
        ..common::group_42()
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/method/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn vk(url: &str) -> Vk {
    Vk::new(url, "5.199", Duration::from_secs(20)).unwrap()
}

#[tokio::test]
async fn a_member_listing_repeating_itself_ends() {
    let fake = FakeVk::start(common::TOKEN).await;
    fake.set(|g| g.members_page = Some((1_000_000_000, (1..=1000).collect())));
    let seen = vk(&fake.url)
        .observe(&settings(), &Secret::new(common::TOKEN))
        .await
        .unwrap();
    assert_eq!(seen.members.len(), 1000);
    // Fewer than VK counts: no leaves can be concluded from it.
    assert!(!seen.members_complete);
    // The second page added nobody: the listing ended there.
    assert_eq!(fake.calls("groups.getMembers"), 2);
}

#[tokio::test]
async fn listings_read_to_the_end_are_complete_and_posts_keep_their_date() {
    let fake = FakeVk::start(common::TOKEN).await;
    fake.set(|g| {
        g.members = (1..=2500).collect();
        g.posts = vec![common::vk::Post {
            id: 7,
            likes: (1..=1500).collect(),
            comments: vec![(1, 1), (2, 2)],
            reposts: vec![(3, 501)],
            date: 1_796_040_000,
        }];
    });
    let seen = vk(&fake.url)
        .observe(&settings(), &Secret::new(common::TOKEN))
        .await
        .unwrap();
    assert!(seen.members_complete);
    assert_eq!(seen.members.len(), 2500);
    let post = &seen.posts["7"];
    assert!(post.complete);
    assert_eq!(post.likes.len(), 1500);
    assert_eq!(
        post.date,
        chrono::DateTime::from_timestamp(1_796_040_000, 0)
    );
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_cap() {
    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&sent);
    let app = Router::new().route(
        "/method/{name}",
        post(move || {
            let (chunk, sent) = (chunk.clone(), Arc::clone(&counted));
            async move {
                // No Content-Length: a body that never ends.
                let endless = futures::stream::repeat_with(move || {
                    sent.fetch_add(chunk.len(), Ordering::Relaxed);
                    Ok::<_, std::io::Error>(chunk.clone())
                });
                Response::new(Body::from_stream(endless))
            }
        }),
    );
    let url = serve(app).await;
    let failed = vk(&url)
        .observe(&settings(), &Secret::new(common::TOKEN))
        .await
        .unwrap_err();
    assert_eq!(
        failed,
        ConnectorError::Failed("groups.getMembers: answer too large".into())
    );
    assert!(sent.load(Ordering::Relaxed) >= MAX_ANSWER);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_the_token_goes_nowhere_else() {
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = Arc::clone(&elsewhere_hits);
    let elsewhere = serve(Router::new().route(
        "/method/{name}",
        post(move |body: String| {
            let hits = Arc::clone(&hits);
            async move {
                assert!(!body.contains(common::TOKEN));
                hits.fetch_add(1, Ordering::Relaxed);
                "{}"
            }
        }),
    ))
    .await;
    for code in [
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let target = format!("{elsewhere}groups.getMembers");
        let redirecting = serve(Router::new().route(
            "/method/{name}",
            post(move || {
                let target = target.clone();
                async move {
                    Response::builder()
                        .status(code)
                        .header(header::LOCATION, target)
                        .body(Body::empty())
                        .unwrap()
                }
            }),
        ))
        .await;
        let failed = vk(&redirecting)
            .observe(&settings(), &Secret::new(common::TOKEN))
            .await
            .unwrap_err();
        assert_eq!(
            failed,
            ConnectorError::Failed(format!("groups.getMembers: HTTP {code}"))
        );
    }
    assert_eq!(elsewhere_hits.load(Ordering::Relaxed), 0);
}

#[test]
fn the_token_is_never_sent_in_clear_to_another_machine() {
    let refused = Vk::new("http://api.vk.com/method/", "5.199", Duration::from_secs(1));
    assert!(refused.is_err());
    assert!(
        Vk::new(
            "http://127.0.0.1:1/method/",
            "5.199",
            Duration::from_secs(1)
        )
        .is_ok()
    );
}
