//! Read models of the social poller.

pub mod groups;
