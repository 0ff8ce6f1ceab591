//! The `LOYALTY` JetStream stream as tests see it: publish a platform event,
//! wait until a durable consumer handled it, read what a service published,
//! count what is stored. Every wait has a deadline ([`DEADLINE`]).

use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use tokio::time::Instant;

use super::eventually;

/// How long anything these helpers wait for may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A JetStream context on `url` with the `LOYALTY` stream in place.
pub async fn jetstream(url: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::new(client);
    kit::outbox::ensure_stream(&js, Duration::from_secs(600)).await?;
    Ok(js)
}

/// Publishes `payload` on `subject` as a platform event with `ce-id` =
/// `event_id` and `Nats-Msg-Id` = `msg_id` (a republish under a new message
/// id is stored again); returns its stream sequence.
pub async fn publish(
    js: &jetstream::Context,
    subject: &str,
    event_type: &str,
    event_id: &str,
    msg_id: &str,
    payload: Vec<u8>,
) -> anyhow::Result<u64> {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", msg_id);
    h.insert("ce-specversion", "1.0");
    h.insert("ce-id", event_id);
    h.insert("ce-type", event_type);
    h.insert("ce-source", "/loyalty/test");
    h.insert("content-type", "application/json");
    let ack = js
        .publish_with_headers(subject.to_owned(), h, payload.into())
        .await?
        .await?;
    Ok(ack.sequence)
}

/// Waits until durable consumer `name` has acknowledged (or dead-lettered)
/// every message up to stream sequence `sequence`.
pub async fn wait_handled(js: &jetstream::Context, name: &str, sequence: u64) {
    eventually(
        DEADLINE,
        &format!("consumer {name} handles up to sequence {sequence}"),
        || async {
            let stream = js.get_stream("LOYALTY").await.ok()?;
            // The consumer exists once the service has connected.
            let info = stream.consumer_info(name).await.ok()?;
            (info.ack_floor.stream_sequence >= sequence && info.num_ack_pending == 0).then_some(())
        },
    )
    .await;
}

/// Reads the messages on `filter` from the start of the stream, in order,
/// until one satisfies `last` (included); panics after [`DEADLINE`].
pub async fn read_until(
    js: &jetstream::Context,
    filter: &str,
    last: impl Fn(&jetstream::Message) -> bool,
) -> anyhow::Result<Vec<jetstream::Message>> {
    let consumer = js
        .get_stream("LOYALTY")
        .await?
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        let Ok(next) = tokio::time::timeout_at(deadline, messages.next()).await else {
            anyhow::bail!("no matching message on {filter} within {DEADLINE:?}");
        };
        let m = next.ok_or_else(|| anyhow::anyhow!("message stream ended"))??;
        let done = last(&m);
        seen.push(m);
        if done {
            return Ok(seen);
        }
    }
}

/// The value of header `name` of `m` (empty when absent).
pub fn header(m: &jetstream::Message, name: &str) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// Number of messages stored on `subject` now.
pub async fn count_on(js: &jetstream::Context, subject: &str) -> anyhow::Result<u64> {
    let stream = js.get_stream("LOYALTY").await?;
    let info = stream.info_with_subjects(subject).await?;
    let mut total = 0;
    futures::pin_mut!(info);
    while let Some(entry) = info.next().await {
        total += entry?.1 as u64;
    }
    Ok(total)
}

/// The first `n` messages on `filter`, in order; an error after [`DEADLINE`].
pub async fn read_count(
    js: &jetstream::Context,
    filter: &str,
    n: usize,
) -> anyhow::Result<Vec<jetstream::Message>> {
    let seen = std::sync::atomic::AtomicUsize::new(0);
    read_until(js, filter, |_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= n
    })
    .await
}
