//! The event-sourcing kit of the loyalty platform.
//!
//! Every stateful service builds on it:
//! - [`log`]: the append-only event log on sled, durable before acknowledged
//!   (group commit with real fsync), checksummed, with optimistic concurrency
//!   and an idempotency store written atomically with the events;
//! - [`aggregate`]: pure `decide`/`apply` aggregates and a repository that
//!   loads, decides, appends and retries on conflict;
//! - [`projection`]: read models fed from the log by checkpoint, rebuildable;
//! - [`outbox`]: the relay publishing every event to NATS JetStream exactly once;
//! - [`consumer`]: durable JetStream consumers with retries and a dead-letter subject;
//! - [`telemetry`]: tracing, OpenTelemetry export and trace-context propagation;
//! - [`keylock`]: async locks by key whose map holds only the keys in use;
//! - [`report`]: the per-line report of batch imports in seed 004's CSV and JSON;
//! - [`clock`]: the one injectable clock (system, or manual in tests);
//! - [`status`]: the one way every service turns failures into gRPC statuses
//!   (refusal reasons, storage failures by class, internal errors with an id,
//!   bounded quotes of bad input);
//! - [`bootstrap`]: configuration, the gRPC server with health and reflection,
//!   `/metrics`, and graceful shutdown.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aggregate;
pub mod auth;
pub mod bench;
pub mod bootstrap;
pub mod clock;
pub mod consumer;
pub mod keylock;
pub mod log;
pub mod outbox;
pub mod progress;
pub mod projection;
pub mod report;
pub mod service;
pub mod status;
pub mod telemetry;
