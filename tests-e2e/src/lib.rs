//! End-to-end test support: a process harness that runs real service binaries
//! and a real `nats-server`, plus the `kit-probe` binary (see `src/bin`) that
//! proves the event-sourcing kit's guarantees with a real process.
#![forbid(unsafe_code)]

pub mod harness;
