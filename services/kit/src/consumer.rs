//! Durable JetStream consumers that never lose or double an effect.
//!
//! A [`Consumer`] pulls from the `LOYALTY` stream with explicit acks. Each
//! message is handed to the handler as an [`Inbound`], whose
//! [`Inbound::idempotency_key`] (consumer name + source event id) the handler
//! uses as the idempotency key of the command it executes, so a redelivery is
//! answered from the idempotency store instead of applied twice. A failing
//! message is retried with backoff up to `max_attempts`; then — or at once for
//! a [`HandlerError::Reject`] — it is published to `loyalty.dlq.<consumer>`
//! (and only acknowledged after the dead letter's PubAck): never dropped.

use std::future::Future;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use bytes::Bytes;
use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::outbox::{STREAM_NAME, ensure_stream};

/// Header of a dead letter: why it failed.
pub const HEADER_DLQ_REASON: &str = "loyalty-dlq-reason";
/// Header of a dead letter: how many deliveries were tried.
pub const HEADER_DLQ_DELIVERIES: &str = "loyalty-dlq-deliveries";
/// Header of a dead letter: the original subject.
pub const HEADER_DLQ_SUBJECT: &str = "loyalty-dlq-subject";
/// Header of a dead letter: the original event id (`ce-id`).
pub const HEADER_DLQ_EVENT_ID: &str = "loyalty-dlq-event-id";
/// Header of a dead letter: the original event type (`ce-type`).
pub const HEADER_DLQ_EVENT_TYPE: &str = "loyalty-dlq-event-type";

/// Subject where consumer `name` puts messages it could not process.
pub fn dlq_subject(name: &str) -> String {
    format!("loyalty.dlq.{name}")
}

/// A message delivered to a handler.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Subject it was published on.
    pub subject: String,
    /// Source event id (`ce-id`, else `Nats-Msg-Id`, else the stream sequence).
    pub event_id: String,
    /// CloudEvents type (`ce-type`), empty when absent.
    pub event_type: String,
    /// The payload (canonical proto3 JSON for platform events).
    pub payload: Bytes,
    /// All headers, including `traceparent`.
    pub headers: HeaderMap,
    /// Delivery attempt, from 1.
    pub delivered: i64,
    /// Sequence in the stream.
    pub stream_sequence: u64,
}

impl Inbound {
    /// Idempotency key for the effect of this message in consumer
    /// `consumer`: `consumer/<name>/<source event id>`, a namespace of its own.
    pub fn idempotency_key(&self, consumer: &str) -> String {
        format!("consumer/{consumer}/{}", self.event_id)
    }

    fn from_message(message: &jetstream::Message) -> anyhow::Result<Self> {
        let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
        let headers = message.headers.clone().unwrap_or_default();
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        let event_id = header("ce-id")
            .or_else(|| header(async_nats::header::NATS_MESSAGE_ID.as_ref()))
            .unwrap_or_else(|| format!("seq-{}", info.stream_sequence));
        Ok(Self {
            subject: message.subject.to_string(),
            event_id,
            event_type: header("ce-type").unwrap_or_default(),
            payload: message.payload.clone(),
            delivered: info.delivered,
            stream_sequence: info.stream_sequence,
            headers,
        })
    }
}

/// How a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Possibly transient: retry with backoff (dead-lettered after the last attempt).
    #[error("retryable: {0:#}")]
    Retry(anyhow::Error),
    /// Can never succeed (e.g. malformed payload): dead-letter at once.
    #[error("rejected: {0:#}")]
    Reject(anyhow::Error),
}

impl HandlerError {
    /// A failure of the event log, retried or dead-lettered by its
    /// [`crate::status::StorageClass`] — the same classification the gRPC
    /// edge answers with.
    pub fn from_storage(error: crate::log::LogError) -> Self {
        if crate::status::StorageClass::of(&error).retryable() {
            HandlerError::Retry(anyhow::Error::new(error))
        } else {
            HandlerError::Reject(anyhow::Error::new(error))
        }
    }
}

/// Decodes a canonical proto3 JSON payload into `M`. Top-level fields `M`
/// does not know (a newer publisher's additions) are ignored rather than
/// refused, so adding a field to a published message never dead-letters it.
pub fn decode_json<M: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<M, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    loop {
        let error = match M::deserialize(&value) {
            Ok(m) => return Ok(m),
            Err(e) => e.to_string(),
        };
        let unknown = error
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next());
        let removed = match (unknown, value.as_object_mut()) {
            (Some(field), Some(object)) => object.remove(field).is_some(),
            _ => false,
        };
        if !removed {
            return Err(error);
        }
    }
}

/// Settings of a consumer.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Durable name (also the DLQ subject's last token).
    pub name: String,
    /// NATS server URL(s).
    pub nats_url: String,
    /// Subject filter, e.g. `loyalty.identity.card_issued`.
    pub filter_subject: String,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: i64,
    /// Delay before retry n (the last one repeats).
    pub backoff: Vec<Duration>,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Duplicate window used if the consumer has to create the stream.
    pub duplicate_window: Duration,
    /// Messages fetched per pull request.
    pub pull_batch: usize,
}

impl ConsumerConfig {
    /// Defaults: 5 attempts, backoff 100 ms, 500 ms, 2 s, 5 s; ack wait 30 s.
    pub fn new(name: &str, nats_url: &str, filter_subject: &str) -> Self {
        Self {
            name: name.to_owned(),
            nats_url: nats_url.to_owned(),
            filter_subject: filter_subject.to_owned(),
            max_attempts: 5,
            backoff: [100, 500, 2_000, 5_000].map(Duration::from_millis).to_vec(),
            ack_wait: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(600),
            pull_batch: 16,
        }
    }
}

