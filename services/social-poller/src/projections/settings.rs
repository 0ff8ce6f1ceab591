//! Each group's settings as last connected, read without loading the
//! group's aggregate (the Callback API checks a request's secret before
//! anything larger is loaded). Rows: the group's stream → its last
//! `GroupConnected` event (the stored payload).

use kit::aggregate::DomainEvent;
use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};

use crate::domain::activity::GroupKey;
use crate::domain::group::{Event, Settings};
use crate::events::types;

/// The projection's name.
pub const NAME: &str = "group_settings";

/// The settings projection.
pub struct GroupSettings;

/// The settings of `key`, if it was ever connected.
pub fn get(tree: &sled::Tree, key: &GroupKey) -> anyhow::Result<Option<Settings>> {
    let Some(payload) = tree.get(key.stream().as_bytes())? else {
        return Ok(None);
    };
    match Event::decode(types::GROUP_CONNECTED, &payload)? {
        Event::Connected { settings, .. } => Ok(Some(settings)),
        _ => Ok(None),
    }
}

impl Projection for GroupSettings {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, event: &RecordedEvent) -> anyhow::Result<()> {
        if event.event_type == types::GROUP_CONNECTED {
            rows.insert(event.stream.as_bytes().to_vec(), event.payload.to_vec());
        }
        Ok(())
    }
}
