//! The transactional outbox: a relay that follows the event log and publishes
//! every durable event to NATS JetStream exactly once.
//!
//! Each event goes to `loyalty.<service>.<event_snake_case>` with
//! `Nats-Msg-Id` = the event id (JetStream drops a re-publish inside the
//! stream's duplicate window), CloudEvents headers, `traceparent` and
//! `content-type: application/json`; the payload is the event message in
//! canonical proto3 JSON. The relay's checkpoint (last published position)
//! advances only after every PubAck of a batch has arrived, so a crash or a
//! NATS outage only ever causes re-publishes that JetStream de-duplicates.
//! While NATS is unreachable the service keeps serving; the relay retries
//! with backoff and its lag is exported as `outbox_lag_events`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use chrono::SecondsFormat;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::aggregate::DecodeError;
use crate::log::{EventLog, RecordedEvent};

/// Name of the JetStream stream holding every platform event.
pub const STREAM_NAME: &str = "LOYALTY";
/// Subjects of that stream.
pub const STREAM_SUBJECTS: &str = "loyalty.>";
/// Header with the event's global position in its service's log.
pub const HEADER_POSITION: &str = "loyalty-position";
/// Header with the event's stream (aggregate id).
pub const HEADER_STREAM: &str = "loyalty-stream";
/// Header with the event's version within its stream.
pub const HEADER_STREAM_VERSION: &str = "loyalty-stream-version";
/// Header with the correlation id.
pub const HEADER_CORRELATION_ID: &str = "loyalty-correlation-id";
/// Header with the causation id.
pub const HEADER_CAUSATION_ID: &str = "loyalty-causation-id";
/// Header with the id of the log the event comes from ([`EventLog::id`]):
/// `loyalty-position` compares only between events of the same log.
pub const HEADER_LOG_ID: &str = "loyalty-log-id";

/// Turns stored event payloads into canonical proto3 JSON.
pub trait EventCodec: Send + Sync + 'static {
    /// JSON of the event of type `event_type` with protobuf `payload`.
    fn to_json(&self, event_type: &str, payload: &[u8]) -> Result<Vec<u8>, DecodeError>;
    /// True for a private event type: kept in the service's own log (e.g.
    /// because it carries a secret's hash) and never published.
    fn is_private(&self, _event_type: &str) -> bool {
        false
    }
}

type Converter = fn(&str, &[u8]) -> Result<Vec<u8>, DecodeError>;

fn prost_to_json<M>(event_type: &str, payload: &[u8]) -> Result<Vec<u8>, DecodeError>
where
    M: prost::Message + Default + serde::Serialize,
{
    let err = |reason: String| DecodeError {
        event_type: event_type.to_owned(),
        reason,
    };
    let message = M::decode(payload).map_err(|e| err(e.to_string()))?;
    serde_json::to_vec(&message).map_err(|e| err(e.to_string()))
}

/// An [`EventCodec`] over generated prost messages with pbjson serde impls.
#[derive(Default, Clone)]
pub struct ProtoJsonCodec {
    converters: HashMap<String, Converter>,
    private: std::collections::HashSet<String>,
}

impl ProtoJsonCodec {
    /// An empty codec.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers message type `M` under its proto full name `event_type`.
    pub fn register<M>(mut self, event_type: &str) -> Self
    where
        M: prost::Message + Default + serde::Serialize + 'static,
    {
        self.converters
            .insert(event_type.to_owned(), prost_to_json::<M> as Converter);
        self
    }

    /// Declares `event_type` private: the relay skips it.
    pub fn private(mut self, event_type: &str) -> Self {
        self.private.insert(event_type.to_owned());
        self
    }
}

impl EventCodec for ProtoJsonCodec {
    fn is_private(&self, event_type: &str) -> bool {
        self.private.contains(event_type)
    }

    fn to_json(&self, event_type: &str, payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let convert = self.converters.get(event_type).ok_or_else(|| DecodeError {
            event_type: event_type.to_owned(),
            reason: "no JSON codec registered for this event type".to_owned(),
        })?;
        convert(event_type, payload)
    }
}

/// `PointsAccrued` → `points_accrued`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The subject of an event: `loyalty.<service>.<snake_case(message name)>`.
pub fn subject_for(service: &str, event_type: &str) -> String {
    let message = event_type.rsplit('.').next().unwrap_or(event_type);
    format!("loyalty.{service}.{}", snake_case(message))
}

