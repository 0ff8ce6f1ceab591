//! The gateway at the edge of a cluster: behind a trusted proxy the
//! per-address limits count the client named by `X-Forwarded-For`, and a
//! stop signal first turns `/health/ready` to 503 while requests are still
//! served, then the process exits cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::time::Duration;

use tests_e2e::gateway::Gateway;
use tests_e2e::harness::{eventually, free_port};
use tests_e2e::purchases::world;

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let w = world(&[]).await;
    let g = Gateway::start(&w).await;
    let attempt = |n: usize, client: &'static str| {
        let g = &g;
        async move {
            // A different unknown login each time: only the address limit
            // can refuse it.
            let form = format!("grant_type=password&username=7000{n:012}&password=x");
            let forwarded = format!("198.51.100.9, {client}");
            g.post_raw(
                "/authorizationService/token",
                FORM,
                &form,
                &[("x-forwarded-for", forwarded.as_str())],
            )
            .await
        }
    };
    let per_address = gateway::limits::PER_ADDRESS_PER_MINUTE as usize;
    let mut statuses = Vec::new();
    for n in 0..=per_address {
        statuses.push(attempt(n, "203.0.113.7").await.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses[..per_address].iter().all(|s| *s == 400),
        "{statuses:?}"
    );
    // Another client behind the same proxy is not slowed down, and the
    // left-most (client-written) entry decides nothing.
    let other = attempt(per_address + 1, "203.0.113.8").await;
    assert_eq!(
        (other.status, other.json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        other.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_first_turns_readiness_off_while_requests_are_served() {
    let w = world(&[]).await;
    let certificates = format!("http://127.0.0.1:{}", free_port());
    let mut g = Gateway::start_with_args(&w, &certificates, &["--drain-secs", "3"]).await;
    assert_eq!(g.get("/health/ready").await.status, 200);
    let pid = g.process.pid().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    eventually(Duration::from_secs(10), "readiness turns off", || {
        let g = &g;
        async move { (g.get("/health/ready").await.status == 503).then_some(()) }
    })
    .await;
    // Still serving while draining.
    assert_eq!(g.get("/health/live").await.status, 200);
    assert_eq!(g.get("/openapi.json").await.status, 200);
    let status = g.process.terminate().await.unwrap();
    assert!(status.success(), "{status}");
}
