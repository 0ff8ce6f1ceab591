//! The ledger's pure domain: amounts, currencies and lifetimes, and the
//! account aggregate. No I/O here.

pub mod account;
pub mod catalog;
mod command;
mod errors;
pub mod ids;
pub mod model;
pub mod money;
mod rules;
