//! Read models of the social poller.

pub mod activity;
pub mod groups;
pub mod settings;
