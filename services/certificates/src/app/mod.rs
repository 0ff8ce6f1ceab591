//! Use cases of the certificates service.

pub mod catalog;
pub mod import;
pub mod queries;
