//! The ledger's read models, fed from its event log by the kit's runner.

pub mod expiry;
pub mod history;
