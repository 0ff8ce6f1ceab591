//! End-to-end test support: a process harness that runs real service binaries
//! and a real `nats-server`, plus the `kit-probe` binary (see `src/bin`) that
//! proves the event-sourcing kit's guarantees with a real process,
//! [`identity`]: the real identity service with its clients and flows, and
//! [`identity_flows`]: its single registration steps shared by the tests.
#![forbid(unsafe_code)]

pub mod harness;
pub mod identity;
pub mod identity_flows;
