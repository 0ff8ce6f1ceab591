//! The social poller with the real identity and ledger binaries on a real
//! nats-server, in front of a stand-in VK API (a tiny HTTP server speaking
//! VK's JSON): a member who linked their VK account in identity joins the
//! program's group and likes a post, and the ledger's balance moves by
//! exactly what the promotions say — once, across a restart of the poller;
//! linking the account earns at once, and a user who links only after
//! liking is credited then (identity's `SocialAccountLinked` → the poller →
//! the ledger).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::{Arc, Mutex};

use loyalty_proto::identity::v1 as ipb;
use loyalty_proto::social::v1 as pb;
use loyalty_proto::social::v1::social_poller_service_client::SocialPollerServiceClient;
use serde_json::{Value, json};
use tests_e2e::harness::{
    NatsServer, ServiceProcess, ServiceSpec, binary_path, eventually, free_port,
};
use tests_e2e::identity::{DEADLINE, Identity, authed, random_phone};
use tests_e2e::identity_flows::begin;
use tests_e2e::ledger::Ledger;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

const TOKEN: &str = "vk1.a.e2e-token";

/// The group as the stand-in VK shows it: members, and post 1's likers.
#[derive(Default)]
struct Group {
    members: Vec<i64>,
    likes: Vec<i64>,
}

