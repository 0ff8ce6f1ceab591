//! Use cases of the certificates service.

pub mod import;
pub mod queries;
