//! The ledger service: bonus-point and cash accounts per member and
//! currency, kept as event-sourced aggregates in the kit's event log.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod domain;
pub mod events;
