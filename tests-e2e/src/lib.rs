//! End-to-end test support: a process harness that runs real service binaries
//! and a real `nats-server`, plus the `kit-probe` binary (see `src/bin`) that
//! proves the event-sourcing kit's guarantees with a real process,
//! [`identity`]: the real identity service with its clients and flows,
//! [`identity_flows`]: its single registration steps shared by the tests,
//! [`identity_register`]: the whole registration by phone as one fixture,
//! [`identity_messaging`]: its templates, message requests on JetStream and
//! the events it answers with, [`identity_ops`]: its operator commands,
//! [`gateway`]: the real gateway over HTTP in front of the services,
//! [`ledger`]: the real ledger service with its client and batches,
//! [`purchases`]: the real purchases service with the seed's cheque, and
//! [`service_auth`]: service tokens, callers files and the open endpoints.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is its job

pub mod certificates;
pub mod gateway;
pub mod harness;
pub mod identity;
pub mod identity_flows;
pub mod identity_messaging;
pub mod identity_ops;
pub mod identity_register;
pub mod ledger;
pub mod purchases;
pub mod service_auth;
