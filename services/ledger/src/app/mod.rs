//! The ledger's use cases, between the gRPC edge and the domain.

pub mod batch;
pub mod catalog;
pub mod expiry;
pub mod inbound;
pub mod keys;
pub mod operations;
