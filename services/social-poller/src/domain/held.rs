//! Activity of a user linked to no member (stream
//! `held/<network>/<user>`), kept until the user links the account; then
//! credited to the member once. The link is remembered: activity held
//! after it (the rewarder asked identity just before the link) is credited
//! at once.

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
        /// The account's `ACCOUNT_LINK` activity (marks the link).
        link: Activity,
    },
}

/// Events of held activity.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Kept.
    Held(Activity),
    /// The account was linked to a member (stored as `ActivityCredited`
    /// of the link's own `ACCOUNT_LINK` activity, which earns nothing
    /// here: the link stream's copy earns).
    Linked {
        /// The link's activity.
        link: Activity,
        /// The member.
        member_id: String,
    },
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
    /// The member the account is linked to, once linked.
    pub linked: Option<String>,
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
                if known {
                    Vec::new()
                } else if let Some(member_id) = &self.linked {
                    vec![Event::Credited {
                        activity: a.clone(),
                        member_id: member_id.clone(),
                    }]
                } else if self.waiting.len() >= MAX_HELD {
                    Vec::new()
                } else {
                    vec![Event::Held(a.clone())]
                }
            }
            Command::Credit { member_id, link } => {
                let mut events = Vec::new();
                if self.linked.as_ref() != Some(member_id) {
                    events.push(Event::Linked {
                        link: link.clone(),
                        member_id: member_id.clone(),
                    });
                }
                events.extend(self.waiting.iter().map(|a| Event::Credited {
                    activity: a.clone(),
                    member_id: member_id.clone(),
                }));
                events
            }
        })
    }

    fn apply(&mut self, e: &Event) {
        match e {
            Event::Held(a) => self.waiting.push(a.clone()),
            Event::Linked { member_id, .. } => self.linked = Some(member_id.clone()),
            Event::Credited { activity, .. } => {
                self.waiting.retain(|w| w.id != activity.id);
                self.credited.insert(activity.id.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::activity::{ActivityKind, GroupKey, Network};
    use crate::domain::link::{self, Record};
    use chrono::{TimeZone, Utc};
    use kit::aggregate::given_when;

    fn like(seq: u64) -> Activity {
        Activity {
            id: format!("vk:g:42:{seq}"),
            group: GroupKey {
                network: Network::Vk,
                group_id: "42".into(),
            },
            kind: ActivityKind::Like,
            user: "77".into(),
            post_id: "1".into(),
            object_id: String::new(),
            detected_at: Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap(),
            reverses: None,
            baseline: false,
        }
    }

    fn credit(member: &str) -> Command {
        Command::Credit {
            member_id: member.into(),
            link: link::activity(&Record {
                network: Network::Vk,
                user: "77".into(),
                at: Utc.with_ymd_and_hms(2026, 11, 29, 11, 0, 0).unwrap(),
            }),
        }
    }

    #[test]
    fn activity_held_after_the_link_is_credited_at_once() {
        // The rewarder found no link, then the link was credited with
        // nothing held, then the rewarder holds the activity.
        let linked = given_when::<Held>(&[], &credit("m-1")).unwrap();
        assert!(matches!(&linked[..], [Event::Linked { member_id, .. }] if member_id == "m-1"));
        let held = given_when::<Held>(&linked, &Command::Hold(like(1))).unwrap();
        assert_eq!(
            held,
            [Event::Credited {
                activity: like(1),
                member_id: "m-1".into()
            }]
        );
        let mut given = linked.clone();
        given.extend(held);
        // Once credited, never again; the same link again changes nothing.
        assert_eq!(
            given_when::<Held>(&given, &Command::Hold(like(1))),
            Ok(Vec::new())
        );
        assert_eq!(given_when::<Held>(&given, &credit("m-1")), Ok(Vec::new()));
    }

    #[test]
    fn activity_held_before_the_link_is_credited_by_it() {
        let held = given_when::<Held>(&[], &Command::Hold(like(1))).unwrap();
        assert_eq!(held, [Event::Held(like(1))]);
        let credited = given_when::<Held>(&held, &credit("m-1")).unwrap();
        assert!(matches!(
            &credited[..],
            [Event::Linked { .. }, Event::Credited { activity, member_id }]
                if activity == &like(1) && member_id == "m-1"
        ));
    }
}
