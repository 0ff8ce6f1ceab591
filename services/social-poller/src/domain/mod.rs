//! The pure domain: groups and the diff of their snapshots, promotions,
//! members' counters and rewards, held activity of unlinked users, and the
//! poll schedule. No I/O, no prost, no tokio.

pub mod activity;
pub mod catalog;
pub mod group;
pub mod held;
pub mod link;
pub mod member;
pub mod promotion;
pub mod schedule;
