//! Activity of a user linked to no member (stream
//! `held/<network>/<user>`), kept until the user links the account; then
//! credited to the member once.

use kit::aggregate::Aggregate;

use super::activity::Activity;

/// Most activities held per user (older ones stay; newer ones are dropped).
pub const MAX_HELD: usize = 1000;

/// Commands of held activity.
#[derive(Debug, Clone)]
pub enum Command {
    /// Keep this activity.
    Hold(Activity),
    /// The user linked the account to `member_id`: credit what is held.
    Credit {
        /// The member.
        member_id: String,
    },
}

/// Events of held activity.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Kept.
    Held(Activity),
    /// Credited to a member.
    Credited {
        /// The activity.
        activity: Activity,
        /// The member.
        member_id: String,
    },
}

/// Never refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
pub struct Never;

/// A user's held activity.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// Waiting to be credited.
    pub waiting: Vec<Activity>,
    /// Credited already (activity ids).
    pub credited: std::collections::BTreeSet<String>,
}

impl Aggregate for Held {
    type Command = Command;
    type Event = Event;
    type Error = Never;

    fn decide(&self, c: &Command) -> Result<Vec<Event>, Never> {
        Ok(match c {
            Command::Hold(a) => {
                let known =
                    self.credited.contains(&a.id) || self.waiting.iter().any(|w| w.id == a.id);
                if known || self.waiting.len() >= MAX_HELD {
                    Vec::new()
                } else {
                    vec![Event::Held(a.clone())]
                }
            }
            Command::Credit { member_id } => self
                .waiting
                .iter()
                .map(|a| Event::Credited {
                    activity: a.clone(),
                    member_id: member_id.clone(),
                })
                .collect(),
        })
    }

    fn apply(&mut self, e: &Event) {
        match e {
            Event::Held(a) => self.waiting.push(a.clone()),
            Event::Credited { activity, .. } => {
                self.waiting.retain(|w| w.id != activity.id);
                self.credited.insert(activity.id.clone());
            }
        }
    }
}
