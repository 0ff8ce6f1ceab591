//! The member directory: who holds a confirmed phone or e-mail, and how many
//! members are registering and registered.
//!
//! Rows:
//! - `p<phone digits>\0<member id>` → empty, while the phone is that
//!   member's confirmed phone;
//! - `e<e-mail, lower case>\0<member id>` → empty, likewise for e-mail
//!   (several members may have confirmed one address: one row each);
//! - `c<member id>\0<channel>` → the member's confirmed value (to drop the
//!   old row when a contact changes);
//! - `n:registering`, `n:registered` → counts (i64 BE).
//!
//! It lives in the service's own data dir, as private as the log it is
//! built from; nothing of it is published.

use kit::log::RecordedEvent;
use kit::projection::{Projection, Rows};
use loyalty_proto::identity::v1 as pb;

use super::{bump, decode};
use crate::domain::model::Channel;
use crate::events::Event;

/// Name of the projection (tree `proj/directory`).
pub const NAME: &str = "directory";
/// Counter of members still registering.
pub const REGISTERING: &[u8] = b"n:registering";
/// Counter of registered members.
pub const REGISTERED: &[u8] = b"n:registered";

/// The directory projection.
pub struct Directory;

/// The prefix of the rows of a confirmed contact (one row per holder).
pub fn contact_prefix(channel: Channel, value: &str) -> Vec<u8> {
    let (tag, value) = match channel {
        Channel::Email => (b'e', value.to_ascii_lowercase()),
        Channel::Sms => (b'p', value.to_owned()),
    };
    let mut k = vec![tag];
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k
}

/// The row of `member_id` holding a confirmed contact.
fn contact_key(channel: Channel, value: &str, member_id: &str) -> Vec<u8> {
    let mut k = contact_prefix(channel, value);
    k.extend_from_slice(member_id.as_bytes());
    k
}

/// The row of a member's confirmed value; keyed by the channel's number on
/// the wire (as the rows on disk are).
fn current_key(member_id: &str, channel: Channel) -> Vec<u8> {
    let mut k = vec![b'c'];
    k.extend_from_slice(member_id.as_bytes());
    k.push(0);
    k.extend_from_slice(&(pb::Channel::from(channel) as i32).to_be_bytes());
    k
}

impl Projection for Directory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, rows: &mut Rows<'_>, event: &RecordedEvent) -> anyhow::Result<()> {
        let Some(member_id) = event.stream.strip_prefix("member/") else {
            return Ok(());
        };
        match decode(event) {
            Some(Event::MemberOpened(_)) => bump(rows, REGISTERING, 1)?,
            Some(Event::RegistrationCompleted(_)) => {
                bump(rows, REGISTERING, -1)?;
                bump(rows, REGISTERED, 1)?;
            }
            Some(Event::ContactConfirmed(e)) => {
                let channel = e.channel;
                let current = current_key(member_id, channel);
                if let Some(old) = rows.get(&current)? {
                    let old = String::from_utf8(old)?;
                    rows.remove(contact_key(channel, &old, member_id));
                }
                rows.insert(contact_key(channel, &e.value, member_id), Vec::new());
                rows.insert(current, e.value.into_bytes());
            }
            _ => {}
        }
        Ok(())
    }
}
