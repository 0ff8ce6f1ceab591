//! Read models of the certificates service.

pub mod expiring;
