//! Use cases of the certificates service.

pub mod catalog;
pub mod expiry;
pub mod import;
pub mod payments;
pub mod queries;
