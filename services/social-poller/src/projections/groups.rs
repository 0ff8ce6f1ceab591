//! The connected groups: the scheduler's list. Rows: the group's stream
//! (`group/<network>/<group_id>`) → "".

use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};

use crate::events::types;

/// The projection's name.
pub const NAME: &str = "groups";

/// The connected-groups projection.
pub struct Groups;

/// The streams of every group ever connected.
pub fn streams(tree: &sled::Tree) -> anyhow::Result<Vec<String>> {
    tree.iter()
        .keys()
        .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
        .collect()
}

impl Projection for Groups {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, event: &RecordedEvent) -> anyhow::Result<()> {
        if event.event_type == types::GROUP_CONNECTED {
            rows.insert(event.stream.as_bytes().to_vec(), Vec::new());
        }
        Ok(())
    }
}
