//! The ledger's use cases, between the gRPC edge and the domain.

pub mod catalog;
