//! Pure domain of certificates: no I/O, no prost, no tokio.

pub mod certificate;
pub mod claim;
pub mod identifiers;
pub mod issue;
pub mod job;
pub mod line;
pub mod redemption;
pub mod status;
