//! Use cases: connecting and polling groups, promotions and counters, the
//! rewarder that turns activity into points, and the poll scheduler.

pub mod groups;
pub mod promotions;
pub mod rewarder;
pub mod scheduler;