/// Settings of the relay.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Service name: the subject's second token and `ce-source` `/loyalty/<service>`.
    pub service: String,
    /// NATS server URL(s), comma separated.
    pub nats_url: String,
    /// JetStream duplicate window of the `LOYALTY` stream.
    pub duplicate_window: Duration,
    /// Most publishes awaiting their PubAck at once.
    pub max_in_flight: usize,
    /// How long to wait for one PubAck.
    pub ack_timeout: Duration,
    /// Longest pause between retries while NATS is unreachable.
    pub max_backoff: Duration,
}

impl OutboxConfig {
    /// Defaults for `service` publishing to `nats_url`.
    pub fn new(service: &str, nats_url: &str) -> Self {
        Self {
            service: service.to_owned(),
            nats_url: nats_url.to_owned(),
            duplicate_window: Duration::from_secs(600),
            max_in_flight: 512,
            ack_timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Creates the `LOYALTY` stream (file storage, `loyalty.>`) if it does not
/// exist. An existing stream is left as its operator configured it (limits,
/// replicas); a missing subject or a different duplicate window is logged.
pub async fn ensure_stream(
    js: &jetstream::Context,
    duplicate_window: Duration,
) -> anyhow::Result<stream::Info> {
    if let Ok(mut existing) = js.get_stream(STREAM_NAME).await {
        let info = existing.info().await?.clone();
        if !info.config.subjects.iter().any(|s| s == STREAM_SUBJECTS) {
            tracing::warn!(subjects = ?info.config.subjects, "stream {STREAM_NAME} does not cover {STREAM_SUBJECTS}");
        }
        if info.config.duplicate_window != duplicate_window {
            tracing::warn!(
                configured = ?info.config.duplicate_window,
                wanted = ?duplicate_window,
                "stream {STREAM_NAME} has another duplicate window; keeping it"
            );
        }
        return Ok(info);
    }
    let config = stream::Config {
        name: STREAM_NAME.to_owned(),
        subjects: vec![STREAM_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        duplicate_window,
        ..Default::default()
    };
    let mut created = js.create_stream(config).await?;
    Ok(created.info().await?.clone())
}

/// The relay's Prometheus instruments.
#[derive(Clone, Default)]
struct OutboxMetrics {
    published: Counter,
    errors: Counter,
    lag: Gauge,
    checkpoint: Gauge,
}

/// Follows the log and publishes to JetStream. See the module docs.
pub struct OutboxRelay {
    log: Arc<EventLog>,
    config: OutboxConfig,
    codec: Arc<dyn EventCodec>,
    tree: sled::Tree,
    metrics: OutboxMetrics,
    /// When the checkpoint was last made durable (`None`: not yet).
    persisted: std::sync::Mutex<Option<std::time::Instant>>,
}

const CHECKPOINT_KEY: &[u8] = b"checkpoint";
/// How often an advancing checkpoint is made durable. Between two such
/// moments a crash only moves the checkpoint back: at the next start the
/// relay resumes after the last event already on the stream
/// (`last_on_stream`), and JetStream drops any re-publish inside its
/// duplicate window, so nothing reaches the stream twice — while a durable
/// write per batch (a sled flush and fsync) would compete with the appends
/// for the disk.
const PERSIST_EVERY: Duration = Duration::from_secs(1);

impl OutboxRelay {
    /// A relay for `log`, its checkpoint kept in the log's database.
    pub fn new(
        log: Arc<EventLog>,
        config: OutboxConfig,
        codec: Arc<dyn EventCodec>,
    ) -> anyhow::Result<Self> {
        let tree = log.db().open_tree("outbox")?;
        let relay = Self {
            log,
            config,
            codec,
            tree,
            metrics: OutboxMetrics::default(),
            persisted: std::sync::Mutex::new(None),
        };
        relay.update_lag()?;
        Ok(relay)
    }

    /// Registers `outbox_published`, `outbox_errors`, `outbox_lag_events` and
    /// `outbox_checkpoint`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let m = &self.metrics;
        registry.register(
            "outbox_published",
            "Events published to JetStream",
            m.published.clone(),
        );
        registry.register("outbox_errors", "Failed publish attempts", m.errors.clone());
        registry.register(
            "outbox_lag_events",
            "Durable events not yet acknowledged by JetStream",
            m.lag.clone(),
        );
        registry.register(
            "outbox_checkpoint",
            "Last log position acknowledged by JetStream",
            m.checkpoint.clone(),
        );
    }

    /// Last position acknowledged by JetStream (0: none yet). A malformed
    /// checkpoint is an error: taking it for 0 would republish the whole log.
    pub fn checkpoint(&self) -> anyhow::Result<u64> {
        match self.tree.get(CHECKPOINT_KEY)? {
            None => Ok(0),
            Some(v) => {
                let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| {
                    anyhow::anyhow!(
                        "the outbox checkpoint is malformed ({} bytes, not 8)",
                        v.len()
                    )
                })?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// Stores `position` as the checkpoint; durably (sled's flush and an
    /// fsync) when `durable` or when the last durable store is older than
    /// [`PERSIST_EVERY`].
    async fn store_checkpoint(&self, position: u64, durable: bool) -> anyhow::Result<()> {
        self.tree
            .insert(CHECKPOINT_KEY, &position.to_be_bytes()[..])?;
        let due = {
            let persisted = self.persisted.lock().unwrap_or_else(|p| p.into_inner());
            durable || persisted.is_none_or(|at| at.elapsed() >= PERSIST_EVERY)
        };
        if due {
            self.log.persist().await?;
            *self.persisted.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// The highest position of this log already on the stream, read from
    /// the last message of each of this service's subjects (their
    /// `loyalty-position` header; messages of another log are ignored).
    async fn last_on_stream(&self, js: &jetstream::Context) -> anyhow::Result<u64> {
        use futures::StreamExt;
        let stream = js.get_stream(STREAM_NAME).await?;
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                filter_subject: format!("loyalty.{}.>", self.config.service),
                deliver_policy: jetstream::consumer::DeliverPolicy::LastPerSubject,
                ack_policy: jetstream::consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(60),
                ..Default::default()
            })
            .await?;
        let mut consumer = consumer;
        let pending = consumer.info().await?.num_pending as usize;
        let mut last = 0;
        let mut seen = 0;
        while seen < pending {
            let mut batch = consumer
                .fetch()
                .max_messages(pending - seen)
                .expires(self.config.ack_timeout)
                .messages()
                .await?;
            let mut got = 0;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
                got += 1;
                let Some(headers) = message.headers.as_ref() else {
                    continue;
                };
                let ours = headers
                    .get(HEADER_LOG_ID)
                    .is_some_and(|id| id.as_str() == self.log.id().to_string());
                if let Some(position) = headers
                    .get(HEADER_POSITION)
                    .and_then(|p| p.as_str().parse::<u64>().ok())
                    && ours
                {
                    last = last.max(position);
                }
            }
            if got == 0 {
                break;
            }
            seen += got;
        }
        let name = consumer.cached_info().name.clone();
        let _ = stream.delete_consumer(&name).await;
        Ok(last)
    }

    fn update_lag(&self) -> anyhow::Result<u64> {
        let cp = self.checkpoint()?;
        self.metrics.checkpoint.set(cp as i64);
        let lag = self.log.head().saturating_sub(cp);
        self.metrics.lag.set(lag as i64);
        Ok(lag)
    }

    fn headers(&self, e: &RecordedEvent) -> HeaderMap {
        let mut h = HeaderMap::new();
        let id = e.id.to_string();
        h.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        h.insert("ce-specversion", "1.0");
        h.insert("ce-id", id.as_str());
        h.insert("ce-type", e.event_type.as_str());
        h.insert(
            "ce-source",
            format!("/loyalty/{}", self.config.service).as_str(),
        );
        h.insert("ce-subject", e.stream.as_str());
        h.insert(
            "ce-time",
            e.time.to_rfc3339_opts(SecondsFormat::Micros, true).as_str(),
        );
        h.insert("content-type", "application/json");
        h.insert(HEADER_POSITION, e.position.to_string().as_str());
        h.insert(HEADER_STREAM, e.stream.as_str());
        h.insert(HEADER_STREAM_VERSION, e.version.to_string().as_str());
        h.insert(HEADER_LOG_ID, self.log.id().to_string().as_str());
        if let Some(tp) = &e.metadata.traceparent {
            h.insert("traceparent", tp.as_str());
        }
        if let Some(c) = &e.metadata.correlation_id {
            h.insert(HEADER_CORRELATION_ID, c.as_str());
        }
        if let Some(c) = &e.metadata.causation_id {
            h.insert(HEADER_CAUSATION_ID, c.as_str());
        }
        h
    }

    /// Publishes the next batch after the checkpoint; returns how many were
    /// published (0: caught up).
    async fn publish_batch(&self, js: &jetstream::Context, max: usize) -> anyhow::Result<u64> {
        let from = self.checkpoint()? + 1;
        let events = self.log.read_all(from, max)?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(0);
        };
        let mut acks = Vec::with_capacity(events.len());
        for e in events
            .iter()
            .filter(|e| !self.codec.is_private(&e.event_type))
        {
            let payload = match self.codec.to_json(&e.event_type, &e.payload) {
                Ok(json) => json,
                Err(error) => {
                    // A stored event we cannot render is a bug to fix, never to skip.
                    tracing::error!(position = e.position, %error, "outbox cannot render an event");
                    anyhow::bail!(
                        "event at position {} cannot be rendered: {error}",
                        e.position
                    );
                }
            };
            let subject = subject_for(&self.config.service, &e.event_type);
            let ack = js
                .publish_with_headers(subject, self.headers(e), Bytes::from(payload))
                .await?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await?;
        }
        self.store_checkpoint(last, false).await?;
        let n = events.len() as u64;
        self.metrics.published.inc_by(n);
        Ok(n)
    }

    async fn connect(&self) -> anyhow::Result<jetstream::Context> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("{}-outbox", self.config.service))
            .connection_timeout(Duration::from_secs(2))
            .connect(self.config.nats_url.as_str())
            .await?;
        let js = jetstream::ContextBuilder::new()
            .ack_timeout(self.config.ack_timeout)
            .timeout(self.config.ack_timeout)
            .build(client);
        ensure_stream(&js, self.config.duplicate_window).await?;
        // What reached the stream before a crash or an outage may be past
        // the checkpoint; JetStream de-duplicates it only within its window,
        // so resume after it rather than rely on the window.
        let on_stream = self.last_on_stream(&js).await?;
        let checkpoint = self.checkpoint()?;
        if on_stream > checkpoint {
            tracing::info!(
                checkpoint,
                on_stream,
                "outbox resumes after the last event already on the stream"
            );
            self.store_checkpoint(on_stream.min(self.log.head()), true)
                .await?;
        }
        Ok(js)
    }

    /// Runs until `shutdown`, publishing every durable event in log order.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut durable = self.log.subscribe();
        let mut backoff = Duration::from_millis(50);
        let mut js: Option<jetstream::Context> = None;
        // After a failure, publish one at a time until past the failed batch:
        // a retry must not land before messages the server already stored.
        let mut careful_until = 0u64;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let step = async {
                let connected = match js.take() {
                    Some(connected) => connected,
                    None => {
                        let connected = self.connect().await?;
                        tracing::info!(url = %self.config.nats_url, "outbox connected to NATS");
                        connected
                    }
                };
                let connected = js.insert(connected);
                let careful = self.checkpoint()? < careful_until;
                let max = if careful {
                    1
                } else {
                    self.config.max_in_flight
                };
                self.publish_batch(connected, max).await
            }
            .await;
            let _ = self.update_lag();
            match step {
                Ok(n) if n > 0 => {
                    backoff = Duration::from_millis(50);
                    continue;
                }
                Ok(_) => {
                    backoff = Duration::from_millis(50);
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        changed = durable.changed() => {
                            if changed.is_err() {
                                // The log's writer is gone: nothing more will come.
                                tracing::warn!("event log closed; outbox relay stops");
                                return;
                            }
                        }
                    }
                }
                Err(error) => {
                    self.metrics.errors.inc();
                    careful_until =
                        self.checkpoint().unwrap_or(0) + self.config.max_in_flight as u64;
                    tracing::warn!(%error, lag = self.log.head().saturating_sub(self.checkpoint().unwrap_or(0)),
                        "outbox cannot publish; will retry");
                    // Reconnect (and re-ensure the stream) on the next attempt.
                    js = None;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_snake_case_message_names() {
        assert_eq!(
            subject_for("ledger", "loyalty.ledger.v1.PointsAccrued"),
            "loyalty.ledger.points_accrued"
        );
        assert_eq!(
            subject_for("kit", "loyalty.kit.v1.ProbeRecorded"),
            "loyalty.kit.probe_recorded"
        );
        assert_eq!(snake_case("HoldCaptured"), "hold_captured");
    }

    #[test]
    fn codec_renders_canonical_json() {
        use loyalty_proto::kit::v1::ProbeRecorded;
        let codec = ProtoJsonCodec::new().register::<ProbeRecorded>("loyalty.kit.v1.ProbeRecorded");
        let msg = ProbeRecorded {
            writer: 3,
            seq: 12_345_678_901,
            created_at: None,
            note: "n".into(),
        };
        let json = codec
            .to_json(
                "loyalty.kit.v1.ProbeRecorded",
                &prost::Message::encode_to_vec(&msg),
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["writer"], 3);
        // proto3 JSON renders 64-bit integers as strings.
        assert_eq!(v["seq"], "12345678901");
        assert!(codec.to_json("unknown.Type", b"").is_err());
        assert!(!codec.is_private("loyalty.kit.v1.ProbeRecorded"));
        let codec = codec.private("loyalty.kit.v1.Secret");
        assert!(codec.is_private("loyalty.kit.v1.Secret"));
    }
}
