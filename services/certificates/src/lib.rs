//! The certificates service of the loyalty platform: gift (money)
//! certificates imported from CSV (seed `000`), with a per-line report in
//! the shape of seed `004`, activated, redeemed as a payment in a purchase,
//! refunded and expired.
//!
//! Being built (issue 12): [`domain`] holds the certificate's state machine
//! and the import-line rules; the log, the import job, the contract and the
//! edge follow the layout of `services/README.md`.

pub mod app;
pub mod domain;
pub mod events;
