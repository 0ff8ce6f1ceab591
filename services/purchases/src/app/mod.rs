//! The purchases service's use cases: the purchase steps (through the
//! ledger and identity), the timeout sweep, balances and PossibleLoyalty.

pub mod queries;
pub mod rules;
pub mod steps;
pub mod sweep;
