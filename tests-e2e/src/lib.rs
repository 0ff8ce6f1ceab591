//! e2e

pub mod harness;