/// VK's answer to `method` with form `params`.
fn answer(g: &Group, method: &str, params: &[(String, String)]) -> Value {
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if param("access_token") != Some(TOKEN) {
        return json!({"error": {"error_code": 5, "error_msg": "User authorization failed"}});
    }
    let offset: usize = param("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let count: usize = param("count").and_then(|c| c.parse().ok()).unwrap_or(100);
    let page = |all: &[i64]| {
        all.iter()
            .skip(offset)
            .take(count)
            .copied()
            .collect::<Vec<_>>()
    };
    let response = match method {
        "groups.getMembers" => json!({"count": g.members.len(), "items": page(&g.members)}),
        "wall.get" => {
            json!({"count": 1, "items": [{"id": 1, "owner_id": -42, "from_id": -42, "date": 1764400000, "text": "post"}]})
        }
        "likes.getList" => json!({"count": g.likes.len(), "items": page(&g.likes)}),
        "wall.getComments" => json!({"count": 0, "items": []}),
        "wall.getReposts" => json!({"items": [], "profiles": [], "groups": []}),
        _ => return json!({"error": {"error_code": 3, "error_msg": "Unknown method passed"}}),
    };
    json!({ "response": response })
}

fn form(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let mut out = Vec::new();
        let mut bytes = s.bytes();
        while let Some(b) = bytes.next() {
            if b == b'%' {
                let hex: String = [bytes.next(), bytes.next()]
                    .iter()
                    .flatten()
                    .map(|b| *b as char)
                    .collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
            } else {
                out.push(b);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Serves VK's `POST /method/<name>` on a free port (HTTP/1.1, one request
/// per connection); its base URL.
async fn fake_vk(group: Arc<Mutex<Group>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/method/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let group = Arc::clone(&group);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let method = path.rsplit('/').next().unwrap_or_default().to_owned();
                let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
                let json = answer(&group.lock().unwrap(), &method, &form(&body)).to_string();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

/// The social-poller binary on free ports.
async fn start_poller(
    data: &std::path::Path,
    nats: &str,
    identity: &str,
    vk: &str,
) -> (ServiceProcess, SocialPollerServiceClient<Channel>) {
    let secrets = data.join("secrets");
    std::fs::write(&secrets, format!("vk-main {TOKEN}\n")).unwrap();
    let grpc = free_port();
    let spec = ServiceSpec::new("social-poller", binary_path("social-poller"))
        .args(["--data-dir", data.join("data").to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--nats-url", nats])
        .args(["--identity-url", identity])
        .args(["--vk-base-url", vk])
        .args(["--secrets-file", secrets.to_str().unwrap()])
        .args(["--poll-interval-secs", "86400"])
        .grpc_port(grpc);
    let process = ServiceProcess::start(spec).await.unwrap();
    let client = SocialPollerServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    (process, client)
}

async fn poll(c: &mut SocialPollerServiceClient<Channel>) -> u32 {
    let r = c
        .poll_now(pb::PollNowRequest {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), pb::PollOutcome::Polled, "{r:?}");
    r.detected
}

/// The member's BONUS balance, as a number (`None`: no account).
async fn balance(ledger: &Ledger, member: &str) -> Option<rust_decimal::Decimal> {
    ledger.bonus(member, None).await.map(|b| b.parse().unwrap())
}

async fn balance_is(ledger: &Ledger, member: &str, expected: &str) {
    let expected: rust_decimal::Decimal = expected.parse().unwrap();
    eventually(
        DEADLINE,
        &format!("{member}'s balance is {expected}"),
        || async {
            let now = balance(ledger, member).await;
            tests_e2e::log!("{member}: {now:?}");
            (now == Some(expected)).then_some(())
        },
    )
    .await;
}

async fn link(identity: &Identity, token: &str, user: &str) {
    identity
        .members()
        .link_social_account(authed(
            token,
            ipb::LinkSocialAccountRequest {
                member_id: String::new(),
                account: Some(ipb::SocialAccount {
                    network: "vk".into(),
                    external_user_id: user.into(),
                }),
            },
        ))
        .await
        .expect("LinkSocialAccount");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_members_activity_moves_the_ledger_balance_once() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let identity_dir = tempfile::tempdir().unwrap();
    let identity = Identity::start(identity_dir.path(), &["--nats-url", &nats.url()], &[]).await;
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(ledger_dir.path(), &["--nats-url", &nats.url()], &[]).await;
    let group = Arc::new(Mutex::new(Group {
        members: (5000..5300).collect(),
        likes: vec![],
    }));
    let vk = fake_vk(Arc::clone(&group)).await;
    let poller_dir = tempfile::tempdir().unwrap();
    let identity_url = format!("http://127.0.0.1:{}", identity.grpc_port);
    let (mut poller, mut c) =
        start_poller(poller_dir.path(), &nats.url(), &identity_url, &vk).await;

    let a = begin(&identity, &random_phone(), "").await;
    let b = begin(&identity, &random_phone(), "").await;
    for (id, kind, tiers) in [
        ("join", pb::ActivityKind::GroupJoin, vec![(1, "10")]),
        ("likes", pb::ActivityKind::Like, vec![(1, "5"), (2, "1")]),
        ("link", pb::ActivityKind::AccountLink, vec![(1, "20")]),
    ] {
        c.configure_promotion(pb::ConfigurePromotionRequest {
            promotion: Some(pb::Promotion {
                promotion_id: id.into(),
                title: format!("VK {id}"),
                condition: Some(pb::PromotionCondition {
                    kinds: vec![kind as i32],
                    ..Default::default()
                }),
                action: pb::ActionKind::Accrue as i32,
                tiers: tiers
                    .into_iter()
                    .map(|(from_count, amount)| pb::Tier {
                        from_count,
                        amount: amount.into(),
                    })
                    .collect(),
                period: pb::Period::Month as i32,
                max_points_per_period: if id == "likes" { "15" } else { "" }.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    }
    c.connect_group(pb::ConnectGroupRequest {
        settings: Some(pb::GroupSettings {
            network: pb::Network::Vk as i32,
            group_id: "42".into(),
            credentials_ref: "vk-main".into(),
            recent_posts: 5,
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    assert_eq!(poll(&mut c).await, 300, "the baseline");

    // A links the account (20 at once), joins and likes (10 + 5); 2002
    // (nobody yet) likes too.
    link(&identity, &a.auth_token, "1001").await;
    {
        let mut g = group.lock().unwrap();
        g.members.push(1001);
        g.likes = vec![1001, 2002];
    }
    assert_eq!(poll(&mut c).await, 3);
    balance_is(&ledger, &a.member_id, "35").await;

    // A restart of the poller: the same group again detects nothing.
    poller.terminate().await.unwrap();
    let (_poller, mut c) = start_poller(poller_dir.path(), &nats.url(), &identity_url, &vk).await;
    assert_eq!(poll(&mut c).await, 0);

    // B links 2002 now: 20 for the link, and its like credited (5), through
    // identity's event.
    link(&identity, &b.auth_token, "2002").await;
    balance_is(&ledger, &b.member_id, "25").await;
    // A's balance never moved a second time.
    assert_eq!(balance(&ledger, &a.member_id).await, Some(35.into()));
}