/// Labelled counters of a consumer's outcomes.
#[derive(Clone, Default)]
struct ConsumerMetrics {
    outcomes: Family<Vec<(String, String)>, Counter>,
}

/// A durable pull consumer; see the module docs.
pub struct Consumer {
    config: ConsumerConfig,
    metrics: ConsumerMetrics,
}

impl Consumer {
    /// A consumer with `config`.
    pub fn new(config: ConsumerConfig) -> Self {
        Self {
            config,
            metrics: ConsumerMetrics::default(),
        }
    }

    /// Registers `consumer_messages{consumer,outcome}` (acked, retried, dead_lettered).
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "consumer_messages",
            "Messages handled by consumers, by outcome",
            self.metrics.outcomes.clone(),
        );
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .outcomes
            .get_or_create(&vec![
                ("consumer".to_owned(), self.config.name.clone()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
    }

    async fn connect(&self) -> anyhow::Result<(jetstream::Context, pull::Stream)> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("consumer-{}", self.config.name))
            .connection_timeout(Duration::from_secs(2))
            .connect(self.config.nats_url.as_str())
            .await?;
        let js = jetstream::new(client);
        ensure_stream(&js, self.config.duplicate_window).await?;
        let stream = js.get_stream(STREAM_NAME).await?;
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &self.config.name,
                pull::Config {
                    durable_name: Some(self.config.name.clone()),
                    filter_subject: self.config.filter_subject.clone(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await?;
        // Small pulls: a message waiting in a big local buffer would be
        // redelivered by the server (ack_wait) before the handler sees it.
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.config.pull_batch)
            .messages()
            .await?;
        Ok((js, messages))
    }

    async fn dead_letter(
        &self,
        js: &jetstream::Context,
        inbound: &Inbound,
        reason: &str,
    ) -> anyhow::Result<()> {
        // A dead letter is not the event again: it carries no `ce-*` or
        // `Nats-Expected-*` headers of the original, only these.
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("dlq-{}-{}", self.config.name, inbound.event_id).as_str(),
        );
        let clean =
            |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(512).collect() };
        headers.insert(HEADER_DLQ_REASON, clean(reason).as_str());
        headers.insert(
            HEADER_DLQ_DELIVERIES,
            inbound.delivered.to_string().as_str(),
        );
        headers.insert(HEADER_DLQ_SUBJECT, inbound.subject.as_str());
        headers.insert(HEADER_DLQ_EVENT_ID, clean(&inbound.event_id).as_str());
        headers.insert(HEADER_DLQ_EVENT_TYPE, clean(&inbound.event_type).as_str());
        for name in ["traceparent", "content-type"] {
            if let Some(v) = inbound.headers.get(name) {
                headers.insert(name, v.as_str());
            }
        }
        js.publish_with_headers(
            dlq_subject(&self.config.name),
            headers,
            inbound.payload.clone(),
        )
        .await?
        .await?;
        Ok(())
    }

    async fn process<H, F>(
        &self,
        js: &jetstream::Context,
        message: jetstream::Message,
        handler: &H,
    ) -> anyhow::Result<()>
    where
        H: Fn(Inbound) -> F,
        F: Future<Output = Result<(), HandlerError>>,
    {
        let inbound = Inbound::from_message(&message)?;
        let span = tracing::info_span!("consume", consumer = %self.config.name,
            subject = %inbound.subject, event_id = %inbound.event_id, delivered = inbound.delivered);
        crate::telemetry::accept_nats(&span, &inbound.headers);
        let outcome = handler(inbound.clone()).instrument(span).await;
        let ack = |kind| message.ack_with(kind);
        match outcome {
            Ok(()) => {
                ack(AckKind::Ack)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                self.count("acked");
            }
            Err(HandlerError::Retry(error)) if inbound.delivered < self.config.max_attempts => {
                let idx = (inbound.delivered.max(1) - 1) as usize;
                let delay = self
                    .config
                    .backoff
                    .get(idx)
                    .or(self.config.backoff.last())
                    .copied();
                tracing::warn!(error = %format!("{error:#}"), "handler failed; will retry");
                ack(AckKind::Nak(delay))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                self.count("retried");
            }
            Err(error) => {
                tracing::error!(%error, "handler gave up; dead-lettering");
                self.dead_letter(js, &inbound, &error.to_string()).await?;
                ack(AckKind::Term)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                self.count("dead_lettered");
            }
        }
        Ok(())
    }

    /// Consumes until `shutdown`, calling `handler` for every message.
    /// Connection failures are retried with backoff.
    pub async fn run<H, F>(self, handler: H, shutdown: CancellationToken)
    where
        H: Fn(Inbound) -> F,
        F: Future<Output = Result<(), HandlerError>>,
    {
        let mut backoff = Duration::from_millis(100);
        loop {
            let session = async {
                let (js, mut messages) = self.connect().await?;
                tracing::info!(consumer = %self.config.name, "consumer connected");
                loop {
                    let message = tokio::select! {
                        _ = shutdown.cancelled() => return Ok::<(), anyhow::Error>(()),
                        m = messages.next() => m,
                    };
                    let Some(message) = message else {
                        anyhow::bail!("message stream ended");
                    };
                    let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
                    self.process(&js, message, &handler).await?;
                }
            };
            match session.await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(consumer = %self.config.name, %error, "consumer interrupted; reconnecting");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
